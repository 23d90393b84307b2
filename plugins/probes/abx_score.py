"""ABX cells and their averages (definitions in :mod:`harness_plugins.probes.abx_core`).

:func:`abx_scores` computes the DTW distance of every item pair a cell can
compare (pairs in one context; pairs of one speaker only when across-speaker
cells are not asked for) in one batched pass, scores every triplet of every
cell with array operations, context by context and speaker by speaker, and
averages the cells over contexts, then speakers (speaker pairs), then ordered
phone pairs. Each speaker's additive part of the score (the contract of
speaker-level inference, docs/plugins.md) is its share of that average: a
speaker-pair cell gives half to each speaker.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
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


def abx_cells(
    items: Items,
    distance: str,
    modes: Sequence[str],
    min_items: int = 1,
    max_x_speakers: int | None = None,
    seed: int = 0,
) -> dict[str, Cells]:
    """Every cell's error of each mode (the parameters of :func:`abx_scores`)."""
    coded = _Coded.of(items)
    rng = np.random.default_rng(seed)
    contexts = _contexts(items)
    plans = [coded.plan(members, modes, max_x_speakers, rng) for members in contexts.values()]
    pairs = np.concatenate(
        [np.asarray(m)[plan.pairs] for m, plan in zip(contexts.values(), plans, strict=True)]
        or [np.zeros((0, 2), np.int64)]
    )
    found = pair_distances(items, pairs, distance)
    cells: dict[str, Cells] = {mode: {} for mode in modes}
    start = 0
    for (context, members), plan in zip(contexts.items(), plans, strict=True):
        p = plan.pairs
        matrix = np.full((len(members), len(members)), np.nan)
        matrix[p[:, 0], p[:, 1]] = matrix[p[:, 1], p[:, 0]] = found[start : start + len(p)]
        start += len(p)
        for mode in modes:
            cells[mode].update(
                coded.cells(context, members, matrix, plan.allowed[mode], max(1, min_items))
            )
    return cells


def _contexts(items: Items) -> dict[str, list[int]]:
    """Item indices by context, for contexts with more than one centre phone."""
    by_context: dict[str, list[int]] = defaultdict(list)
    for i, context in enumerate(items.context):
        by_context[str(context)].append(i)
    return {
        c: members
        for c, members in sorted(by_context.items())
        if len(set(items.phone[members])) > 1
    }


@dataclass(frozen=True)
class _Plan:
    """One context's work: ``allowed[mode][s, t]``, whether X of the context's
    speaker t goes with A and B of its speaker s, and the (P, 2) local item
    pairs i < j whose distance some cell reads."""

    allowed: dict[str, np.ndarray]
    pairs: np.ndarray


#: contexts with more items than this are scored speaker by speaker (memory: n^3)
WHOLE_CONTEXT = 96


