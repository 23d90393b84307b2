"""Steps to easier thresholds from the stored curves: agrees with the survival
summary at the suite threshold, never slower at easier ones, censors honestly."""

import dataclasses
import html
import re

import numpy as np
import pandas as pd
import pytest

from harness.report.html import iter_images, render
from harness.stats.analysis import analyse
from harness.stats.sensitivity import (
    SENSITIVITY_COLUMNS,
    threshold_grid,
    threshold_sensitivity,
)
from harness.stats.survival import survival_summary
from harness.tables.results import load_results

from helpers.fake_results import MODELS, FakeSuite, write_fake_results

THRESHOLD = 1.0
BUDGET = 100
EVERY = 10


def _run(run_id, condition, losses, status=None, model="m", threshold=THRESHOLD):
    """One run as runs_table and curves_table would give it: held-out loss at
    steps 0, 10, 20, ... until the loss crosses ``threshold`` (the run stops
    there) or the budget ends."""
    steps = np.arange(len(losses)) * EVERY
    losses = np.asarray(losses, dtype=float)
    below = np.flatnonzero(losses <= threshold)
    if status is None:
        status = "reached" if below.size else "censored"
    if status == "reached":
        stop = int(below[0])
        steps, losses = steps[: stop + 1], losses[: stop + 1]
    time = {"reached": steps[-1], "censored": BUDGET, "diverged": BUDGET}[status]
    run = {
        "run_id": run_id,
        "condition": condition,
        "model": model,
        "seed": int(run_id.rsplit("-", 1)[-1]),
        "status": status,
        "event": status == "reached",
        "steps_to_threshold": float(time),
        "seconds_to_threshold": float(time) / 10,
        "max_steps": float(BUDGET),
        "threshold": threshold,
    }
    curve = pd.DataFrame(
        {
            "run_id": run_id,
            "condition": condition,
            "model": model,
            "seed": run["seed"],
            "status": status,
            "step": steps,
            "heldout_loss": losses,
        }
    )
    return run, curve


def _tables(specs):
    """runs and curves tables of ``(run_id, condition, losses[, options])`` specs."""
    made = [_run(*spec[:3], **(spec[3] if len(spec) > 3 else {})) for spec in specs]
    runs = pd.DataFrame([run for run, _ in made])
    runs["event"] = runs["event"].astype("boolean")
    return runs, pd.concat([curve for _, curve in made], ignore_index=True)


def _decay(stop_at: float, n: int = 11, start: float = 2.0) -> np.ndarray:
    """A loss falling linearly from ``start`` to 1.0 at step ``stop_at`` and on."""
    steps = np.arange(n) * EVERY
    return start - (start - 1.0) * steps / stop_at


@pytest.fixture
def tables():
    rng = np.random.default_rng(3)
    specs = []
    for condition, scale in (("control", 70.0), ("fast", 40.0)):
        for seed in range(8):
            specs.append((f"{condition}-{seed}", condition, _decay(scale * rng.uniform(0.6, 1.8))))
    # a run that never learns and one that diverged after going part of the way
    specs.append(("control-8", "control", np.full(11, 1.8)))
    specs.append(("fast-8", "fast", [2.0, 1.6, 1.3, np.nan], {"status": "diverged"}))
    return _tables(specs)


def test_the_grid_runs_from_the_suite_threshold_to_the_ceiling():
    grid = threshold_grid()
    assert grid[0] == 1.0 and grid[-1] == pytest.approx(1.5) and len(grid) == 7
    assert np.all(np.diff(grid) > 0)
    assert np.allclose(grid[1:] / grid[:-1], grid[1] / grid[0])  # geometric
    with pytest.raises(ValueError):
        threshold_grid(ceiling=0.9)


def test_at_the_suite_threshold_the_medians_are_the_survival_summary(tables):
    runs, curves = tables
    table = threshold_sensitivity(runs, curves)
    assert list(table.columns) == SENSITIVITY_COLUMNS
    at_suite = table[table["relative_to_suite"] == 1.0].set_index("condition")
    summary = survival_summary(runs, ["steps"]).set_index("condition")
    assert set(at_suite.index) == {"control", "fast"}
    for column in ("n_runs", "n_reached", "median", "median_ci_low", "median_ci_high", "rmst",
                   "rmst_tau"):  # fmt: skip
        assert at_suite[column].to_dict() == pytest.approx(summary[column].to_dict()), column
    assert (at_suite["threshold"] == THRESHOLD).all()


def test_medians_never_grow_as_the_threshold_gets_easier(tables):
    runs, curves = tables
    table = threshold_sensitivity(runs, curves, n_thresholds=8, ceiling=1.8)
    for _, group in table.groupby(["model", "condition"]):
        group = group.sort_values("threshold")
        assert len(group) == 8
        assert group["relative_to_suite"].iloc[-1] == pytest.approx(1.8)
        for column in ("median", "rmst"):
            assert np.all(np.diff(group[column].to_numpy()) <= 0), column
        assert np.all(np.diff(group["n_reached"].to_numpy()) >= 0)
    # the easier thresholds change something: fast runs cross sooner at 1.8x
    fast = table[table["condition"] == "fast"].sort_values("threshold")
    assert fast["median"].iloc[-1] < fast["median"].iloc[0]


