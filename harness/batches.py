"""Training segments and batches.

Feature arrays of any length (one per clip) become fixed-length segments
stacked in one tensor that lives on the training device; batches are index
gathers into it, so a step moves no data between host and device.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch


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


def generator(seed: int, stream: int) -> torch.Generator:
    """An independent random stream per (run seed, purpose).

    Pretraining and target training draw from different streams, so every
    condition with the same seed sees the same target batches in the same order.
    """
    state = np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)


class BatchStream:
    """Endless batches of exactly ``batch_size`` segments.

    Each pass is a fresh permutation; a batch may span two passes, so every
    step sees the same number of examples and ``epochs`` is exact.
    """

    def __init__(self, data: torch.Tensor, batch_size: int, rng: torch.Generator) -> None:
        self.data = data
        self.batch_size = batch_size
        self.rng = rng
        self.order = torch.empty(0, dtype=torch.long, device=data.device)
        self.position = 0

    def __len__(self) -> int:
        return self.data.shape[0]

    def _permutation(self) -> torch.Tensor:
        return torch.randperm(len(self), generator=self.rng).to(self.data.device)

    def next(self) -> torch.Tensor:
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


def epoch_batches(
    data: torch.Tensor, batch_size: int, rng: torch.Generator
) -> Iterator[torch.Tensor]:
    """One pass over ``data`` in random order; the last batch may be smaller."""
    order = torch.randperm(data.shape[0], generator=rng).to(data.device)
    for start in range(0, data.shape[0], batch_size):
        yield data[order[start : start + batch_size]]


def chunks(data: torch.Tensor, size: int) -> Iterator[torch.Tensor]:
    """Consecutive slices of at most ``size`` rows (for evaluation)."""
    for start in range(0, data.shape[0], size):
        yield data[start : start + size]
