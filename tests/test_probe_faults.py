"""A probe that raises keeps the run's training; `harness probe` re-runs only what is missing."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.plugin.registry import DISABLE_ENV, _default_registry
from harness.report import build_report
from harness.testing import run_tiny_suite

from helpers.distributions import write_distribution

FLAKY = """
import math
import os

import numpy as np

from harness import Component, Metric, Param, hookimpl
from harness.plugin.contracts import ProbeResult


class Flaky:
    def __init__(self, nan=False):
        self.nan = nan

    def run(self, latents, labels, groups, target, seed):
        if os.environ.get("FLAKY_PROBE_RAISES"):
            raise RuntimeError("the flaky probe fell over")
        share = float(np.mean(labels == target))
        return ProbeResult(metrics={"share": math.nan if self.nan else share, "chance": 0.5})


@hookimpl
def harness_probes():
    return [Component("flaky", Flaky, "raises while FLAKY_PROBE_RAISES is set",
                      params=[Param("nan", bool, False, "report NaN")],
                      metrics=[Metric("share", "share of target clips", chance="chance"),
                               Metric("chance", "one half", role="reference")])]
"""


@pytest.fixture
def flaky(tmp_path, monkeypatch):
    """The flaky probe, installed as a third-party distribution (so `harness probe` finds it)."""
    site = tmp_path / "site"
    write_distribution(site, "flaky_probe_plugin", FLAKY, "flaky-probe", "0.1", "flaky")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("HARNESS_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    _default_registry.cache_clear()
    yield
    _default_registry.cache_clear()


def test_a_raising_probe_keeps_the_training_and_harness_probe_reruns_only_it(
    flaky, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("FLAKY_PROBE_RAISES", "1")
    probes = [
        {"plugin": "linear_svc", "C": 1.0, "n_permutations": 0},
        "flaky",
        {"plugin": "flaky", "label": "nanny", "nan": True},
    ]
    results = run_tiny_suite(
        tmp_path, conditions=[{"name": "none"}], extractors=["feature_stats"], probes=probes
    )
    [run_id] = list(results.records)
    record = results.records[run_id]
    assert record["status"] in ("reached", "censored")  # what training gave, not "failed"
    errors = record["probe_errors"]
    assert errors and {e["probe"] for e in errors} == {"flaky", "nanny"}
    assert all(e["plugin"] == "flaky" and e["type"] == "RuntimeError" for e in errors)
    assert all(e["message"] == "the flaky probe fell over" for e in errors)
    assert {r["probe"] for r in record["probes"]} == {"linear_svc"}
    out = tmp_path / "out"
    report = build_report(out, n_resamples=99, km_resamples=99).read_text("utf-8")
    assert "Probe faults" in report and "the flaky probe fell over" in report
    assert f"harness probe {out}" in report

    # still broken: exit 1, naming each pair that failed again
    assert main(["probe", str(out), "--no-report"]) == 1
    said = capsys.readouterr().out
    assert f"{len(errors)} still fail:" in said
    assert "none/lstm/seed0 flaky on feature_stats/" in said and "the flaky probe fell over" in said

    # the probe's plugin is not there at all: exit 2, naming it
    monkeypatch.setenv(DISABLE_ENV, "flaky")
    _default_registry.cache_clear()
    assert main(["probe", str(out), "--no-report"]) == 2
    assert "a run's probe cannot be built: unknown probe plugin 'flaky'" in capsys.readouterr().err
    monkeypatch.delenv(DISABLE_ENV)
    _default_registry.cache_clear()

    # the probe is fixed: only its pairs run, from the stored latents
    monkeypatch.delenv("FLAKY_PROBE_RAISES")
    weights = (out / "runs" / run_id / "weights.pt").stat().st_mtime_ns
    assert main(["probe", str(out), "--no-report"]) == 0
    said = capsys.readouterr().out
    assert f"re-probed {len(errors)} (probe, latent space) pair(s) in 1 run(s)" in said
    after = json.loads((out / "runs" / run_id / "record.json").read_text())
    assert after["probe_errors"] == []
    assert after["curve"] == record["curve"] and after["status"] == record["status"]
    assert (out / "runs" / run_id / "weights.pt").stat().st_mtime_ns == weights
    old = [r for r in after["probes"] if r["probe"] == "linear_svc"]
    assert old == [r for r in record["probes"] if r["probe"] == "linear_svc"]
    flaky_rows = [r for r in after["probes"] if r["probe"] == "flaky"]
    assert {r["metric"] for r in flaky_rows} == {"share", "chance"}
    assert all(r["value"] is not None for r in flaky_rows)
    assert sorted(after["reprobed"]) == sorted(
        f"{e['probe']} on {e['latent_space']}" for e in errors
    )

    # the NaN metric is a fault of its plugin, named as such
    [warning] = [w for w in after["probe_warnings"] if w["probe"] == "nanny"][:1]
    assert warning["message"] == "probe plugin 'flaky' reported share as NaN"
    report = build_report(out, n_resamples=99, km_resamples=99).read_text("utf-8")
    assert "probe plugin &#x27;flaky&#x27; reported share as NaN" in report
    assert "the flaky probe fell over" not in report

    assert main(["probe", str(out), "--no-report"]) == 0
    assert "nothing to re-probe" in capsys.readouterr().out


def test_harness_probe_on_a_folder_without_runs_says_so(tmp_path, capsys):
    assert main(["probe", str(tmp_path)]) == 2
    assert "holds no runs/ folder" in capsys.readouterr().err


def test_a_probe_that_skips_a_seed_on_purpose_is_no_fault_and_nothing_to_reprobe(tmp_path, capsys):
    """t-SNE asked for seed 0 only: the other seed's pairs are skipped with a reason,
    not NaN faults, the report lists no probe fault, and `harness probe` finds nothing."""
    results = run_tiny_suite(
        tmp_path,
        seeds=[0, 1],
        probes=[{"plugin": "tsne", "perplexity": 5.0, "max_iter": 250, "seeds": [0]}],
    )
    by_seed = {int(r.spec["seed"]): r for r in results.records.values()}
    assert not by_seed[1].probe_warnings and not by_seed[1].probes
    assert {s.reason for s in by_seed[1].probes_skipped} == {"drawn for seed(s) [0] only"}
    assert by_seed[0].probes and not by_seed[0].probes_skipped
    stored = json.loads((results.run_dir(by_seed[1].run_id) / "record.json").read_text())
    assert [s["probe"] for s in stored["probes_skipped"]] == ["tsne"] * len(
        by_seed[1].latent_spaces
    )
    assert "probes_skipped" not in json.loads(
        (results.run_dir(by_seed[0].run_id) / "record.json").read_text()
    )
    report = build_report(results.output_dir, n_resamples=99, km_resamples=99).read_text("utf-8")
    assert "as NaN" not in report
    capsys.readouterr()
    assert main(["probe", str(results.output_dir), "--no-report"]) == 0
    assert "nothing to re-probe" in capsys.readouterr().out
