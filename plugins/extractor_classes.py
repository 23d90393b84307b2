"""The built-in latent extractors themselves (torch), declared in
:mod:`harness_plugins.extractors`: each reads a module by its protocol."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from harness.data.batches import pad_to, segment
from harness.plugin.probe_contracts import FrameClock, FrameLatents

CHUNK = 64


class _EvalMode:
    """Evaluation mode and no gradients while extracting; the previous mode afterwards."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.was_training = module.training
        self.no_grad = torch.no_grad()

    def __enter__(self) -> None:
        self.module.eval()
        self.no_grad.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.no_grad.__exit__(*exc)
        self.module.train(self.was_training)


def _require(module: nn.Module | None) -> nn.Module:
    if module is None:
        raise ValueError("this extractor reads a trained module; it was given none")
    return module


def _same_length_batches(features: Sequence[np.ndarray]) -> Iterator[tuple[list[int], np.ndarray]]:
    """Clips grouped by length (so a batch needs no padding), in chunks of CHUNK."""
    by_length: dict[int, list[int]] = defaultdict(list)
    for index, clip in enumerate(features):
        by_length[clip.shape[0]].append(index)
    for indices in by_length.values():
        for start in range(0, len(indices), CHUNK):
            part = indices[start : start + CHUNK]
            yield part, np.stack([features[i] for i in part]).astype(np.float32, copy=False)


def _states(
    module: nn.Module,
    read: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    features: Sequence[np.ndarray],
    device: str,
) -> dict[str, np.ndarray]:
    """``read`` (a module's per-clip state protocol) over every clip, clips of
    one length together: ``{name: (clips, dim)}`` in clip order."""
    spaces: dict[str, np.ndarray] = {}
    with _EvalMode(module):
        for indices, batch in _same_length_batches(features):
            for name, value in read(torch.from_numpy(batch).to(device)).items():
                if name not in spaces:
                    spaces[name] = np.zeros((len(features), value.shape[-1]), np.float32)
                spaces[name][indices] = value.float().cpu().numpy()
    return spaces


def _frame_states(
    module: nn.Module,
    read: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    inputs: Sequence[np.ndarray],
) -> dict[str, list[np.ndarray]]:
    """``read`` (a module's per-frame protocol, ``{name: (batch, T, dim)}``) over
    every clip, clips of one length together: ``{name: [(T_i, dim) per clip]}``."""
    spaces: dict[str, list[np.ndarray]] = {}
    device = next(iter(module.parameters())).device
    with _EvalMode(module):
        for indices, batch in _same_length_batches(inputs):
            for name, value in read(torch.from_numpy(batch).to(device)).items():
                rows = spaces.setdefault(name, [np.empty((0, 0), np.float32)] * len(inputs))
                for i, clip in zip(indices, value.float().cpu().numpy(), strict=True):
                    rows[i] = clip
    return spaces


def _timed(
    spaces: dict[str, list[np.ndarray]], times: Callable[[int], np.ndarray]
) -> dict[str, FrameLatents]:
    return {
        name: FrameLatents(tuple(clips), tuple(times(len(c)) for c in clips))
        for name, clips in spaces.items()
    }


class LSTMState:
    """Final recurrent state of each probe clip (one space per state the module names)."""

    needs_model = True

    def supports(self, module: nn.Module | None) -> bool:
        return module is not None and callable(getattr(module, "final_state", None))

    def extract(
        self, module: nn.Module | None, features: Sequence[np.ndarray], device: str
    ) -> dict[str, np.ndarray]:
        module = _require(module)
        return _states(module, module.final_state, features, device)

    def frames(
        self, module: nn.Module | None, features: Sequence[np.ndarray], device: str,
        clock: FrameClock,
    ) -> dict[str, FrameLatents]:  # fmt: skip
        """The states frame by frame, for modules with ``frame_states(x) ->
        {state: (batch, frames, dim)}`` (one state per input frame, so frame j is
        at feature frame j's time); none for others."""
        module = _require(module)
        read = getattr(module, "frame_states", None)
        if not callable(read):
            return {}
        return _timed(_frame_states(module, read, features), clock.feature_times)

    def layers(self, spaces: Sequence[str]) -> dict[str, dict[str, int]]:
        """Each state's layers as an ordered stack, by the ``final_state``
        protocol's names: ``layer<i>.<state>`` at depth i, and ``<state>`` (the
        last layer) one deeper than the deepest of them. The stacks of ``h`` and
        ``c`` are called ``hidden`` and ``cell``; other states keep their name."""
        below: dict[str, dict[str, int]] = defaultdict(dict)
        for name in spaces:
            match = _LOWER_LAYER.fullmatch(name)
            if match and match["state"] in spaces:
                below[match["state"]][name] = int(match["depth"])
        stacks = {}
        for state in spaces:
            if _LOWER_LAYER.fullmatch(state):
                continue
            members = below.get(state, {})
            stacks[_STACK_NAMES.get(state, state)] = {
                **dict(sorted(members.items(), key=lambda item: item[1])),
                state: max(members.values(), default=0) + 1,
            }
        return stacks


