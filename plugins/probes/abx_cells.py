"""Which triplets the ABX cells hold, and which item pairs they read, as arrays
(definitions in :mod:`harness_plugins.probes.abx_core`).

Items of the contexts with two phones or more are sorted by (context,
speaker, phone): a *cluster* is the items of one context, speaker and phone
(consecutive after the sort), a *unit* the clusters of one context and
speaker. A cell is three clusters: A's (s, a), B's (s, b) of the same unit and
X's, which is A's own cluster within speakers and the cluster of phone a of
another unit of the context across speakers. The item pairs a cell reads are
whole *blocks*, the pairs of two clusters (A's and X's, B's and X's; the pairs
of one cluster for A and X within speakers), so every block is computed once
whichever cells read it, and nothing else is: no pair of a speaker's phone b
with a phone a that speaker never says in the context.

The places of d(A, X) and d(B, X) among the pairs are arithmetic on the
items' ranks in their clusters and the block's start, so one compiled loop
(:func:`harness_plugins.probes.abx_kernels.score_triplets`) scores every
triplet of every cell from the cells' arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness_plugins.probes.abx_kernels import draw_others, score_triplets

MODES = ("within", "across")


def ordered_pairs(size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered (i, j), i != j, of positions in one group, where the groups
    hold ``size[0]``, ``size[1]``, ... consecutive positions from 0."""
    each = np.repeat(size, size)  # each position's group size
    left = np.repeat(np.arange(len(each)), each)
    right = np.repeat(np.repeat(np.cumsum(size) - size, size), each) + _ranks(each)
    keep = left != right
    return left[keep], right[keep]


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0 .. counts[k] - 1 for each k, concatenated."""
    ends = np.cumsum(counts)
    return np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - counts, counts)


@dataclass(frozen=True)
class Layout:
    """Items of the contexts with two phones or more, sorted into clusters.

    ``order``: item indices by (context, speaker, phone, index); cluster k is
    ``order[start[k] : start[k] + size[k]]``, of ``unit[k]`` and ``phone[k]``;
    unit u is context ``context[u]``, speaker ``speaker[u]`` (codes into the
    sorted names; sorted codes are sorted names)."""

    order: np.ndarray
    start: np.ndarray
    size: np.ndarray
    unit: np.ndarray
    phone: np.ndarray
    context: np.ndarray
    speaker: np.ndarray
    contexts: np.ndarray
    speakers: np.ndarray
    phones: np.ndarray

    @classmethod
    def of(
        cls, context: np.ndarray, speaker: np.ndarray, phone: np.ndarray,
        names: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> Layout:  # fmt: skip
        """From each item's context, speaker and phone codes, and the sorted
        names they index (contexts, speakers, phones)."""
        ctx, spk, ph = (np.asarray(c, np.int64) for c in (context, speaker, phone))
        n_phones = max(len(names[2]), 1)
        # contexts with one phone have no cell
        said = np.unique(ctx * n_phones + ph)
        kept = np.bincount(said // n_phones, minlength=len(names[0])) > 1
        index = np.flatnonzero(kept[ctx]) if len(ctx) else np.zeros(0, np.int64)
        order = index[np.lexsort((index, ph[index], spk[index], ctx[index]))]
        key = np.stack([ctx[order], spk[order], ph[order]])
        new = np.ones(len(order), bool)
        new[1:] = (key[:, 1:] != key[:, :-1]).any(axis=0)
        start = np.flatnonzero(new)
        size = np.diff(np.append(start, len(order)))
        unit_new = new.copy()
        unit_new[1:] = (key[:2, 1:] != key[:2, :-1]).any(axis=0)
        units = np.flatnonzero(unit_new)
        unit = np.cumsum(unit_new)[start] - 1
        return cls(order, start, size, unit, key[2, start], key[0, units], key[1, units], *names)

    def __len__(self) -> int:
        return len(self.size)


def across_units(layout: Layout, max_x: int | None, rng: np.random.Generator) -> np.ndarray:
    """(U, 2) unit pairs (u, v): X of unit v goes with A and B of unit u (another
    speaker of u's context), sorted. Where a context has more than ``max_x``
    other speakers, each speaker's are ``max_x`` drawn by ``rng``, context by
    context and speaker by speaker in sorted order (so the same seed draws the
    same speakers)."""
    count = np.bincount(layout.context) if len(layout.context) else np.zeros(0, np.int64)
    count = count[count > 0]
    first = np.cumsum(count) - count
    every = np.ones(len(first), bool) if max_x is None else count - 1 <= max_x
    units = np.repeat(first[every], count[every]) + _ranks(count[every])
    left, right = ordered_pairs(count[every])
    found = [np.stack([units[left], units[right]], axis=1)]
    if max_x is not None and (~every).any():
        drawn = np.empty((int(count[~every].sum()) * max_x, 2), np.int64)
        found.append(draw_others(rng, first[~every], count[~every], max_x, drawn))
    pairs = np.concatenate(found)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))].astype(np.int64)


@dataclass(frozen=True)
class Cells:
    """One mode's cells, as the clusters of their A, B and X."""

    a: np.ndarray
    b: np.ndarray
    x: np.ndarray

    def __len__(self) -> int:
        return len(self.a)


def _ab_pairs(layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair of distinct clusters (A's, B's) of one unit."""
    return ordered_pairs(np.bincount(layout.unit) if len(layout) else np.zeros(0, np.int64))


def within_cells(layout: Layout, min_items: int) -> Cells:
    """A, B and X of one speaker: X is another item of A's cluster, so A's needs two."""
    a, b = _ab_pairs(layout)
    keep = (layout.size[a] >= max(2, min_items)) & (layout.size[b] >= min_items)
    return Cells(a[keep], b[keep], a[keep])


def across_cells(layout: Layout, units: np.ndarray, min_items: int) -> Cells:
    """A and B of unit u, X of phone a of each unit v paired with u (``units``)."""
    a, b = _ab_pairs(layout)
    per_unit = np.bincount(units[:, 0], minlength=len(layout.context))
    begin = np.cumsum(per_unit) - per_unit
    repeats = per_unit[layout.unit[a]]
    cell = np.repeat(np.arange(len(a)), repeats)
    other = units[np.repeat(begin[layout.unit[a]], repeats) + _ranks(repeats), 1]
    # X's cluster: phone a in unit v, if the speaker said it in the context
    phones = max(len(layout.phones), 1)
    keys = layout.unit * phones + layout.phone
    wanted = other * phones + layout.phone[a[cell]]
    x = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    found = keys[x] == wanted if len(keys) else np.zeros(0, bool)
    a, b, x = a[cell][found], b[cell][found], x[found]
    keep = np.minimum(np.minimum(layout.size[a], layout.size[b]), layout.size[x]) >= min_items
    return Cells(a[keep], b[keep], x[keep])


@dataclass(frozen=True)
class Blocks:
    """The item pairs the cells read, block by block: block k holds the pairs of
    clusters ``low[k] <= high[k]`` (item i of low, item j of high, row-major;
    only i < j when they are one cluster), from pair ``start[k]``. ``pairs``:
    (P, 2) item indices, the smaller first."""

    key: np.ndarray
    start: np.ndarray
    pairs: np.ndarray


def blocks(layout: Layout, modes: Sequence[Cells]) -> Blocks:
    """The blocks of (A, X) and (B, X) of every cell of ``modes``."""
    n = len(layout)
    ends = [(c.a, c.x) for c in modes] + [(c.b, c.x) for c in modes]
    first = np.concatenate([np.minimum(*e) for e in ends] or [np.zeros(0, np.int64)])
    second = np.concatenate([np.maximum(*e) for e in ends] or [np.zeros(0, np.int64)])
    key = np.unique(first * n + second)
    low, high = key // max(n, 1), key % max(n, 1)
    cols = layout.size[high]
    grid = layout.size[low] * cols
    block = np.repeat(np.arange(len(key)), grid)
    place = _ranks(grid)
    i, j = place // cols[block], place % cols[block]
    keep = (low[block] != high[block]) | (i < j)
    block, i, j = block[keep], i[keep], j[keep]
    count = np.bincount(block, minlength=len(key))
    one = layout.order[layout.start[low[block]] + i]
    other = layout.order[layout.start[high[block]] + j]
    pairs = np.stack([np.minimum(one, other), np.maximum(one, other)], axis=1)
    return Blocks(key, np.cumsum(count) - count, pairs)


def _block_start(layout: Layout, found: Blocks, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Where the block of clusters c1 and c2 begins among ``found.pairs``."""
    n = len(layout)
    key = np.minimum(c1, c2) * n + np.maximum(c1, c2)
    return found.start[np.searchsorted(found.key, key)]


def right_answers(
    layout: Layout, cells: Cells, found: Blocks, distances: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's right answers (d(A, X) < d(B, X); a tie counts half) and its
    number of triplets with both distances defined."""
    right = np.zeros(len(cells))
    total = np.zeros(len(cells))
    # where d(A, X) lies in its block: A's cluster first (0), X's first (1), one cluster (2)
    ax_kind = np.where(cells.a == cells.x, 2, np.where(cells.a < cells.x, 0, 1))
    score_triplets(
        layout.size[cells.a], layout.size[cells.b], layout.size[cells.x],
        _block_start(layout, found, cells.a, cells.x), ax_kind,
        _block_start(layout, found, cells.b, cells.x), (cells.b > cells.x).astype(np.int64),
        distances, right, total,
    )  # fmt: skip
    return right, total