def test_a_curve_that_never_gets_there_is_censored(tables):
    runs, curves = tables
    table = threshold_sensitivity(runs, curves, n_thresholds=8, ceiling=1.8)
    grid = threshold_grid(8, 1.8)
    # a run is an event at t exactly when its curve gets to t or below
    lowest = curves.groupby("run_id")["heldout_loss"].min()
    for condition in ("control", "fast"):
        mine = lowest[runs.loc[runs["condition"] == condition, "run_id"]]
        expected = [int((mine <= THRESHOLD * r).sum()) for r in grid]
        rows = table[table["condition"] == condition]
        assert rows["n_reached"].tolist() == expected, condition
        assert rows["n_runs"].eq(9).all()
    # the run stuck at 1.8 is censored below 1.8x (at the budget: the RMST
    # counts it in full), and at 1.8x was already there at step 0
    control = table[table["condition"] == "control"]
    assert (control["n_runs"] - control["n_reached"]).iloc[:-1].ge(1).all()
    stuck = threshold_sensitivity(runs[runs["run_id"] == "control-8"], curves, 8, 1.8)
    assert stuck["n_reached"].tolist() == [0] * 7 + [1]
    assert stuck["rmst"].tolist() == [BUDGET] * 7 + [0]
    # the diverged run got to 1.3 before diverging: an event from 1.3x on
    fast = table[table["condition"] == "fast"].set_index("relative_to_suite")
    assert fast["n_reached"].to_numpy().tolist() == [8 + int(r >= 1.3) for r in grid]


def test_every_run_censored_gives_no_median():
    runs, curves = _tables([(f"c-{seed}", "c", np.full(11, 3.0)) for seed in range(4)])
    table = threshold_sensitivity(runs, curves)
    assert table["n_reached"].eq(0).all()
    assert np.isinf(table["median"]).all()
    assert table["rmst"].eq(BUDGET).all()


def test_an_untrained_model_already_below_the_threshold_is_an_event_at_step_0():
    runs, curves = _tables(
        [("c-0", "c", [0.9]), ("c-1", "c", [1.2, 0.8]), ("c-2", "c", [1.4, 1.2, 1.1, 0.9])]
    )
    table = threshold_sensitivity(runs, curves).set_index("relative_to_suite")
    assert table.loc[1.0, "n_reached"] == 3
    assert table.loc[1.0, "median"] == 10
    assert table.loc[1.0, "rmst"] == pytest.approx((0 + 10 + 30) / 3)
    # at 1.5 (threshold 1.5) every run is below it before training
    assert table["median"].iloc[-1] == 0 and table["rmst"].iloc[-1] == 0


def test_failed_runs_and_runs_without_a_curve_are_left_out(tables):
    runs, curves = tables
    failed = runs.iloc[[0]].assign(run_id="control-9", status="failed", event=pd.NA,
                                   steps_to_threshold=np.nan)  # fmt: skip
    no_curve = runs.iloc[[0]].assign(run_id="control-10")
    more = pd.concat([runs, failed, no_curve], ignore_index=True)
    pd.testing.assert_frame_equal(
        threshold_sensitivity(more, curves), threshold_sensitivity(runs, curves)
    )


def test_models_with_different_thresholds_use_the_largest():
    runs, curves = _tables(
        [
            ("a-0", "c", [2.0, 1.5, 1.0], {"threshold": 1.0}),
            ("a-1", "c", [2.0, 1.1, 0.8], {"threshold": 0.8}),
            ("b-2", "c", [2.0, 1.0], {"model": "other", "threshold": 1.0}),
        ]
    )
    table = threshold_sensitivity(runs, curves)
    first = table[table["relative_to_suite"] == 1.0].set_index("model")
    assert first.loc["m", "threshold"] == 1.0 and first.loc["other", "threshold"] == 1.0
    # the run with threshold 0.8 passed 1.0 at step 20, where it stopped
    assert first.loc["m", "n_reached"] == 2 and first.loc["m", "median"] == 20


def test_no_curves_give_an_empty_table(tables):
    runs, curves = tables
    empty = threshold_sensitivity(runs, curves.iloc[0:0])
    assert empty.empty and list(empty.columns) == SENSITIVITY_COLUMNS


# ---------------------------------------------------------------- the report


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = write_fake_results(
        tmp_path_factory.mktemp("sensitivity"),
        FakeSuite(models=MODELS[:1], seeds=(0, 1, 2, 3), tsne=False),
    )
    results = load_results(folder)
    analysis = analyse(results, n_resamples=99, km_resamples=49)
    return results, analysis, render(results, analysis)


def _text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_the_report_shows_the_sensitivity_after_the_convergence(report):
    results, analysis, page = report
    start = page.index('<section id="sensitivity">')
    assert page.index('id="convergence"') < start < page.index('id="separability"')
    section = page[start : page.index("</section>", start)]
    assert len(list(iter_images(section))) == 1
    text = _text(section)
    assert "Sensitivity to the threshold" in text
    assert "at or above the suite's" in text
    # the sentences are the table's numbers
    table = analysis.threshold_sensitivity
    rows = table[(table["model"] == "lstm") & (table["relative_to_suite"] == 1.0)]
    median = rows.set_index("condition")["median"]
    label = results.condition_label("ja_lowpass")
    assert (
        f"With “{label}” the {results.model_label('lstm')} has a median of {median['ja_lowpass']:.0f} steps against "
        f"{median['none']:.0f} for the control at the suite threshold"
    ) in text


def test_without_curves_there_is_no_sensitivity_section(report):
    results, analysis, _ = report
    empty = analysis.threshold_sensitivity.iloc[0:0]
    page = render(results, dataclasses.replace(analysis, threshold_sensitivity=empty))
    assert 'id="sensitivity"' not in page
