"""The report's figures and names: one colour per condition everywhere, bands
that stay within their measure's range, heatmap labels that do not collide,
no repeated baseline row, and labels instead of identifiers."""

import dataclasses
import html
import itertools
import re

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.text import Text

from harness.report import figures
from harness.report.html import render
from harness.report.separability_section import _separability_tables
from harness.stats.analysis import analyse
from harness.tables.results import load_results

from helpers.fake_results import BASELINE_SPACE, flagship_suite, write_fake_results


@pytest.fixture(scope="module")
def flagship(tmp_path_factory):
    folder = write_fake_results(tmp_path_factory.mktemp("flagship"), flagship_suite())
    results = load_results(folder)
    return results, analyse(results, n_resamples=99, km_resamples=49)


def _hex(colour) -> str:
    return mcolors.to_hex(colour).lower()


def test_ten_conditions_get_ten_distinct_colours_and_the_control_is_grey():
    names = [f"c{i}" for i in range(10)]
    mapping = figures.condition_colours(names, control="c3")
    assert len(set(mapping.values())) == 10
    assert mapping["c3"] == figures.CONTROL_COLOUR
    # the same condition order gives the same colours; the control's never moves
    assert figures.condition_colours(names, "c3") == mapping
    assert figures.condition_colours(["c3", "x"], "c3")["c3"] == figures.CONTROL_COLOUR


def _condition_figures(results, analysis):
    yield "kaplan-meier", figures.kaplan_meier_figure(results, analysis)
    yield "learning curves", figures.learning_curve_figure(results, analysis)
    yield "threshold sensitivity", figures.threshold_sensitivity_figure(results, analysis)
    yield (
        "separability",
        figures.separability_figure(
            results, analysis, "linear_svc", "balanced_accuracy_multiclass"
        ),
    )


def test_every_figure_colours_a_condition_through_the_one_mapping(flagship, monkeypatch):
    results, analysis = flagship
    # a mapping no figure could produce by itself: if a figure picked its own
    # colours, a legend entry would not match it
    odd = [f"#{k:02x}{255 - k:02x}{(k * 37) % 256:02x}" for k in range(1, 40, 6)]
    mapping = dict(zip(results.conditions, odd, strict=False))
    monkeypatch.setattr(figures, "colours", lambda _: mapping)
    by_label = {results.condition_label(c): colour for c, colour in mapping.items()}
    for name, fig in _condition_figures(results, analysis):
        assert fig is not None, name
        shown = {}
        for legend in fig.legends:
            for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
                colour = (
                    handle.get_color() if hasattr(handle, "get_color") else handle.get_facecolor()
                )
                shown[text.get_text()] = _hex(colour)
        assert {k: v for k, v in shown.items() if k in by_label} == by_label, name


def test_kaplan_meier_gives_each_condition_a_panel_beside_the_control(flagship):
    results, analysis = flagship
    fig = figures.kaplan_meier_figure(results, analysis)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    others = len(results.conditions) - 1
    assert len(panels) == len(results.models) * others
    grey = _hex(figures.CONTROL_COLOUR)
    for ax in panels:
        bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
        colours = {_hex(b.get_facecolor()[0]) for b in bands}
        # two bands a panel: the control's and one condition's
        assert len(bands) == 2 and grey in colours and len(colours) == 2


def test_learning_curves_name_the_measure_and_keep_bands_above_zero(flagship):
    results, analysis = flagship
    lc = analysis.learning_curves.copy()
    # a t-interval that reaches below zero, as an MSE near its floor can get
    lc["ci_low"] = lc["mean"] - 2 * lc["mean"]
    lc["ci_high"] = lc["mean"] + 2 * lc["mean"]
    fig = figures.learning_curve_figure(results, dataclasses.replace(analysis, learning_curves=lc))
    labels = {
        ax.get_title().split(":")[0]: ax.get_ylabel().replace("\n", " ")
        for ax in fig.axes
        if ax.get_visible() and ax.get_ylabel()
    }
    assert "MSE of the next frame" in labels["LSTM"]
    assert "reconstruction MSE" in labels["convolutional autoencoder"]
    for ax in (ax for ax in fig.axes if ax.get_visible()):
        assert ax.get_yscale() == "log"
        for band in ax.collections:
            ys = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
            assert np.all(ys[np.isfinite(ys)] > 0)


