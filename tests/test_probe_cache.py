"""Probe results on model-free latents are computed once per seed and reused."""

import numpy as np

from harness.plugin.contracts import ProbeResult
from harness.run.probe_cache import FOLDER, cached_probe, probe_key

from helpers.tones import Centroid, run, specs

X = np.random.default_rng(0).random((12, 4)).astype(np.float32)
LABELS = np.array(["aa", "bb"] * 6)
GROUPS = np.array([f"s{i % 4}" for i in range(12)])
PROBE = {"plugin": "centroid", "label": "centroid", "params": {}, "source": "tests 0"}


def test_same_inputs_compute_once_and_return_the_same_numbers(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return ProbeResult(
            metrics={"acc": 0.75, "p": float("nan")},
            artifacts={"coords": np.arange(6.0).reshape(3, 2)},
            details={"folds": [0.5, 1.0]},
        )

    key = probe_key(X, LABELS, GROUPS, "aa", 3, PROBE)
    first = cached_probe(tmp_path, key, compute)
    second = cached_probe(tmp_path, key, compute)
    assert len(calls) == 1
    assert second.metrics["acc"] == 0.75 and np.isnan(second.metrics["p"])
    assert second.details == {"folds": [0.5, 1.0]}
    np.testing.assert_array_equal(second.artifacts["coords"], first.artifacts["coords"])
    assert not list((tmp_path / FOLDER).glob(".tmp-*"))


def test_anything_a_probe_depends_on_changes_the_key():
    base = probe_key(X, LABELS, GROUPS, "aa", 3, PROBE)
    assert probe_key(X, LABELS, GROUPS, "aa", 3, dict(PROBE)) == base
    changed = [
        probe_key(X + 1e-3, LABELS, GROUPS, "aa", 3, PROBE),
        probe_key(X, LABELS[::-1], GROUPS, "aa", 3, PROBE),
        probe_key(X, LABELS, GROUPS[::-1], "aa", 3, PROBE),
        probe_key(X, LABELS, GROUPS, "bb", 3, PROBE),
        probe_key(X, LABELS, GROUPS, "aa", 4, PROBE),
        probe_key(X, LABELS, GROUPS, "aa", 3, {**PROBE, "params": {"k": 2}}),
        probe_key(X, LABELS, GROUPS, "aa", 3, {**PROBE, "source": "tests 1"}),
    ]
    assert base not in changed and len(set(changed)) == len(changed)


def test_runs_probe_the_baseline_once_per_seed(tmp_path, tones_registry, monkeypatch):
    seen = []
    original = Centroid.run

    def counting(self, latents, labels, groups, target, seed):
        seen.append((latents.shape[1], seed))
        return original(self, latents, labels, groups, target, seed)

    monkeypatch.setattr(Centroid, "run", counting)
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "fresh-cache"))
    runs = [s for s in specs(tmp_path, tones_registry) if s.seed == 0]
    assert len(runs) == 4  # 2 conditions x 2 models
    records = [run(spec, tmp_path / f"r{i}", tones_registry) for i, spec in enumerate(runs)]

    baseline = [[r for r in rec["probes"] if r["extractor"] == "feature_stats"] for rec in records]
    assert baseline[0] and all(rows == baseline[0] for rows in baseline)
    # the baseline (mean and std of 12 mels: 24 dims) is probed in the first run only;
    # every run probes its own model latents
    assert [dim for dim, _ in seen].count(24) == 1
    model_spaces = sum(len({r["latent_space"] for r in rec["probes"]}) - 1 for rec in records)
    assert len(seen) == 1 + model_spaces


def test_a_probe_whose_code_changed_does_not_reuse_results_of_the_old_code(
    tmp_path, tones_registry, monkeypatch
):
    from harness.run import probes

    seen = []
    original = Centroid.run

    def counting(self, latents, labels, groups, target, seed):
        seen.append(latents.shape[1])
        return original(self, latents, labels, groups, target, seed)

    monkeypatch.setattr(Centroid, "run", counting)
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "fresh-cache"))
    spec = next(s for s in specs(tmp_path, tones_registry) if s.seed == 0)
    run(spec, tmp_path / "old", tones_registry)
    monkeypatch.setattr(probes, "_module_code", lambda module: "edited code")
    run(spec, tmp_path / "new", tones_registry)
    assert seen.count(24) == 2  # the baseline probed again by the edited probe
