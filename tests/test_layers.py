"""Every layer is a latent space: declared stacks of layers, probe scores and
CKA per layer, the layer-by-layer figures and sentences."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from harness.plugin.contracts import ContractError, check_layers
from harness.report import figures
from harness.report.answer import Source
from harness.report.layers import LAYERS, best_layer_sentences
from harness.stats import layers
from harness.stats.analysis import analyse
from harness.stats.cka import DISTINCT_SEEDS, SAME_SEED
from harness.tables.results import load_results
from harness_plugins.extractor_classes import LSTMState
from harness_plugins.models.lstm_model import NextFrameLSTM

from helpers.fake_results import CONDITIONS, FakeModel, FakeSuite, write_fake_results

HIDDEN = "lstm_state/hidden"
SPACES = ("lstm_state/layer1.h", "lstm_state/layer2.h", "lstm_state/h")
#: a planted layer effect: the control separates best at the top layer, the
#: low-passed condition at the first, the full-band one in the middle
GAIN = {
    "none": {SPACES[0]: 0.0, SPACES[1]: 0.08, SPACES[2]: 0.2},
    "ja_lowpass": {SPACES[0]: 0.2, SPACES[1]: 0.0, SPACES[2]: -0.1},
    "ja_full": {SPACES[0]: 0.0, SPACES[1]: 0.25, SPACES[2]: 0.0},
}
BEST = {"none": SPACES[2], "ja_lowpass": SPACES[0], "ja_full": SPACES[1]}
SEEDS = (0, 1, 2, 3)

LAYERED = FakeModel(
    "lstm", "lstm3", 450.0, (*SPACES, "lstm_state/c"), 0.04,
    layers={space: (HIDDEN, depth) for depth, space in enumerate(SPACES, start=1)},
    layer_gain=GAIN,
)  # fmt: skip
FLAT = FakeModel("conv_autoencoder", "conv_ae", 350.0, ("bottleneck/code",), 0.02)


def _suite() -> FakeSuite:
    return FakeSuite(models=(LAYERED, FLAT), seeds=SEEDS, diverged=(), failed=(),
                     n_permutations=99)  # fmt: skip


@pytest.fixture(scope="module")
def layered(tmp_path_factory):
    out = tmp_path_factory.mktemp("layers") / "out"
    fake = _suite()
    write_fake_results(out, fake)
    # CKA with a planted layer effect: at depth 1 each condition's run holds
    # exactly the latents of the control's run of the same seed
    for seed in SEEDS:
        ctrl = out / "runs" / fake.run_ids[f"none/lstm3/seed{seed}"] / "latents.npz"
        with np.load(ctrl) as npz:
            first = npz[SPACES[0]]
        for condition in ("ja_lowpass", "ja_full"):
            path = out / "runs" / fake.run_ids[f"{condition}/lstm3/seed{seed}"] / "latents.npz"
            with np.load(path) as npz:
                arrays = {k: npz[k] for k in npz.files}
            arrays[SPACES[0]] = first
            np.savez(path, **arrays)
    results = load_results(out)
    return results, analyse(results, n_resamples=199, km_resamples=49)


# ---------------------------------------------------------------- declaration


def test_lstm_state_declares_each_state_a_stack_from_the_first_layer_up():
    module = NextFrameLSTM(n_features=5, hidden_size=4, num_layers=3, dropout=0.0)
    states = module.final_state(torch.zeros(2, 7, 5))
    stacks = LSTMState().layers(list(states))
    assert stacks == {
        "hidden": {"layer1.h": 1, "layer2.h": 2, "h": 3},
        "cell": {"layer1.c": 1, "layer2.c": 2, "c": 3},
    }
    assert check_layers("lstm_state", stacks, states) == stacks
    # one layer: a stack of one (the report needs two to draw a line)
    single = NextFrameLSTM(n_features=5, hidden_size=4, num_layers=1, dropout=0.0)
    assert LSTMState().layers(list(single.final_state(torch.zeros(2, 7, 5)))) == {
        "hidden": {"h": 1},
        "cell": {"c": 1},
    }


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (["a"], "must return a dict"),
        ({"": {"a": 0}}, "stack names"),
        ({"s/t": {"a": 0}}, "stack names"),
        ({"s": {}}, "must map its spaces"),
        ({"s": {"z": 0}}, "'z', which extract\\(\\) did not return \\(it returned a, b\\)"),
        ({"s": {"a": 0}, "t": {"a": 1}}, "in two stacks"),
        ({"s": {"a": -1}}, "must be an int >= 0"),
        ({"s": {"a": True}}, "must be an int >= 0"),
        ({"s": {"a": 1, "b": 1}}, "the same depth"),
    ],
)
def test_a_broken_declaration_names_the_extractor_and_what_is_wrong(declared, message):
    with pytest.raises(ContractError, match=r"latent_extractor plugin 'mine': layers\(\): "):
        check_layers("mine", declared, ["a", "b"])
    with pytest.raises(ContractError, match=message):
        check_layers("mine", declared, ["a", "b"])


# ---------------------------------------------------------------- statistics


def test_layer_scores_are_the_separability_rows_with_their_depth(layered):
    _, analysis = layered
    table = analysis.layers
    assert list(table.columns) == layers.LAYER_COLUMNS
    # only the stack of three layers: the flat model and lstm_state/c are not stacks
    assert set(table["stack"]) == {HIDDEN} and set(table["model"]) == {"lstm3"}
    assert set(table["latent_space"]) == set(SPACES)
    assert (table["n_layers"] == 3).all()
    sep = analysis.separability.set_index(["model", "condition", "latent_space", "probe", "metric"])
    for _, row in table.iterrows():
        same = sep.loc[(row["model"], row["condition"], row["latent_space"], row["probe"],
                        row["metric"])]  # fmt: skip
        for column in ("mean", "ci_low", "ci_high", "chance", "n", "inference"):
            assert same[column] == row[column] or (pd.isna(same[column]) and pd.isna(row[column]))
    assert table["inference"].eq("seeds x speakers").any()


def test_the_planted_best_layer_is_found_for_each_condition(layered):
    _, analysis = layered
    table = analysis.layers
    main = table[
        (table["probe"] == "linear_svc") & (table["metric"] == "balanced_accuracy_multiclass")
    ]
    best = main[main["best"]]
    assert dict(zip(best["condition"], best["latent_space"], strict=True)) == BEST
    # one best layer per model, condition, stack, probe and metric
    assert (
        table.groupby(["model", "condition", "stack", "probe", "metric"])["best"].sum().eq(1).all()
    )
    # the control's planted gain rises with depth, and so do its means
    ctrl = main[main["condition"] == "none"].sort_values("depth")
    assert ctrl["mean"].is_monotonic_increasing
    assert (ctrl["ci_low"] < ctrl["mean"]).all() and (ctrl["mean"] < ctrl["ci_high"]).all()


def test_best_prefers_the_lowest_value_of_a_lower_is_better_score(layered):
    results, analysis = layered
    sep = analysis.separability.copy()
    flipped = sep.assign(higher_is_better=False)
    table = layers.layer_scores(results, flipped)
    main = table[
        (table["probe"] == "linear_svc") & (table["metric"] == "balanced_accuracy_multiclass")
    ]
    worst = main.loc[main.groupby("condition")["mean"].idxmin()]
    assert set(main.loc[main["best"], "latent_space"]) == set(worst["latent_space"])


def test_cka_per_layer_pairs_each_seed_with_the_same_seed_of_the_control(layered):
    _, analysis = layered
    table = analysis.cka_layers
    assert list(table.columns) == layers.CKA_LAYER_COLUMNS
    assert set(table["stack"]) == {HIDDEN}
    paired = table[table["pairing"] == SAME_SEED]
    assert set(paired["condition"]) == {"ja_lowpass", "ja_full"}
    assert (paired["n_pairs"] == len(SEEDS)).all()
    first = paired[paired["depth"] == 1]
    # the planted effect: identical latents at depth 1, independent draws above
    np.testing.assert_allclose(first["mean_cka"], 1.0, atol=1e-6)
    deeper = paired[paired["depth"] > 1]
    assert (deeper["mean_cka"] < 0.9).all()
    assert (deeper["ci_low"] <= deeper["mean_cka"]).all()
    assert (deeper["mean_cka"] <= deeper["ci_high"]).all()
    yardstick = table[table["pairing"] == DISTINCT_SEEDS]
    assert set(yardstick["condition"]) == {"none"} and len(yardstick) == 3
    assert (yardstick["n_pairs"] == len(SEEDS) * (len(SEEDS) - 1) // 2).all()
    assert yardstick["ci_low"].isna().all()


def test_no_stack_of_two_layers_leaves_both_tables_empty(tmp_path):
    out = tmp_path / "flat"
    write_fake_results(out, FakeSuite(models=(FLAT,), seeds=(0, 1), diverged=(), failed=(),
                                      conditions=CONDITIONS[:2], n_permutations=19))  # fmt: skip
    results = load_results(out)
    analysis = analyse(results, n_resamples=99, km_resamples=19)
    assert analysis.layers.empty and list(analysis.layers.columns) == layers.LAYER_COLUMNS
    assert analysis.cka_layers.empty
    assert (
        figures.layer_figure(results, analysis, "linear_svc", "balanced_accuracy_multiclass")
        is None
    )
    assert figures.cka_layer_figure(results, analysis) is None
    assert figures.layer_tsne_figures(results, analysis) == []
    assert best_layer_sentences(results, analysis) == []


def test_runs_that_disagree_on_a_layer_leave_it_out_with_a_warning(tmp_path):
    out = tmp_path / "mixed"
    fake = FakeSuite(models=(LAYERED,), seeds=(0, 1), diverged=(), failed=(),
                     conditions=CONDITIONS[:2], n_permutations=19)  # fmt: skip
    write_fake_results(out, fake)
    results = load_results(out)
    run_id = fake.run_ids["none/lstm3/seed1"]
    record = results.records[run_id]
    moved = dataclasses.replace(record.latent_spaces[SPACES[1]], depth=7)
    spaces = {**record.latent_spaces, SPACES[1]: moved}
    results.records[run_id] = dataclasses.replace(record, latent_spaces=spaces)
    with pytest.warns(UserWarning, match="lstm_state/layer2.h"):
        declared = layers.declared_layers(results)
    assert SPACES[1] not in set(declared.loc[declared["condition"] == "none", "latent_space"])
    assert SPACES[1] in set(declared.loc[declared["condition"] != "none", "latent_space"])


# ---------------------------------------------------------------- report


def test_the_layer_figures_render_with_one_line_per_condition(layered):
    results, analysis = layered
    fig = figures.layer_figure(results, analysis, "linear_svc", "balanced_accuracy_multiclass")
    assert fig is not None
    (ax,) = fig.axes
    colours = figures.colours(results)
    lines = {line.get_label(): line for line in ax.get_lines()}
    for condition in results.conditions:
        line = lines[results.condition_label(condition)]
        assert line.get_color() == colours[condition]
        assert list(line.get_xdata()) == [1.0, 2.0, 3.0]
    assert "chance" in lines and len(ax.collections) == len(results.conditions)  # CI bands
    assert figures.png(fig).startswith(b"\x89PNG")
    cka = figures.cka_layer_figure(results, analysis)
    assert cka is not None and figures.png(cka).startswith(b"\x89PNG")
    tsne = figures.layer_tsne_figures(results, analysis)
    assert [(m, s) for m, s, _, _ in tsne] == [("lstm3", HIDDEN)]
    assert len(tsne[0][3].axes) == 3 * len(results.conditions)
    # the per-space t-SNE figure leaves the layers to the layer figure
    by_layer = set(zip(analysis.layers["model"], analysis.layers["latent_space"], strict=True))
    for model, _, fig in figures.tsne_figures(results, by_layer):
        labels = {ax.get_ylabel().replace("\n", "") for ax in fig.axes}
        assert not labels & set(SPACES) if model == "lstm3" else True


def test_the_best_layer_sentence_cites_the_rows_it_states(layered, tmp_path):
    results, analysis = layered
    sentences = best_layer_sentences(results, analysis)
    assert len(sentences) == len(results.conditions)
    table = analysis.layers
    for sentence in sentences:
        top = sentence.sources[0]
        assert isinstance(top, Source) and top.table == LAYERS
        (row,) = [r for _, r in top.rows(table.astype(str)).iterrows()]
        best = table.loc[int(row.name)]
        assert bool(best["best"])
        assert f"depth {int(best['depth'])} ({best['latent_space']})" in sentence.text
        assert (
            f"{best['mean']:.3f} [95% CI {best['ci_low']:.3f}, {best['ci_high']:.3f}]"
            in sentence.text
        )
        # every layer of the stack is cited
        assert {s.table for s in sentence.sources} == {LAYERS} and len(sentence.sources) == 3
    assert "In the lstm3's lstm_state/hidden (3 layers) under “No pretraining”" in sentences[0].text


def test_the_report_shows_the_layers_and_cites_stats_layers_csv(layered, tmp_path):
    import shutil

    from harness.report import build_report

    results, _ = layered
    out = tmp_path / "report"
    shutil.copytree(results.output_dir, out)
    html = build_report(out, n_resamples=99, km_resamples=19).read_text(encoding="utf-8")
    assert 'id="layers"' in html
    assert (
        "against layer per condition" in html
        and "Linear CKA with the control against layer" in html
    )
    cited = re.findall(r'data-source="(stats/layers\.csv[^"]*)"', html)
    assert len(cited) == 3
    table = pd.read_csv(out / "stats" / "layers.csv")
    assert list(table.columns) == layers.LAYER_COLUMNS and table["best"].sum() > 0
    assert not pd.read_csv(out / "stats" / "cka_layers.csv").empty
    assert Path(out / "report.html").is_file()


# ---------------------------------------------------------------- a real run


@pytest.fixture(scope="module")
def three_layers(tmp_path_factory):
    """The tiny suite with a three-layer LSTM, two seeds, a speaker-level probe
    and t-SNE (about 15 s on two cores)."""
    from harness.testing import run_tiny_suite

    return run_tiny_suite(
        tmp_path_factory.mktemp("three-layers"),
        models=[{"plugin": "lstm", "hidden_size": 8, "num_layers": 3}],
        probes=[{"plugin": "ridge", "n_permutations": 19}, {"plugin": "tsne", "max_iter": 250}],
        seeds=[0, 1],
    )


def test_a_three_layer_lstm_records_its_stacks_and_the_report_draws_them(three_layers):
    from harness.report import build_report

    results = three_layers
    for record in results.records.values():
        spaces = record["latent_spaces"]
        assert {n: (s["stack"], s["depth"]) for n, s in spaces.items() if s["stack"]} == {
            "lstm_state/layer1.h": ("lstm_state/hidden", 1),
            "lstm_state/layer2.h": ("lstm_state/hidden", 2),
            "lstm_state/h": ("lstm_state/hidden", 3),
            "lstm_state/layer1.c": ("lstm_state/cell", 1),
            "lstm_state/layer2.c": ("lstm_state/cell", 2),
            "lstm_state/c": ("lstm_state/cell", 3),
        }
        assert spaces["feature_stats/mean_std"]["stack"] is None
    analysis = analyse(results, n_resamples=99, km_resamples=19)
    table = analysis.layers
    # the stacks in the order the extractor returned them, not alphabetically
    assert list(dict.fromkeys(table["stack"])) == ["lstm_state/hidden", "lstm_state/cell"]
    ridge = table[table["probe"] == "ridge"]
    assert (ridge["inference"] == "seeds x speakers").any()
    assert ridge["ci_low"].notna().any()
    cka = analysis.cka_layers
    assert (
        set(cka["depth"]) == {1, 2, 3}
        and (cka.loc[cka["pairing"] == SAME_SEED, "n_pairs"] == 2).all()
    )
    assert len(figures.layer_tsne_figures(results, analysis)) == 2
    html = build_report(results.output_dir, n_resamples=99, km_resamples=19).read_text("utf-8")
    assert 'id="layers"' in html and "2-D probe coordinates per layer" in html
    assert 'data-source="stats/layers.csv: model=lstm' in html


def test_layers_are_the_same_numbers_on_a_second_run(three_layers, tmp_path):
    """Determinism: the same suite again gives the same latents at every layer."""
    from harness.testing import run_tiny_suite

    again = run_tiny_suite(
        tmp_path,
        models=[{"plugin": "lstm", "hidden_size": 8, "num_layers": 3}],
        probes=[{"plugin": "ridge", "n_permutations": 19}],
        seeds=[0],
    )
    (run_id,) = again.runs.loc[again.runs["condition"] == "none", "run_id"]
    first = three_layers.runs
    (before,) = first.loc[(first["condition"] == "none") & (first["seed"] == 0), "run_id"]
    a, b = three_layers.latents(before), again.latents(run_id)
    for space in ("lstm_state/layer1.h", "lstm_state/layer2.h", "lstm_state/h"):
        np.testing.assert_array_equal(a[space], b[space])


def test_the_layer_caption_claims_a_ci_only_where_the_probe_gives_one(layered):
    import dataclasses

    from harness.report.separability_section import _layers

    results, analysis = layered
    assert "95% CI band (seeds and probe speakers" in _layers(results, analysis)
    table = analysis.layers.copy()
    table["inference"] = "none"  # a probe without per-speaker results
    table[["ci_low", "ci_high"]] = np.nan
    said = _layers(results, dataclasses.replace(analysis, layers=table))
    assert "95% CI band" not in said and "no per-speaker results: no CI" in said
