"""ABX cells and their averages (definitions in :mod:`harness_plugins.probes.abx_core`).

:func:`abx_scores` computes the DTW distance of every item pair a cell can
compare (pairs in one context; one speaker only when across-speaker cells are
not asked for), scores each cell, and averages the cells over contexts, then
speakers (speaker pairs), then ordered phone pairs. Each speaker's additive part
of the score (the contract of speaker-level inference, docs/plugins.md) is
its share of that average: a speaker-pair cell gives half to each speaker.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from harness_plugins.probes.abx_core import Items, pair_distances

#: a cell: (context, speakers (s,) or (s, t), phone a, phone b) -> error in [0, 1]
Cells = dict[tuple[str, tuple[str, ...], str, str], float]


@dataclass(frozen=True)
class ABXScore:
    """One mode's ABX error in percent, each speaker's additive part of it
    (sorted speaker order; they sum to ``error``) and the number of cells."""

    error: float
    contributions: dict[str, float]
    n_cells: int


def abx_scores(
    items: Items, distance: str, modes: Sequence[str], min_items: int = 1
) -> dict[str, ABXScore]:
    """The ABX error of each mode in ``modes`` (``within``, ``across``); a mode
    without a single cell has error NaN."""
    by_context: dict[str, list[int]] = defaultdict(list)
    for i, context in enumerate(items.context):
        by_context[str(context)].append(i)
    # contexts with one phone make no cell
    by_context = {
        c: members for c, members in by_context.items() if len(set(items.phone[members])) > 1
    }
    pairs = _needed_pairs(items, by_context.values(), across="across" in modes)
    found = pair_distances(items, pairs, distance)
    dist = {(int(i), int(j)): float(d) for (i, j), d in zip(pairs, found, strict=True)}
    out = {}
    for mode in modes:
        cells: Cells = {}
        for context, members in sorted(by_context.items()):
            cells.update(_cells(items, context, members, dist, mode, max(1, min_items)))
        out[mode] = average(cells)
    return out


def _needed_pairs(items: Items, contexts: Iterable[list[int]], across: bool) -> np.ndarray:
    rows = [
        (i, j)
        for members in contexts
        for a, i in enumerate(members)
        for j in members[a + 1 :]
        if across or items.speaker[i] == items.speaker[j]
    ]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


def _cells(
    items: Items,
    context: str,
    members: list[int],
    dist: dict[tuple[int, int], float],
    mode: str,
    min_items: int,
) -> Cells:
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i in members:
        groups[(str(items.speaker[i]), str(items.phone[i]))].append(i)
    speakers = sorted({s for s, _ in groups})
    phones = sorted({p for _, p in groups})
    cells: Cells = {}
    for s in speakers:
        for a in phones:
            for b in phones:
                big_a, big_b = groups.get((s, a), []), groups.get((s, b), [])
                if a == b or len(big_a) < min_items or len(big_b) < min_items:
                    continue
                if mode == "within":
                    if len(big_a) >= 2:
                        cells[(context, (s,), a, b)] = _error(dist, big_a, big_b, big_a)
                    continue
                for t in speakers:
                    x = groups.get((t, a), [])
                    if t != s and len(x) >= min_items:
                        cells[(context, (s, t), a, b)] = _error(dist, big_a, big_b, x)
    return cells


def _matrix(dist: dict[tuple[int, int], float], rows: list[int], cols: list[int]) -> np.ndarray:
    return np.array(
        [[dist[(min(r, c), max(r, c))] if r != c else np.nan for c in cols] for r in rows]
    )


def _error(dist: dict[tuple[int, int], float], a: list[int], b: list[int], x: list[int]) -> float:
    """The share of wrong triplets of a cell (ties half); A and X the same tokens
    (within-speaker) never pair a token with itself."""
    dax = _matrix(dist, a, x)  # (A, X)
    dbx = _matrix(dist, b, x)  # (B, X)
    valid = ~np.isnan(dax)[:, None, :] & np.ones((1, len(b), 1), bool)
    diff = dax[:, None, :] - dbx[None, :, :]
    right = np.where(valid, (diff < 0) + 0.5 * (diff == 0), 0.0).sum()
    return float(1.0 - right / valid.sum())


def average(cells: Cells) -> ABXScore:
    """Cells averaged over contexts, then speaker keys, then ordered phone pairs,
    in percent, with each speaker's additive part."""
    if not cells:
        return ABXScore(float("nan"), {}, 0)
    by_key: dict[tuple[tuple[str, ...], str, str], list[float]] = defaultdict(list)
    for (_, key, a, b), error in cells.items():
        by_key[(key, a, b)].append(error)
    by_pair: dict[tuple[str, str], dict[tuple[str, ...], float]] = defaultdict(dict)
    for (key, a, b), errors in by_key.items():
        by_pair[(a, b)][key] = float(np.mean(errors))
    parts: dict[str, float] = defaultdict(float)
    for keys in by_pair.values():
        for key, error in keys.items():
            share = 100.0 * error / (len(by_pair) * len(keys) * len(key))
            for speaker in key:
                parts[speaker] += share
    total = 100.0 * float(np.mean([np.mean(list(k.values())) for k in by_pair.values()]))
    return ABXScore(total, dict(sorted(parts.items())), len(cells))
