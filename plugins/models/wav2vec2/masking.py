"""The masks and negatives of wav2vec 2.0's contrastive task, drawn from a given generator.

Drawn here rather than by transformers so that a run depends only on its own
seeded generator (never on numpy's or transformers' global state) and is
deterministic on CPU.
"""

from __future__ import annotations

import torch


def mask_spans(
    batch: int, frames: int, prob: float, length: int, rng: torch.Generator
) -> torch.Tensor:
    """Boolean (batch, frames): ``round(prob * frames / length)`` spans of
    ``length`` frames per row (at least one, never the whole row), their
    starts drawn without replacement from ``rng``; spans may overlap."""
    length = max(1, min(length, frames - 1))
    starts = frames - length + 1
    count = min(starts, max(1, round(prob * frames / length)))
    order = torch.rand(batch, starts, generator=rng).argsort(-1)[:, :count]
    index = (order.unsqueeze(-1) + torch.arange(length)).reshape(batch, -1)
    mask = torch.zeros(batch, frames, dtype=torch.bool)
    return mask.scatter_(1, index, True)


def sample_negatives(mask: torch.Tensor, count: int, rng: torch.Generator) -> torch.Tensor:
    """Indices (batch, frames, count) into the flattened (batch * frames) frames:
    for each masked frame, ``count`` other masked frames of the same row, drawn
    uniformly from ``rng`` (with replacement across draws); unmasked frames,
    whose targets are ignored, point at their row's first frame."""
    batch, frames = mask.shape
    out = torch.zeros(batch, frames, count, dtype=torch.long)
    for row in range(batch):
        where = mask[row].nonzero().squeeze(-1)
        n = len(where)
        if n < 2:
            continue
        pick = torch.randint(0, n - 1, (n, count), generator=rng)
        pick = pick + (pick >= torch.arange(n).unsqueeze(-1)).long()  # never the frame itself
        out[row, where] = where[pick]
    return out + (torch.arange(batch) * frames).view(batch, 1, 1)
