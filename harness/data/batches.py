"""Training segments and batches.

Feature arrays of any length (one per clip) become fixed-length segments
stacked in one tensor that lives on the training device; batches are index
gathers into it, so a step moves no data between host and device.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import torch

#: the frame target of a frame that does not count (masked silence, padding)
IGNORE = -100


@dataclass(frozen=True)
class Segments:
    """Training or held-out segments with their targets, on one device.

    :param x: (n, frames, n_features) features.
    :param y: (n,) class index of each segment (its clip's label); classify only.
    :param frame_y: (n, frames) class index of each frame, :data:`IGNORE` for
        frames that do not count; classify only.
    """

    x: torch.Tensor
    y: torch.Tensor | None = None
    frame_y: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def shape(self) -> torch.Size:
        return self.x.shape

    @property
    def device(self) -> torch.device:
        return self.x.device

    def __getitem__(self, index: torch.Tensor | slice) -> Segments:
        """The segments at ``index`` (a gather or a view on the device), as for a tensor."""
        return Segments(
            self.x[index],
            None if self.y is None else self.y[index],
            None if self.frame_y is None else self.frame_y[index],
        )

    def to(self, device: torch.device) -> Segments:
        return Segments(
            self.x.to(device),
            None if self.y is None else self.y.to(device),
            None if self.frame_y is None else self.frame_y.to(device),
        )


#: a tensor or :class:`Segments`: what batches and chunks are cut from
Data = TypeVar("Data", torch.Tensor, Segments)


def segment(features: np.ndarray, segment_frames: int) -> np.ndarray:
    """Cut one clip's (frames, n_features) array into non-overlapping segments.

    Returns (n_segments, segment_frames, n_features); the frames after the last
    whole segment are dropped, so a clip shorter than one segment gives none.
    """
    if features.ndim != 2:
        raise ValueError(f"expected a (frames, features) array, got shape {features.shape}")
    count = features.shape[0] // segment_frames
    return features[: count * segment_frames].reshape(count, segment_frames, features.shape[1])


def segment_all(features: Sequence[np.ndarray], segment_frames: int) -> np.ndarray:
    """Segments of every clip, stacked as float32 (n_segments, segment_frames, n_features).

    Raises ValueError when no clip is at least ``segment_frames`` long, since
    training on nothing would pass silently as a run that never learns.
    """
    if not features:
        raise ValueError("no clips to segment")
    width = features[0].shape[1]
    parts = [segment(f, segment_frames) for f in features]
    stacked = np.concatenate(parts) if parts else np.empty((0, segment_frames, width))
    if stacked.shape[0] == 0:
        longest = max(f.shape[0] for f in features)
        raise ValueError(
            f"no clip is as long as a training segment ({segment_frames} frames; "
            f"the longest has {longest}); lower training.segment_frames"
        )
    return np.ascontiguousarray(stacked, dtype=np.float32)


def pad_to(features: np.ndarray, frames: int) -> np.ndarray:
    """Extend a clip shorter than ``frames`` by repeating its last frame."""
    missing = frames - features.shape[0]
    if missing <= 0:
        return features
    return np.pad(features, ((0, missing), (0, 0)), mode="edge")


def crop_all(audio: Sequence[np.ndarray], crop_samples: int) -> np.ndarray:
    """Waveform crops of every clip, stacked as float32 (n_crops, crop_samples).

    The waveform counterpart of :func:`segment_all`: each clip is cut into
    non-overlapping crops from its start, the samples after the last whole
    crop dropped, so the crops are the same in every run and only the batch
    order is drawn from the run's seed. Raises ValueError when no clip holds
    a whole crop.
    """
    if not audio:
        raise ValueError("no clips to crop")
    parts = [
        np.asarray(a)[: (len(a) // crop_samples) * crop_samples].reshape(-1, crop_samples)
        for a in audio
    ]
    stacked = np.concatenate(parts)
    if stacked.shape[0] == 0:
        longest = max(len(a) for a in audio)
        raise ValueError(
            f"no clip is as long as a waveform crop ({crop_samples} samples; the longest has "
            f"{longest}); lower training.crop_seconds"
        )
    return np.ascontiguousarray(stacked, dtype=np.float32)


def crop_labelled(
    audio: Sequence[np.ndarray], labels: Sequence[int], crop_samples: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crops of labelled clips: ``(x, y, frame_y)`` as :func:`segment_labelled`
    gives for features.

    A clip shorter than a crop is padded with zeros (silence) to one crop, as
    it is a whole example of its class. A waveform model decides once per
    crop, so ``frame_y`` is each crop's label in a single column (n, 1).
    """
    xs, ys = [], []
    for clip, label in zip(audio, labels, strict=True):
        clip = np.asarray(clip, dtype=np.float32)
        if len(clip) < crop_samples:
            clip = np.pad(clip, (0, crop_samples - len(clip)))
        count = len(clip) // crop_samples
        xs.append(clip[: count * crop_samples].reshape(count, crop_samples))
        ys.append(np.full(count, label, dtype=np.int64))
    if not xs:
        raise ValueError("no clips to crop")
    y = np.concatenate(ys)
    return np.ascontiguousarray(np.concatenate(xs), dtype=np.float32), y, y[:, None].copy()


def generator(seed: int, stream: int) -> torch.Generator:
    """An independent random stream per (run seed, purpose).

    Pretraining and target training draw from different streams, so every
    condition with the same seed sees the same target batches in the same order.
    """
    state = np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)


