"""What datasets and pretraining filters receive and return: :class:`Clip`,
:class:`DataRequest`, the :class:`Dataset` and :class:`PretrainFilter`
protocols, and the boundary checks of a delivered clip and of filtered audio.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from harness.plugin.alignments import PhoneInterval

from harness.plugin.contract_errors import ContractError


@dataclass(frozen=True)
class Clip:
    """One utterance: mono float32 audio with its labels.

    ``clip_id`` is stable across machines (it names the clip in caches and in
    the per-run records); ``speaker`` is unique across languages. ``labels``
    holds every other label the dataset gives (``{"emotion": "angry",
    "gender": "female"}``): the names a dataset component declares in
    ``Component.labels``, each a string. :meth:`label` reads any of them,
    language and speaker included, so a task or probe names a label the same
    way whichever it is.
    """

    clip_id: str
    language: str
    speaker: str
    audio: np.ndarray = field(repr=False, compare=False)
    sample_rate: int
    labels: Mapping[str, str] = field(default_factory=dict, compare=False)
    #: the phones spoken, time-aligned (:mod:`harness.plugin.alignments`), for a
    #: dataset that declares ``Component.alignments``; None where it has none
    phones: tuple[PhoneInterval, ...] | None = field(default=None, compare=False, repr=False)

    def label(self, name: str) -> str:
        """The clip's value of label ``name`` (``language``, ``speaker`` or one of ``labels``).

        :raises KeyError: naming the clip, the label and the labels it has.
        """
        if name == "language":
            return self.language
        if name == "speaker":
            return self.speaker
        try:
            return self.labels[name]
        except KeyError:
            have = ", ".join(["language", "speaker", *sorted(self.labels)])
            raise KeyError(f"clip {self.clip_id!r} has no label {name!r}; it has: {have}") from None


@dataclass(frozen=True)
class DataRequest:
    """What the core asks a dataset for.

    :param languages: every language the suite uses (pretraining, target, probes).
    :param sample_rate: the rate clips must have (resample if needed).
    :param speakers_needed: per language, the fewest speakers the splits need;
        a dataset that generates data may use it to generate enough.
    :param cache_dir: a folder the dataset may keep generated or decoded audio in.
    :param on_progress: where :meth:`progress` reports to; the core sets it
        when it shows progress (``harness run`` before the runs start), else None.
    """

    languages: tuple[str, ...]
    sample_rate: int
    speakers_needed: Mapping[str, int]
    cache_dir: Path
    on_progress: ProgressCallback | None = field(default=None, compare=False, repr=False)

    def progress(self, what: str, done: int, total: int, unit: str) -> None:
        """Report how far a long step got, e.g. ``("generating the eSpeak corpus",
        120, 480, "clips")``; the core shows it (a dataset never prints). Does
        nothing when nobody listens."""
        if self.on_progress is not None:
            self.on_progress(what, done, total, unit)


class ProgressCallback(Protocol):
    def __call__(self, what: str, done: int, total: int, unit: str) -> None: ...


class Dataset(Protocol):
    """What a dataset component builds.

    A dataset that generates or caches data on first use may also define
    ``prepare(request) -> None``: the runner calls it once, in its own process,
    before any run starts, with ``request.on_progress`` set, so the user sees
    the step (:meth:`DataRequest.progress`) instead of runs that seem to hang;
    ``load`` then only reads. Without it, ``load`` does everything in the runs.
    """

    def load(self, request: DataRequest) -> list[Clip]:
        """Return the clips of the requested languages.

        Skip unusable clips with a :class:`DataWarning` naming the file and the
        reason; raise :class:`DataError` when nothing usable is left.
        """
        ...


# ---------------------------------------------------------------- filters


class PretrainFilter(Protocol):
    def __call__(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        """Return the filtered waveform: same length, float32, finite."""
        ...


def check_clip(component: str, clip: Any, sample_rate: int) -> Clip:
    """A dataset's clip: a Clip of mono, finite, non-empty float32 audio at the requested rate."""
    if not isinstance(clip, Clip):
        raise ContractError(
            "dataset", component, f"load() must return Clips, got {type(clip).__name__}"
        )
    audio = clip.audio
    where = f"clip {clip.clip_id!r}"
    if not isinstance(audio, np.ndarray) or audio.ndim != 1:
        shape = getattr(audio, "shape", type(audio).__name__)
        raise ContractError("dataset", component, f"{where} must be mono (1-D audio), got {shape}")
    if audio.dtype != np.float32:
        raise ContractError(
            "dataset", component, f"{where} must be float32 audio, got {audio.dtype}"
        )
    if audio.size == 0 or not np.isfinite(audio).all():
        raise ContractError("dataset", component, f"{where} has empty or non-finite audio")
    if clip.sample_rate != sample_rate:
        raise ContractError(
            "dataset",
            component,
            f"{where} has sample rate {clip.sample_rate}, requested {sample_rate}",
        )
    bad = {k: v for k, v in clip.labels.items() if not (isinstance(k, str) and isinstance(v, str))}
    if bad:
        raise ContractError(
            "dataset", component, f"{where} has labels that are not strings: {bad!r}"
        )
    clashes = sorted({"language", "speaker"} & set(clip.labels))
    if clashes:
        raise ContractError(
            "dataset",
            component,
            f"{where} repeats {clashes} in labels; language and speaker are Clip fields",
        )
    return clip


def check_filtered(component: str, before: np.ndarray, after: Any) -> np.ndarray:
    """A filter returns a finite waveform of the same length."""
    array = np.asarray(after)
    if array.shape != before.shape:
        raise ContractError(
            "pretrain_filter",
            component,
            f"must keep the waveform shape {before.shape}, got {array.shape}",
        )
    if not np.isfinite(array).all():
        raise ContractError("pretrain_filter", component, "returned non-finite samples")
    return array.astype(np.float32, copy=False)
