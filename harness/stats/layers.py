"""Every layer is a latent space: probe scores and CKA against depth.

An extractor declares which of its latent spaces form an ordered stack of
layers and each one's depth (``layers()``, recorded per space under the run
record's ``latent_spaces``); nothing here reads depth from a space's name.
The scores are the rows of :func:`harness.stats.separability.separability_summary`
(seed mean, 95% CI with seeds and probe speakers as sampled) for the spaces of
stacks with at least two layers, so a layer's number here is the same number
as in stats/separability.csv. CKA compares each condition with the control at
every layer, seed i with seed i (:func:`harness.stats.cka.cka_vs_control`).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from harness.stats.cka import cka_vs_control
from harness.tables import layers_table

if TYPE_CHECKING:
    from harness.tables.results import Results

#: a stack is drawn and tabulated from this many layers on
MIN_LAYERS = 2

#: Columns of stats/layers.csv (docs/report.md documents every one).
LAYER_COLUMNS = ["model", "condition", "stack", "depth", "n_layers", "latent_space", "probe",
                 "metric", "higher_is_better", "headline", "inference", "n", "n_speakers", "mean",
                 "ci_low", "ci_high", "chance", "best"]  # fmt: skip
#: Columns of stats/cka_layers.csv.
CKA_LAYER_COLUMNS = ["model", "stack", "depth", "n_layers", "latent_space", "condition", "control",
                     "pairing", "n_pairs", "mean_cka", "sd_cka", "ci_low", "ci_high"]  # fmt: skip

_STACK = ["model", "condition", "stack"]


def declared_layers(results: Results) -> pd.DataFrame:
    """Per model, condition and latent space in a stack of at least
    :data:`MIN_LAYERS` layers: its stack, depth and the stack's layer count,
    as the finished runs' records declare them. A space whose runs declare it
    differently (records of different code) is left out with a warning."""
    table = layers_table(results.records.values())
    table = table[table["status"].isin(["reached", "censored", "diverged"])]
    columns = ["model", "condition", "latent_space", "stack", "depth"]
    if table.empty:
        return pd.DataFrame(columns=[*columns, "n_layers"])
    declared = table[columns].drop_duplicates()
    key = ["model", "condition", "latent_space"]
    conflicting = declared[declared.duplicated(key, keep=False)]
    if not conflicting.empty:
        spaces = sorted(set(conflicting["latent_space"]))
        warnings.warn(
            f"runs of one model and condition declare different layers for {', '.join(spaces)}; "
            "those spaces are left out of stats/layers.csv",
            stacklevel=2,
        )
        declared = declared[~declared.duplicated(key, keep=False)]
    declared = declared.assign(n_layers=declared.groupby(_STACK)["depth"].transform("nunique"))
    declared = declared[declared["n_layers"] >= MIN_LAYERS]
    # stacks in the order the extractors returned them (lstm_state: hidden, then cell)
    return _sorted(declared, ["model", "condition"], _first_seen(table["stack"]), ["depth"])


def _first_seen(values: pd.Series) -> dict[str, int]:
    return {v: i for i, v in enumerate(dict.fromkeys(values))}


def _sorted(
    frame: pd.DataFrame, before: list[str], stacks: dict[str, int], after: list[str]
) -> pd.DataFrame:
    """Rows by ``before``, then stacks in the ``stacks`` rank, then ``after``."""
    ranked = frame.assign(stack_rank=frame["stack"].map(stacks))
    ranked = ranked.sort_values([*before, "stack_rank", *after], kind="stable")
    return ranked.drop(columns="stack_rank").reset_index(drop=True)


def layer_scores(results: Results, separability: pd.DataFrame) -> pd.DataFrame:
    """The separability rows (``separability``: stats/separability.csv) of
    every layer of a stack, with its depth; ``best`` marks, per model,
    condition, stack, probe and metric, the layer with the best seed mean
    (the shallowest of equals)."""
    declared = declared_layers(results)
    if declared.empty or separability.empty:
        return pd.DataFrame(columns=LAYER_COLUMNS)
    rows = separability.merge(declared, on=["model", "condition", "latent_space"], how="inner")
    if rows.empty:
        return pd.DataFrame(columns=LAYER_COLUMNS)
    rows = _sorted(rows, ["model", "condition"], _first_seen(declared["stack"]),
                   ["probe", "metric", "depth"])  # fmt: skip
    # the best layer: the highest mean where higher is better, else the lowest
    signed = rows["mean"].astype(float) * np.where(rows["higher_is_better"].astype(bool), 1, -1)
    scored = rows.assign(signed=signed).dropna(subset=["signed"])
    # idxmax takes the first of equals, and the rows run from the shallowest layer
    best = scored.groupby([*_STACK, "probe", "metric"], sort=False)["signed"].idxmax()
    rows["best"] = rows.index.isin(best.to_numpy())
    return rows.reindex(columns=LAYER_COLUMNS).reset_index(drop=True)


def cka_layers(results: Results, control: str | None) -> pd.DataFrame:
    """Linear CKA of each condition against the control at every layer of a
    stack (seed i against seed i), and the control's seed-to-seed yardstick."""
    declared = declared_layers(results)
    if control is None or declared.empty:
        return pd.DataFrame(columns=CKA_LAYER_COLUMNS)
    # the stack as the control's runs declare it: CKA compares the same space
    ctrl = declared[declared["condition"] == control].drop(columns="condition")
    spaces = set(zip(ctrl["model"], ctrl["latent_space"], strict=True))
    table = cka_vs_control(results, control, spaces)
    if table.empty:
        return pd.DataFrame(columns=CKA_LAYER_COLUMNS)
    out = table.merge(ctrl, on=["model", "latent_space"], how="inner")
    out = _sorted(out, ["model"], _first_seen(ctrl["stack"]), ["depth"])
    return out.reindex(columns=CKA_LAYER_COLUMNS).reset_index(drop=True)
