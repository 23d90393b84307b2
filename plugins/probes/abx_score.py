"""ABX cells and their averages (definitions in :mod:`harness_plugins.probes.abx_core`).

:func:`abx_cells` lays the items out in clusters, forms every cell of each
mode and the item pairs they read (:mod:`harness_plugins.probes.abx_cells`),
computes those pairs' DTW distances in one pass
(:mod:`harness_plugins.probes.abx_dtw`) and scores every triplet of every
cell. A mode's cells are one :class:`CellTable` (arrays of codes and errors),
averaged over contexts, then speakers (speaker pairs), then ordered phone
pairs with grouped sums. Each speaker's additive part of the score (the
contract of speaker-level inference, docs/plugins.md) is its share of that
average: a speaker-pair cell gives half to each speaker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness_plugins.probes.abx_cells import (
    Cells,
    Layout,
    across_cells,
    across_units,
    blocks,
    right_answers,
    within_cells,
)
from harness_plugins.probes.abx_core import Items, pair_distances


@dataclass(frozen=True)
class ABXScore:
    """One mode's ABX error in percent, each speaker's additive part of it
    (sorted speaker order; they sum to ``error``) and the number of cells."""

    error: float
    contributions: dict[str, float]
    n_cells: int


@dataclass(frozen=True)
class CellTable:
    """Every cell of one mode: its context, the speaker of A and B, the speaker
    of X (the same within speakers), phones a (of A and X) and b, as codes
    into the sorted names, and its error in [0, 1]."""

    context: np.ndarray
    speaker: np.ndarray
    speaker_x: np.ndarray
    phone_a: np.ndarray
    phone_b: np.ndarray
    error: np.ndarray
    contexts: np.ndarray
    speakers: np.ndarray
    phones: np.ndarray

    def __len__(self) -> int:
        return len(self.error)

    def only(self, keep: np.ndarray) -> CellTable:
        """The cells where ``keep`` is true."""
        columns = (self.context, self.speaker, self.speaker_x, self.phone_a, self.phone_b)
        return CellTable(
            *(c[keep] for c in columns), self.error[keep], self.contexts, self.speakers, self.phones
        )

    def in_groups(self, groups: frozenset[str]) -> CellTable:
        """The cells of contexts of these groups (languages; a context is ``group|...``)."""
        mine = np.array([str(c).split("|", 1)[0] in groups for c in self.contexts], bool)
        return self.only(mine[self.context]) if len(mine) else self

    def as_dict(self) -> dict[tuple[str, tuple[str, ...], str, str], float]:
        """(context, speakers (s,) or (s, t), phone a, phone b) -> error."""
        out = {}
        for c, s, t, a, b, e in zip(
            *(x.tolist() for x in (self.context, self.speaker, self.speaker_x)),
            self.phone_a.tolist(),
            self.phone_b.tolist(),
            self.error.tolist(),
            strict=True,
        ):
            key = (str(self.speakers[s]),) if s == t else tuple(map(str, self.speakers[[s, t]]))
            out[(str(self.contexts[c]), key, str(self.phones[a]), str(self.phones[b]))] = e
        return out


def abx_scores(
    items: Items,
    distance: str,
    modes: Sequence[str],
    min_items: int = 1,
    max_x_speakers: int | None = None,
    seed: int = 0,
) -> dict[str, ABXScore]:
    """The ABX error of each mode in ``modes`` (``within``, ``across``); a mode
    without a single cell has error NaN and no cells.

    :param max_x_speakers: across speakers, at most this many speakers of X for
        each context and speaker of A and B, a subsample seeded by ``seed``
        (Libri-light's ``max_x_across``); None: every other speaker.
    """
    cells = abx_cells(items, distance, modes, min_items, max_x_speakers, seed)
    return {mode: average(cells[mode]) for mode in modes}


def plan_cells(
    layout: Layout,
    modes: Sequence[str],
    min_items: int = 1,
    max_x_speakers: int | None = None,
    seed: int = 0,
) -> dict[str, Cells]:
    """Every cell of each mode with at least one triplet and ``min_items`` items
    of A, B and X (the parameters of :func:`abx_scores`)."""
    least = max(1, min_items)
    out = {}
    for mode in modes:
        if mode == "within":
            out[mode] = within_cells(layout, least)
        elif mode == "across":
            units = across_units(layout, max_x_speakers, np.random.default_rng(seed))
            out[mode] = across_cells(layout, units, least)
        else:
            raise ValueError(f"modes must be within or across, got {mode!r}")
    return out


def abx_cells(
    items: Items,
    distance: str,
    modes: Sequence[str],
    min_items: int = 1,
    max_x_speakers: int | None = None,
    seed: int = 0,
) -> dict[str, CellTable]:
    """Every cell of each mode, scored (the parameters of :func:`abx_scores`)."""
    layout = layout_of(items)
    planned = plan_cells(layout, modes, min_items, max_x_speakers, seed)
    found = blocks(layout, list(planned.values()))
    distances = pair_distances(items, found.pairs, distance)
    return {
        mode: table(layout, cells, *right_answers(layout, cells, found, distances))
        for mode, cells in planned.items()
    }


def layout_of(items: Items) -> Layout:
    """The items' clusters (:class:`harness_plugins.probes.abx_cells.Layout`)."""
    names = (items.contexts, items.speakers, items.phones)
    return Layout.of(items.context_code, items.speaker_code, items.phone_code, names)


def table(layout: Layout, cells: Cells, right: np.ndarray, total: np.ndarray) -> CellTable:
    """The cells with a triplet, as a :class:`CellTable`."""
    has = total > 0
    a, b, x = cells.a[has], cells.b[has], cells.x[has]
    unit, unit_x = layout.unit[a], layout.unit[x]
    return CellTable(
        layout.context[unit],
        layout.speaker[unit],
        layout.speaker[unit_x],
        layout.phone[a],
        layout.phone[b],
        1.0 - right[has] / total[has],
        layout.contexts,
        layout.speakers,
        layout.phones,
    )


@dataclass(frozen=True)
class _Keys:
    """A table's cells averaged over contexts per (speaker key, phone a, phone
    b), with each one's weight in the final average (1 / (ordered phone pairs x
    keys of its phone pair))."""

    speaker: np.ndarray
    speaker_x: np.ndarray
    mean: np.ndarray
    weight: np.ndarray
    phone_pairs: int


def _keys(cells: CellTable) -> _Keys:
    s, p = len(cells.speakers), len(cells.phones)
    key = ((cells.speaker * s + cells.speaker_x) * p + cells.phone_a) * p + cells.phone_b
    found, inverse = np.unique(key, return_inverse=True)
    mean = np.bincount(inverse, cells.error) / np.bincount(inverse)
    pair, who = found % (p * p), found // (p * p)
    pairs, of_pair = np.unique(pair, return_inverse=True)
    keys_of_pair = np.bincount(of_pair)
    weight = 1.0 / (len(pairs) * keys_of_pair[of_pair])
    return _Keys(who // s, who % s, mean, weight, len(pairs))


def key_shares(cells: CellTable) -> dict[tuple[str, ...], float]:
    """Each speaker key's additive share (percent) of the average of
    :func:`average`: a speaker (within) or an ordered pair (speaker of A and B,
    speaker of X; across). The shares sum to the error."""
    if not len(cells):
        return {}
    k = _keys(cells)
    n = len(cells.speakers)
    code = k.speaker * n + k.speaker_x
    share = np.bincount(code, 100.0 * k.mean * k.weight, n * n)
    names = [str(x) for x in cells.speakers]
    out = {}
    for c in np.unique(code).tolist():
        s, t = divmod(c, n)
        out[(names[s],) if s == t else (names[s], names[t])] = float(share[c])
    return out


def average(cells: CellTable) -> ABXScore:
    """Cells averaged over contexts, then speaker keys, then ordered phone pairs,
    in percent, with each speaker's additive part."""
    if not len(cells):
        return ABXScore(float("nan"), {}, 0)
    k = _keys(cells)
    n = len(cells.speakers)
    across = k.speaker != k.speaker_x
    share = 100.0 * k.mean * k.weight / np.where(across, 2, 1)
    parts = np.bincount(k.speaker, share, n) + np.bincount(k.speaker_x[across], share[across], n)
    present = np.bincount(np.concatenate([k.speaker, k.speaker_x]), minlength=n) > 0
    contributions = {str(cells.speakers[i]): float(parts[i]) for i in np.flatnonzero(present)}
    error = 100.0 * float(np.sum(k.mean * k.weight))
    return ABXScore(error, contributions, len(cells))
