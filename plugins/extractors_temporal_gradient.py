"""The ``input_gradient`` extractor itself (torch), declared in
:mod:`harness_plugins.extractors_temporal`: how far in time each output frame
of a trained model reads its input.

For an output frame t and an input frame s, the sensitivity is the Frobenius
norm of the Jacobian block d y_t / d x_s, estimated from ``projections``
random Gaussian directions v of the output (E |v^T J|^2 = |J|_F^2). Each probe
clip gets a profile over the lags s - t in [-max_lag, max_lag], averaged over
``outputs`` frames t spread where the whole lag range fits inside the clip,
each normalised by its mass over the whole clip; the last column holds the mass
that lies farther than max_lag, so every row sums to 1 (or is all zero when
the output does not depend on the input at all).

A module qualifies when ``module(x)`` (or its first element, when it returns
a tuple such as ``(logits, state)``) gives one output per input frame,
(batch, frames, dim), for inputs of any length. A module that pools the clip
(a clip-level classifier) or reads fixed-length segments (an autoencoder over
segments) has no per-frame outputs to measure: the extractor refuses it with
an error naming the module and what it returned.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager

import numpy as np
import torch
from torch import nn

#: at most this many sequences go through one forward and backward pass
ROWS_PER_PASS = 512
#: the random output directions do not depend on the run: the measure is a
#: property of the model, so every run draws the same ones
PROJECTION_SEED = 0


class TemporalIntegrationError(ValueError):
    """The module or the probe clips do not allow the measure; the message says why."""


class InputGradient:
    """Per probe clip, the profile of input-gradient mass over lags (see the module doc)."""

    needs_model = True

    def __init__(self, max_lag: int = 50, outputs: int = 8, projections: int = 4) -> None:
        self.max_lag = max_lag
        self.outputs = outputs
        self.projections = projections

    def supports(self, module: nn.Module | None) -> bool:
        return module is not None and callable(module)

    def extract(
        self, module: nn.Module | None, features: Sequence[np.ndarray], device: str
    ) -> dict[str, np.ndarray]:
        if module is None:
            raise TemporalIntegrationError("input_gradient reads a trained module; it got none")
        self._check_clips(features)
        name = type(module).__name__
        profiles = np.zeros((len(features), 2 * self.max_lag + 2), np.float32)
        was_training = module.training
        module.eval()
        try:
            checked = False
            for indices, batch in _by_length(features, ROWS_PER_PASS // self._rows_per_clip()):
                x = torch.from_numpy(batch).to(device)
                if not checked:
                    _check_per_frame(module, x, name)
                    checked = True
                profiles[indices] = self._profiles(module, x, name)
        finally:
            module.train(was_training)
        return {"profile": profiles}

    def _rows_per_clip(self) -> int:
        return self.outputs * self.projections

    def _check_clips(self, features: Sequence[np.ndarray]) -> None:
        need = 2 * self.max_lag + 1
        for i, clip in enumerate(features):
            shape = np.shape(clip)
            if len(shape) != 2:
                raise TemporalIntegrationError(
                    f"input_gradient reads feature frames (frames, n_features); probe clip {i} "
                    f"has shape {shape} (a waveform model's input): it cannot be measured here"
                )
            if shape[0] < need:
                raise TemporalIntegrationError(
                    f"input_gradient: probe clip {i} has {shape[0]} frames, fewer than "
                    f"2 * max_lag + 1 = {need}; lower [[extractors]] max_lag or lengthen "
                    "the clips ([dataset] clip_seconds)"
                )

    def _output_frames(self, frames: int) -> np.ndarray:
        """``outputs`` frames t, evenly spread over those whose whole lag range
        [t - max_lag, t + max_lag] lies inside the clip."""
        spots = np.linspace(self.max_lag, frames - 1 - self.max_lag, self.outputs)
        return np.unique(np.round(spots).astype(int))

    def _profiles(self, module: nn.Module, x: torch.Tensor, name: str) -> np.ndarray:
        """Profiles (clips, 2 * max_lag + 2) of a batch of clips of one length."""
        clips, frames, _ = x.shape
        times = self._output_frames(frames)
        rows = len(times) * self.projections
        # every (output frame, direction) pair gets its own copy of the batch, so
        # one backward pass gives every gradient (the copies do not interact)
        copies = x.detach().repeat(rows, 1, 1).requires_grad_(True)
        with torch.enable_grad(), _no_cudnn(x):
            y = _outputs(module, copies, name)
            directions = _directions(self.projections, y.shape[-1], y.dtype, y.device)
            seed = torch.zeros_like(y)
            for j, t in enumerate(times):
                for p in range(self.projections):
                    row = (j * self.projections + p) * clips
                    seed[row : row + clips, int(t)] = directions[p]
            (grad,) = torch.autograd.grad(y, copies, seed)
        # |v^T J_{t,s}|^2 summed over features; mean over directions -> |J_{t,s}|_F^2
        power = grad.detach().double().pow(2).sum(-1).view(len(times), self.projections, clips, -1)
        mass = power.mean(1).sqrt().cpu().numpy()  # (outputs, clips, frames)
        return self._lag_profiles(mass, times)

    def _lag_profiles(self, mass: np.ndarray, times: np.ndarray) -> np.ndarray:
        k = self.max_lag
        out = np.zeros((mass.shape[1], 2 * k + 2))
        for j, t in enumerate(times):
            total = mass[j].sum(-1)
            window = mass[j][:, t - k : t + k + 1]
            live = total > 0
            share = np.zeros_like(window)
            share[live] = window[live] / total[live, None]
            out[:, :-1] += share
            out[live, -1] += 1.0 - share[live].sum(-1)
        out /= len(times)
        # a clip whose outputs never depend on the input keeps an all-zero row;
        # a live one sums to 1 up to rounding
        return np.clip(out, 0.0, None).astype(np.float32)


def _by_length(
    features: Sequence[np.ndarray], per_pass: int
) -> Iterator[tuple[list[int], np.ndarray]]:
    """Clips grouped by length, at most ``per_pass`` of them at a time."""
    by_length: dict[int, list[int]] = defaultdict(list)
    for index, clip in enumerate(features):
        by_length[clip.shape[0]].append(index)
    step = max(1, per_pass)
    for indices in by_length.values():
        for start in range(0, len(indices), step):
            part = indices[start : start + step]
            yield part, np.stack([features[i] for i in part]).astype(np.float32, copy=False)


def _outputs(module: nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    """The module's per-frame outputs of ``x``, or the refusal saying why there are none."""
    try:
        out = module(x)
    except (ValueError, RuntimeError) as exc:
        raise TemporalIntegrationError(
            f"input_gradient: {name} cannot read a probe clip of {x.shape[1]} frames "
            f"({exc}); it reads fixed-length segments, so its outputs have no window in "
            "the clip to measure. Models with one output per input frame of any length "
            "qualify (rnn_classifier, lstm)"
        ) from exc
    if isinstance(out, tuple):
        out = out[0] if out else None
    if not isinstance(out, torch.Tensor) or out.ndim != 3 or out.shape[:2] != x.shape[:2]:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise TemporalIntegrationError(
            f"input_gradient: {name}(x) gave {shape} for input {tuple(x.shape)}, not one "
            "output per input frame (batch, frames, dim): it pools over the clip, so no "
            "output frame has a window to measure. Models with one output per input frame "
            "of any length qualify (rnn_classifier, lstm)"
        )
    return out


def _check_per_frame(module: nn.Module, x: torch.Tensor, name: str) -> None:
    """Per-frame outputs at the clips' length and one frame shorter: a module
    built for one segment length (an autoencoder) is refused, not measured."""
    with torch.no_grad():
        _outputs(module, x[:1], name)
        _outputs(module, x[:1, :-1], name)


def _directions(count: int, dim: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    generator = torch.Generator().manual_seed(PROJECTION_SEED)
    return torch.randn(count, dim, generator=generator).to(device=device, dtype=dtype)


def _no_cudnn(x: torch.Tensor) -> AbstractContextManager[None]:
    """cuDNN's recurrent layers differentiate only in training mode; the
    measure runs in evaluation mode (no dropout), so without cuDNN on a GPU."""
    return torch.backends.cudnn.flags(enabled=x.device.type != "cuda")