def test_learning_curves_give_each_condition_a_panel_beside_the_control(flagship):
    results, analysis = flagship
    fig = figures.learning_curve_figure(results, analysis)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == len(results.models) * (len(results.conditions) - 1)
    grey = _hex(figures.CONTROL_COLOUR)
    for ax in panels:
        bands = {
            _hex(b.get_facecolor()[0]) for b in ax.collections if isinstance(b, PolyCollection)
        }
        assert len(bands) == 2 and grey in bands
    # a model's panels share one y axis (one loss); the two models' do not
    lstm = [ax for ax in panels if ax.get_title().startswith("LSTM")]
    other = [ax for ax in panels if not ax.get_title().startswith("LSTM")]
    assert len({ax.get_ylim() for ax in lstm}) == 1
    assert lstm[0].get_ylim() != other[0].get_ylim()


def test_an_accuracy_band_stays_within_zero_and_one():
    mean = np.array([0.02, 0.5, 0.97])
    low, high = figures.bounded_band(mean, mean - 0.3, mean + 0.3, (0.0, 1.0))
    assert np.all(low > 0) and np.all(high < 1) and np.all(low < mean) and np.all(mean < high)
    low, high = figures.bounded_band(mean, mean - 0.3, mean + 0.3, (0.0, np.inf))
    assert np.all(low > 0) and np.all(low < mean) and np.all(mean < high)


def test_a_classifier_curve_is_labelled_with_its_metric(flagship):
    results, _ = flagship
    runs = results.runs.copy()
    runs["metric"] = "balanced_accuracy"
    classify = dataclasses.replace(results, runs=runs)
    assert figures.heldout_label(classify, "lstm") == "held-out balanced accuracy"


def _corners(text, renderer) -> np.ndarray:
    """The four corners of ``text``'s box as drawn, in pixels: the box it has
    unrotated, turned about its anchor (exact for rotation_mode "anchor" and for
    unrotated text, where an axis-aligned box would overstate a slanted label)."""
    angle = text.get_rotation()
    text.set_rotation(0)
    box = text.get_window_extent(renderer)
    text.set_rotation(angle)
    anchor = text.get_transform().transform(text.get_position())
    corners = np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
    if text.get_rotation_mode() != "anchor":
        assert angle == 0, "a rotated label is checked only when rotated about its anchor"
    theta = np.deg2rad(angle)
    turn = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return (corners - anchor) @ turn.T + anchor


