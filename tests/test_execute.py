"""One run end to end on synthetic data: record, arrays, determinism, censoring, divergence.

The dataset, filter and probe are small fakes (tests/helpers/tones.py) registered
next to the real models and extractors, so these tests depend on no other plugin's
parameters; splits and features are the real core modules.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from harness.output.store import RECORD
from harness.plugin.contracts import ContractError
from harness.running.runner import run_one

from helpers.tones import run, specs

torch.set_num_threads(1)


def without_timings(record: dict) -> dict:
    record = json.loads(json.dumps(record))
    for key in (
        "started",
        "wall_seconds",
        "phase_seconds",
        "environment",
        "cpu_seconds",
        "load_average",
    ):
        record.pop(key)
    for key in ("seconds", "train_seconds", "pretrain_seconds"):
        record["convergence"].pop(key)
    record["curve"].pop("seconds")
    return record


def test_tiny_suite_records_every_run(tmp_path, tones_registry):
    runs = specs(tmp_path, tones_registry)
    assert len(runs) == 8  # 2 conditions x 2 models x 2 seeds
    thresholds: dict[str, set[float]] = {}
    for i, spec in enumerate(runs):
        folder = tmp_path / f"run{i}"
        record = run(spec, folder, tones_registry)
        json.dumps(record, allow_nan=False)  # JSON-ready, no NaN
        assert record["run_id"] == spec.run_id and record["status"] in {"reached", "censored"}
        assert record["error"] is None
        # what the wall seconds ran under: the process's CPU time and the machine's load
        assert record["cpu_seconds"] > 0 and record["environment"]["cpu_count"] >= 1
        for when in ("start", "end"):
            load = record["load_average"][when]
            assert len(load) == 3 and all(x >= 0 for x in load)

        conv = record["convergence"]
        assert conv["reached"] == (record["status"] == "reached")
        # relative: a fraction of the model's untrained loss averaged over the suite's seeds
        assert spec.reference_seeds == (0, 1)
        losses = conv["reference_losses"]
        assert conv["reference_heldout_loss"] == pytest.approx(sum(losses) / 2)
        assert conv["threshold"] == pytest.approx(0.7 * conv["reference_heldout_loss"])
        assert losses[spec.seed] == conv["initial_heldout_loss"]  # the run's own, as measured
        thresholds.setdefault(spec.model.plugin, set()).add(conv["threshold"])
        assert conv["steps"] <= 40 and conv["examples"] == conv["steps"] * 8
        pretrains = spec.condition.pretrains
        assert (conv["pretrain_steps"] > 0) == pretrains
        assert (conv["pretrain_examples"] > 0) == pretrains
        assert conv["pretrain_examples"] <= conv["pretrain_steps"] * 8
        curve = record["curve"]
        assert len({len(v) for v in curve.values()}) == 1 and curve["step"][0] == 0
        assert curve["step"][-1] == conv["steps"]

        counts = record["data"]["counts"]
        assert counts["train"]["aa"]["speakers"] == 2 and counts["heldout"]["aa"]["speakers"] == 1
        assert set(counts["pretrain"]) == ({"bb"} if pretrains else set())
        clip_ids = record["data"]["probe_clips"]["clip_id"]
        assert set(record["data"]["probe_clips"]["language"]) == {"aa", "bb", "cc"}

        latents = np.load(folder / record["artifacts"]["latents"])
        expected = {"feature_stats/mean_std"}
        if spec.model.plugin == "lstm":
            expected |= {"lstm_state/h", "lstm_state/c"}
            assert latents["lstm_state/h"].shape == (len(clip_ids), 12)
            assert [s["extractor"] for s in record["extractors_skipped"]] == ["bottleneck"]
        else:
            expected |= {"bottleneck/code"}
            assert latents["bottleneck/code"].shape == (len(clip_ids), 6)
        assert set(latents.files) == expected
        assert latents["feature_stats/mean_std"].shape == (len(clip_ids), 24)

        rows = record["probes"]
        assert {(r["latent_space"], r["metric"]) for r in rows} == {
            (space, metric) for space in expected for metric in ("accuracy", "chance")
        }
        assert all(r["probe"] == "centroid" and r["higher_is_better"] for r in rows)
        assert all(r["extractor"] == r["latent_space"].split("/")[0] for r in rows)
        assert {d["latent_space"] for d in record["probe_details"]} == expected
        arrays = np.load(folder / record["artifacts"]["probe_artifacts"])
        assert set(arrays.files) == {f"{space}/centroid/centroids" for space in expected}

        weights = torch.load(folder / record["artifacts"]["weights"], weights_only=True)
        model = tones_registry.get("model", spec.model.plugin).create(**spec.model.params)
        model.build(12, 20).load_state_dict(weights)
        assert record["environment"]["torch"] and record["environment"]["device"] == "cpu"
        phases = record["phase_seconds"]
        assert list(phases) == ["data", "features", "training", "latents", "probes"]
        assert sum(phases.values()) <= record["wall_seconds"]
    # one threshold per model, the same in every condition and seed
    assert {model: len(values) for model, values in thresholds.items()} == {
        "lstm": 1,
        "conv_autoencoder": 1,
    }


def test_pretraining_condition_shares_probe_clips_and_threshold_with_control(
    tmp_path, tones_registry
):
    runs = [s for s in specs(tmp_path, tones_registry, max_steps=10) if s.model.plugin == "lstm"]
    control, pretrained = (s for s in runs if s.seed == 0)
    a = run(control, tmp_path / "a", tones_registry)
    b = run(pretrained, tmp_path / "b", tones_registry)
    assert a["data"]["probe_clips"] == b["data"]["probe_clips"]
    assert a["convergence"]["threshold"] == b["convergence"]["threshold"]
    assert a["curve"]["heldout_loss"][0] != b["curve"]["heldout_loss"][0]


def test_same_seed_gives_the_same_record_and_arrays(tmp_path, tones_registry):
    spec = next(s for s in specs(tmp_path, tones_registry) if s.condition.pretrains and s.seed == 1)
    first = run(spec, tmp_path / "first", tones_registry)
    second = run(spec, tmp_path / "second", tones_registry)
    assert without_timings(first) == without_timings(second)
    for name in ("latents.npz", "probe_artifacts.npz"):
        one, two = np.load(tmp_path / "first" / name), np.load(tmp_path / "second" / name)
        assert one.files == two.files
        for key in one.files:
            np.testing.assert_array_equal(one[key], two[key])
    other = next(
        s for s in specs(tmp_path, tones_registry) if s.condition.pretrains and s.seed == 0
    )
    assert without_timings(run(other, tmp_path / "other", tones_registry)) != without_timings(first)


def test_unreachable_threshold_is_censored(tmp_path, tones_registry):
    spec = specs(tmp_path, tones_registry, threshold=1e-9, mode="absolute", max_steps=15)[0]
    record = run(spec, tmp_path / "run", tones_registry)
    assert record["status"] == "censored"
    assert record["convergence"]["steps"] == 15 and not record["convergence"]["reached"]
    assert record["curve"]["step"] == [0, 10, 15]


def test_divergence_is_recorded_with_model_free_latents_only(tmp_path, tones_registry):
    spec = specs(tmp_path, tones_registry, lr=1e30, threshold=1e-9, mode="absolute")[0]
    record = run(spec, tmp_path / "run", tones_registry)
    json.dumps(record, allow_nan=False)
    assert record["status"] == "diverged"
    assert record["convergence"]["diverged_step"] >= 1
    assert record["convergence"]["final_heldout_loss"] is None
    assert {r["latent_space"] for r in record["probes"]} == {"feature_stats/mean_std"}
    reasons = {s["extractor"]: s["reason"] for s in record["extractors_skipped"]}
    assert reasons["lstm_state"] == "the run diverged"


def test_a_filter_breaking_its_contract_fails_the_run(tmp_path, tones_registry):
    spec = next(
        s for s in specs(tmp_path, tones_registry, filter='"truncating"') if s.condition.pretrains
    )
    with pytest.raises(ContractError, match="truncating"):
        run(spec, tmp_path / "run", tones_registry)


def test_the_runner_stores_the_record(tmp_path, tones_registry, monkeypatch):
    spec = specs(tmp_path, tones_registry, max_steps=10)[0]
    # the runner looks plugins up itself; give it this test's tones_registry
    monkeypatch.setattr("harness.run.execute.load_registry", lambda: tones_registry)
    summary = run_one(spec, output=str(tmp_path / "out"))
    assert summary.status in {"reached", "censored"}, summary.error
    stored = json.loads((tmp_path / "out" / "runs" / spec.run_id / RECORD).read_text())
    assert stored["convergence"]["steps"] == 10 or stored["status"] == "reached"