@dataclass(frozen=True)
class _Coded:
    """Items' speakers and phones as integer codes."""

    speakers: np.ndarray
    phones: np.ndarray
    speaker: np.ndarray
    phone: np.ndarray

    @classmethod
    def of(cls, items: Items) -> _Coded:
        speakers, speaker = np.unique(items.speaker, return_inverse=True)
        phones, phone = np.unique(items.phone, return_inverse=True)
        return cls(speakers, phones, speaker.reshape(-1), phone.reshape(-1))

    def plan(
        self,
        members: list[int],
        modes: Sequence[str],
        max_x: int | None,
        rng: np.random.Generator,
    ) -> _Plan:
        present, local = np.unique(self.speaker[members], return_inverse=True)
        k = len(present)
        allowed = {}
        if "within" in modes:
            allowed["within"] = np.eye(k, dtype=bool)
        if "across" in modes:
            across = ~np.eye(k, dtype=bool)
            if max_x is not None and k - 1 > max_x:
                for s in range(k):
                    others = np.flatnonzero(across[s])
                    across[s] = False
                    across[s, rng.choice(others, size=max_x, replace=False)] = True
            allowed["across"] = across
        either = np.zeros((k, k), bool)
        for matrix in allowed.values():
            either |= matrix | matrix.T
        i, j = np.triu_indices(len(members), k=1)
        needed = either[local[i], local[j]]
        pairs = np.stack([i[needed], j[needed]], axis=1).astype(np.int64)
        return _Plan(allowed, pairs)

    def cells(
        self,
        context: str,
        members: list[int],
        matrix: np.ndarray,
        allowed: np.ndarray,
        min_items: int,
    ) -> Cells:
        """Every cell of one context, from its items' distance ``matrix``: every
        triplet (A, B, X) at once (speaker by speaker in a large context), its
        right answers summed by (speaker and phone of B, speaker and phone of X)."""
        present, spk = np.unique(self.speaker[members], return_inverse=True)
        phones, phone = np.unique(self.phone[members], return_inverse=True)
        n_phones = len(phones)
        counts = np.zeros((len(present), n_phones), np.int64)
        np.add.at(counts, (spk, phone), 1)
        blocks = [np.arange(len(members))]
        if len(members) > WHOLE_CONTEXT:
            blocks = [np.flatnonzero(spk == s) for s in range(len(present))]
        key_size = len(present) * n_phones
        right_sum = np.zeros((key_size, key_size))
        total_sum = np.zeros((key_size, key_size))
        for rows in blocks:
            cols = np.flatnonzero(allowed[spk[rows]].any(axis=0)[spk])
            d = matrix[np.ix_(rows, cols)]  # d[a, x]
            same = phone[rows][:, None] == phone[cols][None, :]
            pair_ok = allowed[spk[rows]][:, spk[cols]]  # A's speaker may meet X's
            one_speaker = spk[rows][:, None] == spk[rows][None, :]  # A and B
            diff = d[:, None, :] - d[None, :, :]
            valid = (
                (same & pair_ok)[:, None, :]
                & ~same[None, :, :]
                & one_speaker[:, :, None]
                & ~np.isnan(diff)
            )
            right = np.where(valid, (diff < 0) + 0.5 * (diff == 0), 0.0).sum(axis=0)
            b_key = spk[rows] * n_phones + phone[rows]
            x_key = spk[cols] * n_phones + phone[cols]
            _add_blocks(right_sum, b_key, x_key, right)
            _add_blocks(total_sum, b_key, x_key, valid.sum(axis=0).astype(float))
        cells: Cells = {}
        for bk, xk in zip(*np.nonzero(total_sum), strict=True):
            (s, b), (t, a) = divmod(int(bk), n_phones), divmod(int(xk), n_phones)
            if min(counts[s, a], counts[s, b], counts[t, a]) < min_items:
                continue
            names = self.speakers[present]
            key = (str(names[s]),) if s == t else (str(names[s]), str(names[t]))
            error = 1.0 - right_sum[bk, xk] / total_sum[bk, xk]
            cells[(context, key, str(self.phones[phones[a]]), str(self.phones[phones[b]]))] = float(
                error
            )
        return cells


def _add_blocks(into: np.ndarray, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
    """into[rows[i], cols[j]] += values[i, j], repeated keys summed."""
    np.add.at(into, (rows[:, None], cols[None, :]), values)


def _by_phone_pair(cells: Cells) -> dict[tuple[str, str], dict[tuple[str, ...], float]]:
    """Ordered phone pair -> speaker key -> the key's cells averaged over contexts."""
    by_key: dict[tuple[tuple[str, ...], str, str], list[float]] = defaultdict(list)
    for (_, key, a, b), error in cells.items():
        by_key[(key, a, b)].append(error)
    by_pair: dict[tuple[str, str], dict[tuple[str, ...], float]] = defaultdict(dict)
    for (key, a, b), errors in by_key.items():
        by_pair[(a, b)][key] = sum(errors) / len(errors)
    return by_pair


def key_shares(cells: Cells) -> dict[tuple[str, ...], float]:
    """Each speaker key's additive share (percent) of the average of
    :func:`average`: a speaker (within) or an ordered pair (speaker of A and B,
    speaker of X; across). The shares sum to the error."""
    by_pair = _by_phone_pair(cells)
    shares: dict[tuple[str, ...], float] = defaultdict(float)
    for keys in by_pair.values():
        for key, error in keys.items():
            shares[key] += 100.0 * error / (len(by_pair) * len(keys))
    return dict(shares)


def average(cells: Cells) -> ABXScore:
    """Cells averaged over contexts, then speaker keys, then ordered phone pairs,
    in percent, with each speaker's additive part."""
    if not cells:
        return ABXScore(float("nan"), {}, 0)
    by_pair = _by_phone_pair(cells)
    parts: dict[str, float] = defaultdict(float)
    for keys in by_pair.values():
        for key, error in keys.items():
            share = 100.0 * error / (len(by_pair) * len(keys) * len(key))
            for speaker in key:
                parts[speaker] += share
    means = [sum(keys.values()) / len(keys) for keys in by_pair.values()]
    return ABXScore(100.0 * sum(means) / len(means), dict(sorted(parts.items())), len(cells))