#: the ``final_state`` protocol's name of a state below the last layer
_LOWER_LAYER = re.compile(r"layer(?P<depth>[1-9][0-9]*)\.(?P<state>[^/]+)")
#: readable stack names of the recurrent states
_STACK_NAMES = {"h": "hidden", "c": "cell"}


class LayerStates:
    """Every layer of each probe clip, pooled over the clip (one space per layer).

    Clips of one length are read together, so nothing is padded; a waveform
    model gets whole probe clips, not crops.
    """

    needs_model = True

    def supports(self, module: nn.Module | None) -> bool:
        return module is not None and callable(getattr(module, "layer_states", None))

    def layers(self, spaces: Sequence[str]) -> dict[str, dict[str, int]]:
        """One stack, ``layers``: the ``layer_states`` protocol returns the
        layers from the input up, so each space's depth is its place in that
        order (wav2vec2: ``encoder`` 0, ``layer1`` 1, ...)."""
        return {"layers": {name: depth for depth, name in enumerate(spaces)}}

    def extract(
        self, module: nn.Module | None, features: Sequence[np.ndarray], device: str
    ) -> dict[str, np.ndarray]:
        module = _require(module)
        return _states(module, module.layer_states, features, device)

    def frames(
        self, module: nn.Module | None, inputs: Sequence[np.ndarray], device: str,
        clock: FrameClock,
    ) -> dict[str, FrameLatents]:  # fmt: skip
        """Every layer frame by frame, for modules with ``layer_frames(x) ->
        {layer: (batch, frames, dim)}``; a waveform module declares its frames'
        ``frame_stride`` and ``frame_window`` (samples), a feature module has one
        frame per feature frame. None for modules without ``layer_frames``."""
        module = _require(module)
        read = getattr(module, "layer_frames", None)
        if not callable(read):
            return {}
        stride, window = getattr(module, "frame_stride", None), getattr(module, "frame_window", 0)
        times = (
            clock.feature_times
            if stride is None
            else lambda n: clock.strided_times(n, int(stride), int(window))
        )
        return _timed(_frame_states(module, read, inputs), times)


class Bottleneck:
    """Autoencoder code of each probe clip: the mean of its segments' codes.

    The clip is cut into non-overlapping segments of the module's
    ``segment_frames``; a clip shorter than one segment is extended by
    repeating its last frame, so every clip gets a code.
    """

    needs_model = True

    def supports(self, module: nn.Module | None) -> bool:
        return (
            module is not None
            and callable(getattr(module, "encode", None))
            and isinstance(getattr(module, "segment_frames", None), int)
        )

    def extract(
        self, module: nn.Module | None, features: Sequence[np.ndarray], device: str
    ) -> dict[str, np.ndarray]:
        module = _require(module)
        frames = module.segment_frames
        pieces = [segment(pad_to(clip, frames), frames) for clip in features]
        owner = np.repeat(np.arange(len(features)), [len(p) for p in pieces])
        segments = np.concatenate(pieces).astype(np.float32, copy=False)
        codes = []
        with _EvalMode(module):
            for start in range(0, len(segments), CHUNK):
                batch = torch.from_numpy(segments[start : start + CHUNK]).to(device)
                codes.append(module.encode(batch).float().cpu().numpy())
        flat = np.concatenate(codes)
        # mean of each clip's segment codes, in clip order
        sums = np.zeros((len(features), flat.shape[1]), np.float64)
        np.add.at(sums, owner, flat)
        counts = np.bincount(owner, minlength=len(features))[:, None]
        return {"code": (sums / counts).astype(np.float32)}


class FeatureStats:
    """The raw-input baseline: per-band mean and standard deviation of each clip."""

    needs_model = False

    def supports(self, module: nn.Module | None) -> bool:
        return True

    def extract(
        self, module: nn.Module | None, features: Sequence[np.ndarray], device: str
    ) -> dict[str, np.ndarray]:
        rows = [np.concatenate([clip.mean(axis=0), clip.std(axis=0)]) for clip in features]
        return {"mean_std": np.stack(rows).astype(np.float32)}

    def frames(
        self, module: nn.Module | None, features: Sequence[np.ndarray], device: str,
        clock: FrameClock,
    ) -> dict[str, FrameLatents]:  # fmt: skip
        """The feature frames themselves: the frames ``mean_std`` pools."""
        return {
            "mean_std": FrameLatents(
                tuple(np.asarray(f, np.float32) for f in features),
                tuple(clock.feature_times(len(f)) for f in features),
            )
        }
