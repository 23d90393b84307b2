"""Linear centred kernel alignment (CKA; Kornblith et al., 2019).

CKA compares two representations of the same examples (rows), such as the LSTM
state after two pretraining conditions, whatever their widths. Linear CKA is
invariant to orthogonal transforms and isotropic scaling of either side, but not
to arbitrary invertible linear maps: Kornblith et al. show that an index with that
invariance cannot tell representations apart once their width reaches the number
of examples.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

if TYPE_CHECKING:
    from harness.tables.results import Results

CKA_COLUMNS = ["model", "latent_space", "condition_a", "condition_b", "n_pairs", "mean_cka",
               "sd_cka"]  # fmt: skip


def _centred(name: str, value: np.ndarray) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (examples, features), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has non-finite values")
    return array - array.mean(axis=0)


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA between ``x`` (n, p) and ``y`` (n, q), rows being the same n examples.

    ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with column-centred
    ``Xc``, ``Yc``; 1 for identical representations, 0 when every feature of one
    is uncorrelated with every feature of the other. Raises ValueError when a
    side has no variance (CKA is undefined there).
    """
    xc = _centred("x", x)
    yc = _centred("y", y)
    n = len(xc)
    if len(yc) != n:
        raise ValueError(f"x and y must have the same examples (rows): {n} vs {len(yc)}")
    if n < 2:
        raise ValueError(f"linear CKA needs at least 2 examples, got {n}")
    if xc.shape[1] + yc.shape[1] > 2 * n:
        # Wide features: the n x n Gram form costs less than the p x q cross-covariance.
        # <Kx, Ky>_F equals ||Yc^T Xc||_F^2, so both forms give the same number.
        kx, ky = xc @ xc.T, yc @ yc.T
        cross = float(np.sum(kx * ky))
        norm_x, norm_y = np.linalg.norm(kx), np.linalg.norm(ky)
    else:
        cross = float(np.linalg.norm(yc.T @ xc) ** 2)
        norm_x, norm_y = np.linalg.norm(xc.T @ xc), np.linalg.norm(yc.T @ yc)
    if norm_x == 0.0 or norm_y == 0.0:
        side = "x" if norm_x == 0.0 else "y"
        raise ValueError(f"{side} is constant over the examples; CKA is undefined")
    return cross / float(norm_x * norm_y)


#: the most memory one latent space's Gram matrices may take (bytes)
GRAM_BYTES = 512 * 2**20


class _SpaceCKA:
    """CKA between runs in one latent space.

    When every run probed the same clips in the same order (a suite's runs
    do), each run's centred Gram matrix ``Xc Xc^T`` scaled to unit Frobenius
    norm is one row of a matrix, and one product of that matrix with itself
    gives every pair's CKA at once: the same number as :func:`linear_cka`'s
    Gram form; for narrow spaces the same numbers come from one product of
    the runs' centred features side by side. Otherwise (not ``batched``: a few pairs of many runs are
    wanted; or the Gram matrices would pass :data:`GRAM_BYTES`) each pair is
    computed on the clips both runs probed."""

    def __init__(
        self, arrays: dict[str, np.ndarray], clip_ids: dict[str, list[str]], batched: bool
    ) -> None:
        self.arrays, self.clip_ids = arrays, clip_ids
        ids = list(clip_ids.values())
        n = len(ids[0]) if ids else 0
        self.shared = (
            batched
            and n >= 2
            and all(i == ids[0] for i in ids)
            and all(len(a) == n for a in arrays.values())
            and len(arrays) * n * n * 8 <= GRAM_BYTES
        )
        self._all: tuple[dict[str, int], np.ndarray] | None = None

    def _every_pair(self) -> tuple[dict[str, int], np.ndarray]:
        if self._all is None:
            runs = list(self.arrays)
            centred = [_centred(run, self.arrays[run]) for run in runs]
            widths = [c.shape[1] for c in centred]
            n = centred[0].shape[0]
            if (sum(widths) / len(runs)) ** 2 <= 8 * n:
                # narrow spaces: one product of the runs' features side by side gives
                # every cross-covariance block Xc_i^T Xc_j; <K_i, K_j>_F = ||Xc_i^T Xc_j||_F^2.
                # Its cost grows with the square of the widths, the Gram route's with
                # n^2: the switch at mean width^2 = 8 n was measured (640 clips, 60 runs:
                # 4x faster at width 32, even at 80, 4x slower at 128)
                stacked = np.concatenate(centred, axis=1)
                edges = np.cumsum([0, *widths])
                blocks = stacked.T @ stacked
                squared = np.add.reduceat(np.add.reduceat(blocks**2, edges[:-1], 0), edges[:-1], 1)
            else:
                grams = np.stack([(c @ c.T).ravel() for c in centred])
                squared = grams @ grams.T
            norms = np.sqrt(np.diag(squared))
            for run, norm in zip(runs, norms, strict=True):
                if norm == 0.0:
                    raise ValueError(f"{run} is constant over the examples; CKA is undefined")
            self._all = {r: i for i, r in enumerate(runs)}, squared / np.outer(norms, norms)
        return self._all

    def pair(self, ra: str, rb: str) -> float | None:
        """CKA of runs ``ra`` and ``rb`` (None with fewer than two shared clips)."""
        if self.shared:
            index, cka = self._every_pair()
            return float(cka[index[ra], index[rb]])
        xa, xb = _aligned(self.arrays[ra], self.clip_ids[ra], self.arrays[rb], self.clip_ids[rb])
        return float(linear_cka(xa, xb)) if len(xa) >= 2 else None