def _intersect(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two convex polygons overlap (separating axis test; touching is not overlap)."""
    for polygon in (a, b):
        for i in range(len(polygon)):
            edge = polygon[(i + 1) % len(polygon)] - polygon[i]
            axis = np.array([-edge[1], edge[0]])
            pa, pb = a @ axis, b @ axis
            if pa.max() <= pb.min() + 1e-6 or pb.max() <= pa.min() + 1e-6:
                return False
    return True


def _overlaps(texts, renderer):
    boxes = [(t.get_text(), _corners(t, renderer)) for t in texts]
    return [(a, b) for (a, pa), (b, pb) in itertools.combinations(boxes, 2) if _intersect(pa, pb)]


def test_the_overlap_check_sees_colliding_labels():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    ax = fig.subplots()
    long = "noise shaped like Spanish, low-pass 500 Hz"
    ax.set_xticks(range(3), [long] * 3)  # unrotated long labels collide
    fig.draw_without_rendering()
    assert _overlaps(ax.get_xticklabels(), fig._get_renderer())
    ax.set_xticks(range(3), ["a", "b", "c"], rotation=45, ha="right", rotation_mode="anchor")
    fig.draw_without_rendering()
    assert _overlaps(ax.get_xticklabels(), fig._get_renderer()) == []


def test_heatmap_labels_do_not_overlap(flagship):
    results, analysis = flagship
    fig = figures.cka_figure(results, analysis)
    # shown on a 900 px window, the page is about 840 px wide: the figure is
    # drawn no wider than 10 inches (1000 px), so its 9-point labels stay legible
    assert fig.get_figwidth() <= 10
    fig.draw_without_rendering()
    renderer = fig._get_renderer()
    # every piece of text but the numbers inside the cells
    cells = {id(t) for ax in fig.axes for t in ax.texts}
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()
             and id(t) not in cells]  # fmt: skip
    # three panels' condition names under them and the first panel's beside it
    assert len(texts) > 4 * len(results.conditions)
    assert _overlaps(texts, renderer) == []
    assert all(len(t.get_text().split("\n")) <= 2 for ax in fig.axes for t in ax.get_xticklabels())
    key = figures.label_key(results)
    assert "noise-lp500 = noise shaped like Spanish, low-pass 500 Hz" in key


def test_the_model_free_baseline_row_appears_once(flagship):
    results, analysis = flagship
    sep = analysis.separability.copy()
    base = sep["is_baseline"].astype(bool)
    # the baseline scores the same clips' features under every condition and model
    numbers = [c for c in sep.columns if sep[c].dtype.kind == "f"]
    for _, group in sep[base].groupby(["probe", "metric"]):
        sep.loc[group.index, numbers] = group[numbers].iloc[0].to_numpy()
    page = _separability_tables(
        results,
        dataclasses.replace(analysis, separability=sep),
        "linear_svc",
        "balanced_accuracy_multiclass",
    )
    separability_table = page.split("<table>")[2]
    rows = [r for r in separability_table.split("<tr") if BASELINE_SPACE in r]
    assert len(rows) == 1
    assert "every model" in rows[0] and "every condition" in rows[0]
    # model rows stay one per model and condition
    assert separability_table.count("lstm_state/h") == len(results.conditions)


def test_prose_and_legends_use_labels_not_identifiers(flagship):
    results, analysis = flagship
    page = render(results, analysis)
    # the resolved settings quote the suite as run; everything before them is for readers
    readers = page[: page.index('id="methods"')]
    text = html.unescape(re.sub(r"<[^>]+>", " ", readers))
    for identifier in ("conv_autoencoder", "balanced_accuracy_multiclass", "balanced_accuracy_target",
                       "the lstm"):  # fmt: skip
        assert identifier not in text
    assert "convolutional autoencoder" in text and "balanced accuracy (all languages)" in text
    for fig in (figures.separability_figure(results, analysis, "linear_svc",
                                            "balanced_accuracy_multiclass"),
                figures.kaplan_meier_figure(results, analysis)):  # fmt: skip
        drawn = " ".join(t.get_text() for t in fig.findobj(Text))
        assert "conv_autoencoder" not in drawn and "balanced_accuracy" not in drawn


def test_names_fall_back_to_the_identifier_humanised(flagship):
    from harness.plugin.names import component_title, humanise, metric_label

    results, _ = flagship
    assert humanise("some_new_metric") == "some new metric"
    assert metric_label("some_new_metric") == "some new metric"
    assert component_title("model", "not_installed") == "not installed"
    assert results.model_label("lstm") == "LSTM"
    assert results.metric_label("balanced_accuracy_target") == (
        "balanced accuracy (target language vs rest)"
    )


def test_a_suite_of_the_control_alone_gets_one_kaplan_meier_panel_per_model(tmp_path):
    from helpers.fake_results import CONDITIONS, FakeSuite

    suite = FakeSuite(conditions=CONDITIONS[:1], seeds=(0, 1, 2), diverged=(), failed=())
    results = load_results(write_fake_results(tmp_path / "alone", suite))
    analysis = analyse(results, n_resamples=49, km_resamples=19)
    fig = figures.kaplan_meier_figure(results, analysis)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == len(results.models)


# ---------------------------------------------------------------- colours

#: Machado, Oliveira & Fernandes (2009), severity 1: linear-RGB simulation of
#: protanopia, deuteranopia and tritanopia
_DICHROMACY = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}  # fmt: skip


def _linear(colour: str) -> np.ndarray:
    c = np.asarray(mcolors.to_rgb(colour))
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _contrast_on_white(colour: str) -> float:
    """WCAG 2.1's contrast ratio of ``colour`` against white."""
    luminance = float(_linear(colour) @ [0.2126, 0.7152, 0.0722])
    return 1.05 / (luminance + 0.05)


def _lab(linear: np.ndarray) -> np.ndarray:
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ np.clip(linear, 0, 1)  # fmt: skip
    t = xyz / [0.95047, 1.0, 1.08883]
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _closest_pair(colours) -> dict[str, float]:
    """The smallest CIELAB distance between two of ``colours``, for normal
    vision and each simulated dichromacy."""
    out = {}
    for vision, matrix in [("normal", np.eye(3)), *_DICHROMACY.items()]:
        labs = [_lab(np.asarray(matrix) @ _linear(c)) for c in colours]
        out[vision] = min(float(np.linalg.norm(a - b)) for a, b in itertools.combinations(labs, 2))
    return out


def test_every_colour_stands_out_on_white_and_for_colour_blind_readers():
    for colour in (*figures.PALETTE, figures.CONTROL_COLOUR, *figures.LANGUAGE_PALETTE):
        assert _contrast_on_white(colour) >= 3.0, colour
    for palette in ((*figures.PALETTE, figures.CONTROL_COLOUR), figures.LANGUAGE_PALETTE):
        closest = _closest_pair(palette)
        assert min(closest.values()) >= 15, closest


def test_the_colour_checks_can_fail():
    """The old scheme (Paul Tol's "muted" and the grey) fails both: its pale
    sand ("Spanish, full band") and cyan on white, and two of its colours that
    a deuteranope barely tells apart, though they are distinct to normal vision."""
    assert _contrast_on_white("#DDCC77") < 2 and _contrast_on_white("#88CCEE") < 2
    assert _contrast_on_white("#000000") == pytest.approx(21.0)
    old = ("#332288", "#CC6677", "#44AA99", "#DDCC77", "#882255", "#88CCEE", "#117733",
           "#AA4499", "#999933", "#5F5F5F")  # fmt: skip
    closest = _closest_pair(old)
    assert closest["deuteranopia"] < 10 < 15 < closest["normal"]


def test_the_control_is_drawn_on_top_and_dashed(flagship):
    """Where a condition's curve coincides with the control's, the control's
    dashes still show: its line is drawn last, above, in another style."""
    results, analysis = flagship
    grey = _hex(figures.CONTROL_COLOUR)
    for fig in (figures.kaplan_meier_figure(results, analysis),
                figures.learning_curve_figure(results, analysis)):  # fmt: skip
        for ax in (ax for ax in fig.axes if ax.get_visible()):
            lines = [ln for ln in ax.get_lines() if ln.get_linestyle() not in ("None", "")]
            control = [ln for ln in lines if _hex(ln.get_color()) == grey]
            other = [ln for ln in lines if _hex(ln.get_color()) not in (grey, "#999999")]
            assert len(control) == 1 and len(other) == 1
            assert control[0].get_zorder() > other[0].get_zorder()
            assert control[0].get_linestyle() == "--" and other[0].get_linestyle() == "-"


def test_the_figures_beside_the_control_are_compact(flagship):
    """Five panels a row: the flagship's two models and five conditions take
    two rows, about half a laptop screen, not four."""
    results, analysis = flagship
    for fig in (figures.kaplan_meier_figure(results, analysis),
                figures.learning_curve_figure(results, analysis)):  # fmt: skip
        assert fig.get_figheight() * figures.DPI <= 560
        assert fig.get_figwidth() <= 10
    cka = figures.cka_figure(results, analysis)
    assert cka.get_figheight() * figures.DPI <= 450


def test_a_second_merged_row_still_says_every_condition():
    """Two models' model-free baseline rows each merge into one row naming
    "every condition", not a ten-line list of every condition's label."""
    from harness.report.markup import merge_repeats

    conditions = ["a", "b", "c"]
    frame = pd.DataFrame({
        "model": ["m1"] * 3 + ["m2"] * 3,
        "condition": conditions * 2,
        "latent_space": ["base"] * 6,
        "mean": [0.5] * 3 + [0.6] * 3,
    })  # fmt: skip
    columns = [("model", "model"), ("condition", "condition"), ("space", "latent_space"),
               ("mean", "mean")]  # fmt: skip
    merged = merge_repeats(frame, columns, [("condition", "condition")], frame["mean"] > 0)
    assert merged["condition"].tolist() == ["every condition", "every condition"]


def test_two_metrics_with_the_same_layer_numbers_get_one_figure(flagship):
    """With two languages "all languages" and "target vs rest" are one task:
    the same numbers layer by layer, drawn once."""
    layers = pd.DataFrame({
        "model": ["m"] * 4, "stack": ["s"] * 4, "condition": ["c"] * 4,
        "depth": [1, 2, 1, 2], "probe": ["p"] * 4,
        "metric": ["multi", "multi", "target", "target"],
        "mean": [0.6, 0.7, 0.6, 0.7], "ci_low": [0.5, 0.6, 0.5, 0.6],
        "ci_high": [0.7, 0.8, 0.7, 0.8],
    })  # fmt: skip
    _, analysis = flagship
    same = dataclasses.replace(analysis, layers=layers)
    pairs = [("p", "multi"), ("p", "target")]
    assert figures.distinct_layer_metrics(same, pairs) == [("p", "multi")]
    layers.loc[3, "mean"] = 0.75
    differ = dataclasses.replace(analysis, layers=layers)
    assert figures.distinct_layer_metrics(differ, pairs) == pairs


def test_a_metric_with_an_earlier_metrics_scores_is_named_not_drawn_again():
    import pandas as pd

    from harness.report.figures import same_scores_as

    rows = []
    for metric, shift in (("all", 0.0), ("target_vs_rest", 0.0), ("other", 0.1)):
        for condition in ("none", "lp"):
            rows.append({"probe": "ridge", "metric": metric, "model": "m", "condition": condition,
                         "latent_space": "h", "mean": 0.6 + shift, "ci_low": 0.5, "ci_high": 0.7})  # fmt: skip
    table, keys = pd.DataFrame(rows), ["model", "condition", "latent_space"]
    assert same_scores_as(table, keys, ("ridge", "all"), []) is None
    assert same_scores_as(table, keys, ("ridge", "target_vs_rest"), [("ridge", "all")]) == (
        "ridge",
        "all",
    )
    assert same_scores_as(table, keys, ("ridge", "other"), [("ridge", "all")]) is None