class BatchStream(Generic[Data]):
    """Endless batches of exactly ``batch_size`` segments.

    Each pass is a fresh permutation; a batch may span two passes, so every
    step sees the same number of examples and ``epochs`` is exact.
    """

    def __init__(self, data: Data, batch_size: int, rng: torch.Generator) -> None:
        self.data: Data = data
        self.batch_size = batch_size
        self.rng = rng
        self.order = torch.empty(0, dtype=torch.long, device=data.device)
        self.position = 0

    def __len__(self) -> int:
        return self.data.shape[0]

    def _permutation(self) -> torch.Tensor:
        return torch.randperm(len(self), generator=self.rng).to(self.data.device)

    def next(self) -> Data:
        end = self.position + self.batch_size
        if end > self.order.shape[0]:
            pieces = [self.order[self.position :]]
            have = pieces[0].shape[0]
            while have < self.batch_size:
                pieces.append(self._permutation())
                have += len(self)
            self.order = torch.cat(pieces)
            self.position, end = 0, self.batch_size
        index = self.order[self.position : end]
        self.position = end
        return self.data[index]


class BalancedStream:
    """Endless batches of ``batch_size`` segments in which every class is
    equally likely: each draw picks a segment with probability inversely
    proportional to its class's count (with replacement; seeded), as a
    weighted random sampler does."""

    def __init__(self, data: Segments, batch_size: int, rng: torch.Generator) -> None:
        if data.y is None:
            raise ValueError("a balanced sampler needs class labels")
        self.data = data
        self.batch_size = batch_size
        self.rng = rng
        labels = data.y.cpu()
        self.weights = (1.0 / torch.bincount(labels).double())[labels]

    def __len__(self) -> int:
        return len(self.data)

    def next(self) -> Segments:
        index = torch.multinomial(self.weights, self.batch_size, True, generator=self.rng)
        return self.data[index.to(self.data.device)]


def segment_labelled(
    features: Sequence[np.ndarray],
    labels: Sequence[int],
    frame_labels: Sequence[np.ndarray] | None,
    segment_frames: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments of labelled clips: ``(x, y, frame_y)``.

    Like :func:`segment_all`, but a clip shorter than a segment is padded (by
    repeating its last frame) instead of dropped, since a short clip is a
    whole example of its class (a spoken keyword); padded frames get the frame
    target :data:`IGNORE`. ``y`` is each segment's clip label; ``frame_y`` is
    ``frame_labels`` (per clip, one target per frame) cut the same way, or the
    clip label on every real frame.
    """
    xs, ys, frame_ys = [], [], []
    for i, (clip, label) in enumerate(zip(features, labels, strict=True)):
        frames = (
            np.asarray(frame_labels[i], dtype=np.int64)
            if frame_labels is not None
            else np.full(clip.shape[0], label, dtype=np.int64)
        )
        if frames.shape != clip.shape[:1]:
            raise ValueError(f"clip {i}: {frames.shape[0]} frame labels for {clip.shape[0]} frames")
        if clip.shape[0] < segment_frames:
            missing = segment_frames - clip.shape[0]
            frames = np.concatenate([frames, np.full(missing, IGNORE, dtype=np.int64)])
            clip = pad_to(clip, segment_frames)
        cut = segment(clip, segment_frames)
        xs.append(cut)
        ys.append(np.full(cut.shape[0], label, dtype=np.int64))
        frame_ys.append(frames[: cut.shape[0] * segment_frames].reshape(cut.shape[0], -1))
    if not xs:
        raise ValueError("no clips to segment")
    return (
        np.ascontiguousarray(np.concatenate(xs), dtype=np.float32),
        np.concatenate(ys),
        np.concatenate(frame_ys),
    )


def epoch_batches(data: Data, batch_size: int, rng: torch.Generator) -> Iterator[Data]:
    """One pass over ``data`` in random order; the last batch may be smaller."""
    order = torch.randperm(data.shape[0], generator=rng).to(data.device)
    for start in range(0, data.shape[0], batch_size):
        yield data[order[start : start + batch_size]]


def chunks(data: Data, size: int) -> Iterator[Data]:
    """Consecutive slices of at most ``size`` rows (for evaluation)."""
    for start in range(0, data.shape[0], size):
        yield data[start : start + size]