def _space(
    latents: dict[str, dict[str, np.ndarray]],
    clip_ids: dict[str, list[str]],
    space: str,
    batched: bool = True,
) -> _SpaceCKA:
    runs = [r for r in latents if space in latents[r]]
    arrays = {r: latents[r][space] for r in runs}
    return _SpaceCKA(arrays, {r: clip_ids[r] for r in runs}, batched)


# ---------------------------------------------------------------- the CKA table


def _aligned(
    a: np.ndarray, ids_a: list[str], b: np.ndarray, ids_b: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of both arrays for the clips both runs probed, in one order."""
    if ids_a == ids_b:
        return a, b
    pos_b = {c: i for i, c in enumerate(ids_b)}
    ia = np.array([i for i, c in enumerate(ids_a) if c in pos_b], dtype=int)
    ib = np.array([pos_b[c] for c in ids_a if c in pos_b], dtype=int)
    return a[ia], b[ib]


def cka_table(results: Results) -> pd.DataFrame:
    """Mean linear CKA between the latent spaces of two conditions (same model,
    same latent space, same held-out clips), over every pair of runs: across
    conditions all seed pairs, within a condition all pairs of distinct seeds
    (how alike two seeds of one condition are, the yardstick for the rest)."""
    runs = results.runs[results.runs["status"].isin(["reached", "censored"])]
    baseline_spaces = set(
        results.probes.loc[results.probes["is_baseline"].astype(bool), "latent_space"]
    )
    rows = []
    for model, by_model in runs.groupby("model", sort=False):
        latents = {r: results.latents(r) for r in by_model["run_id"]}
        clip_ids = {r: list(results.probe_clips(r).get("clip_id", [])) for r in by_model["run_id"]}
        spaces = sorted({s for v in latents.values() for s in v} - baseline_spaces)
        conditions = [c for c in results.conditions if c in set(by_model["condition"])]
        for space in spaces:
            cka = _space(latents, clip_ids, space)
            have = by_model[[space in latents[r] for r in by_model["run_id"]]]
            ids = {c: list(have.loc[have["condition"] == c, "run_id"]) for c in conditions}
            for ca, cb in itertools.combinations_with_replacement(conditions, 2):
                if ca == cb:
                    pairs = list(itertools.combinations(ids[ca], 2))
                else:
                    pairs = list(itertools.product(ids[ca], ids[cb]))
                values = [x for ra, rb in pairs if (x := cka.pair(ra, rb)) is not None]
                if not values:
                    continue
                v = np.asarray(values)
                for a, b in {(ca, cb), (cb, ca)}:
                    rows.append(
                        {
                            "model": model,
                            "latent_space": space,
                            "condition_a": a,
                            "condition_b": b,
                            "n_pairs": v.size,
                            "mean_cka": float(v.mean()),
                            "sd_cka": float(v.std(ddof=1)) if v.size > 1 else np.nan,
                        }
                    )
    return pd.DataFrame(rows, columns=CKA_COLUMNS)


# ---------------------------------------------------------------- against the control, by seed

CKA_VS_CONTROL_COLUMNS = ["model", "latent_space", "condition", "control", "pairing", "n_pairs",
                          "mean_cka", "sd_cka", "ci_low", "ci_high"]  # fmt: skip
#: the ``pairing`` of a condition's row: seed i against seed i of the control
SAME_SEED = "same seed"
#: the ``pairing`` of the control's own row: two different seeds of the control
DISTINCT_SEEDS = "distinct seeds"


def cka_vs_control(
    results: Results, control: str, spaces: Collection[tuple[str, str]] | None = None
) -> pd.DataFrame:
    """Linear CKA of each condition against the control, per model and latent
    space (``spaces``: the (model, latent space) pairs to compare; every model
    space when None), on the clips both runs probed. A condition's run of seed i
    is compared with the control's run of seed i, and the mean over seeds gets a
    t interval with seeds as the sampled unit (the probe clips fixed), clipped
    to [0, 1]. The control's own row (``pairing`` = distinct seeds) averages all
    pairs of its different seeds: the yardstick, with no interval (its pairs
    share runs, so they are not independent)."""
    runs = results.runs[results.runs["status"].isin(["reached", "censored"])]
    baseline_spaces = set(
        results.probes.loc[results.probes["is_baseline"].astype(bool), "latent_space"]
    )
    rows = []
    for model, by_model in runs.groupby("model", sort=False):
        run_ids = list(by_model["run_id"])
        latents = {r: results.latents(r) for r in run_ids}
        clip_ids = {r: list(results.probe_clips(r).get("clip_id", [])) for r in run_ids}
        found = sorted({s for v in latents.values() for s in v} - baseline_spaces)
        wanted = [s for s in found if spaces is None or (model, s) in spaces]

        for space in wanted:
            cka = _space(latents, clip_ids, space, batched=False)
            have = by_model[[space in latents[r] for r in run_ids]]
            ctrl = have[have["condition"] == control]
            if ctrl.empty:
                continue
            ctrl_by_seed = dict(zip(ctrl["seed"], ctrl["run_id"], strict=True))
            pairs_by_condition: dict[str, list[tuple[str, str]]] = {
                control: list(itertools.combinations(ctrl["run_id"], 2))
            }
            for condition, cond in have.groupby("condition", sort=False):
                if condition != control:
                    pairs_by_condition[str(condition)] = [
                        (ctrl_by_seed[s], r)
                        for s, r in zip(cond["seed"], cond["run_id"], strict=True)
                        if s in ctrl_by_seed
                    ]
            for condition, pairs in pairs_by_condition.items():
                values = [x for ra, rb in pairs if (x := cka.pair(ra, rb)) is not None]
                if not values:
                    continue
                v = np.asarray(values)
                row = {"model": model, "latent_space": space, "condition": condition,
                       "control": control, "n_pairs": v.size, "mean_cka": float(v.mean()),
                       "sd_cka": float(v.std(ddof=1)) if v.size > 1 else np.nan,
                       "pairing": DISTINCT_SEEDS if condition == control else SAME_SEED}  # fmt: skip
                if condition != control and v.size > 1:
                    half = float(stats.t.ppf(0.975, v.size - 1)) * row["sd_cka"] / np.sqrt(v.size)
                    row["ci_low"] = max(0.0, row["mean_cka"] - half)
                    row["ci_high"] = min(1.0, row["mean_cka"] + half)
                rows.append(row)
    return pd.DataFrame(rows).reindex(columns=CKA_VS_CONTROL_COLUMNS)
