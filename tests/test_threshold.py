"""One threshold per model and suite: a relative threshold is a fraction of the
model's untrained held-out loss averaged over the suite's seeds, the same for
every condition and seed (docs/training.md, Thresholds)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from harness.learning.training import (
    Reference,
    TrainingData,
    build_module,
    train,
    untrained_reference,
)
from harness.run import reference as execute_module
from harness.spec.config import TargetConfig, TrainingConfig
from harness.spec.expand import expand
from harness.spec.suite import load_suite
from harness_plugins.models.lstm_model import LSTMModel

from helpers import tones
from helpers.tones import run, specs

torch.set_num_threads(1)

FEATURES, FRAMES = 4, 10


def segments(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 1.0, size=(n, FRAMES, FEATURES)).astype(np.float32)


DATA = TrainingData(train=segments(16, 1), heldout=segments(8, 2))
TRAINING = TrainingConfig(lr=1e-2, batch_size=8, segment_frames=FRAMES, device="cpu")


def target(**given: object) -> TargetConfig:
    values: dict = {"language": "aa", "threshold": 0.9, "max_steps": 10, "eval_every": 5}
    return TargetConfig(**{**values, **given})


def reference(model, seeds) -> Reference:
    return untrained_reference(
        model, FEATURES, DATA.heldout, segment_frames=FRAMES, seeds=seeds, device="cpu"
    )


def train_seed(model, seed: int, tgt: TargetConfig, ref: Reference | None = None):
    return train(
        model,
        FEATURES,
        DATA,
        target=tgt,
        training=TRAINING,
        seed=seed,
        name="lstm",
        reference=ref,
    )[1]


# ---------------------------------------------------------------- the training function


def test_the_reference_is_the_mean_untrained_loss_over_the_seeds():
    model = LSTMModel(hidden_size=6)
    ref = reference(model, (0, 1, 2))
    assert ref.seeds == (0, 1, 2) and len(set(ref.losses)) == 3  # the seeds differ
    assert ref.mean == pytest.approx(sum(ref.losses) / 3)
    # each seed's reference loss is what that seed's run measures as its own untrained loss
    outcomes = [train_seed(model, seed, target(), ref) for seed in (0, 1, 2)]
    assert [o.initial_heldout_loss for o in outcomes] == list(ref.losses)
    # one threshold for every seed: the fraction of the mean, not of the run's own loss
    assert {o.threshold for o in outcomes} == {0.9 * ref.mean}
    conv = outcomes[1].convergence()
    assert conv["reference_heldout_loss"] == ref.mean
    assert conv["reference_losses"] == list(ref.losses)
    assert conv["initial_heldout_loss"] == ref.losses[1] != conv["reference_heldout_loss"]


def test_the_reference_does_not_disturb_the_run():
    # computing it reseeds everything: the run must build and train exactly as without it
    model = LSTMModel(hidden_size=6)
    tgt = target(threshold=0.0, threshold_mode="absolute")
    plain = train_seed(model, 1, tgt)
    reference(model, (0, 1, 2))
    again = train_seed(model, 1, tgt)
    assert plain.curve.heldout_loss == again.curve.heldout_loss


def test_absolute_threshold_is_the_value_as_given_and_needs_no_reference():
    model = LSTMModel(hidden_size=6)
    ref = reference(model, (0, 1))
    outcome = train_seed(model, 0, target(threshold=0.05, threshold_mode="absolute"), ref)
    assert outcome.threshold == 0.05 and outcome.reference is None
    conv = outcome.convergence()
    assert conv["reference_heldout_loss"] is None and conv["reference_losses"] is None


class NaNForSeed(LSTMModel):
    """An LSTM whose untrained model of one seed has a non-finite loss."""

    def __init__(self, bad_seed: int) -> None:
        super().__init__(hidden_size=4)
        self.bad_seed = bad_seed

    def build(self, n_features, segment_frames):
        module = super().build(n_features, segment_frames)
        # build_module seeded torch with the run seed just before calling build()
        module.poisoned = torch.initial_seed() == self.bad_seed
        return module

    def loss(self, module, batch):
        loss = super().loss(module, batch)
        return loss * float("nan") if module.poisoned else loss


def test_a_non_finite_reference_is_an_error_naming_the_model_and_the_seed():
    model = NaNForSeed(bad_seed=1)
    with pytest.raises(ValueError, match=r"model plugin 'lstm'.*seed 1 .*non-finite"):
        untrained_reference(
            model,
            FEATURES,
            DATA.heldout,
            segment_frames=FRAMES,
            seeds=(0, 1, 2),
            device="cpu",
            name="lstm",
        )
    # a relative run of seed 1 fails with it instead of training to a NaN threshold
    with pytest.raises(ValueError, match="seed 1"):
        train_seed(model, 1, target())
    # an absolute threshold needs no reference: the run is diverged at init, as before
    outcome = train_seed(model, 1, target(threshold=0.1, threshold_mode="absolute"))
    assert outcome.status == "diverged" and outcome.diverged_phase == "init"
    assert math.isfinite(reference(model, (0, 2)).mean)


# ---------------------------------------------------------------- whole runs


def test_every_condition_and_seed_of_a_model_gets_the_same_threshold(
    tmp_path, tones_registry, monkeypatch
):
    runs = specs(tmp_path, tones_registry, max_steps=10)
    records = []
    for i, spec in enumerate(runs):
        # no cache: each run computes its reference itself, and still agrees
        monkeypatch.setattr(execute_module, "_REFERENCES", {})
        records.append((spec, run(spec, tmp_path / f"run{i}", tones_registry)))
    for model in ("lstm", "conv_autoencoder"):
        mine = [(s, r["convergence"]) for s, r in records if s.model.plugin == model]
        assert len(mine) == 4  # 2 conditions x 2 seeds
        assert len({c["threshold"] for _, c in mine}) == 1
        assert len({tuple(c["reference_losses"]) for _, c in mine}) == 1
        # the per-seed losses are the runs' own untrained losses, the threshold 0.7 x their mean
        own = {s.seed: c["initial_heldout_loss"] for s, c in mine}
        conv = mine[0][1]
        assert conv["reference_losses"] == [own[0], own[1]]
        assert conv["threshold"] == pytest.approx(0.7 * (own[0] + own[1]) / 2)
        # the untrained loss does not depend on the condition
        assert len({c["initial_heldout_loss"] for s, c in mine if s.seed == 0}) == 1


def test_each_worker_computes_a_models_reference_once(tmp_path, tones_registry, monkeypatch):
    calls = []
    real = execute_module.untrained_reference

    def counting(*args, **kwargs):
        calls.append(kwargs["seeds"])
        return real(*args, **kwargs)

    monkeypatch.setattr(execute_module, "_REFERENCES", {})
    monkeypatch.setattr(execute_module, "untrained_reference", counting)
    lstm = [s for s in specs(tmp_path, tones_registry, max_steps=10) if s.model.plugin == "lstm"]
    for i, spec in enumerate(lstm[:3]):
        run(spec, tmp_path / f"run{i}", tones_registry)
    assert calls == [(0, 1)]


def test_a_non_finite_reference_fails_the_run_with_a_clear_error(
    tmp_path, tones_registry, monkeypatch
):
    # seed 0's run is fine on its own; the reference over the suite's seeds 0 and 1 is not
    spec = next(s for s in specs(tmp_path, tones_registry, max_steps=10) if s.seed == 0)

    class Poisoned:
        """The tones registry, whose model is a NaNForSeed."""

        def __getattr__(self, name):
            return getattr(tones_registry, name)

        def create(self, selection):
            if selection.kind == "model":
                return NaNForSeed(bad_seed=1)
            return tones_registry.create(selection)

    monkeypatch.setattr(execute_module, "_REFERENCES", {})
    with pytest.raises(ValueError, match=r"model plugin 'lstm': .*seed 1 .*non-finite"):
        run(spec, tmp_path / "run", Poisoned())


# ---------------------------------------------------------------- run ids


def suite_specs(tmp_path, registry, seeds: str, mode: str):
    text = tones.SUITE.format(
        threshold=0.7,
        mode=mode,
        max_steps=10,
        lr=0.01,
        filter='"smooth"',
        normalize="clip_minmax",
    ).replace("seeds = [0, 1]", f"seeds = {seeds}")
    path = tmp_path / f"{mode}-{len(seeds)}.toml"
    path.write_text(text)
    return expand(load_suite(path, registry, output=tmp_path / "out"), registry)


def test_run_ids_follow_the_seeds_only_with_a_relative_threshold(tmp_path, tones_registry):
    def ids(seeds: str, mode: str) -> dict[str, str]:
        return {s.label: s.run_id for s in suite_specs(tmp_path, tones_registry, seeds, mode)}

    two, three = ids("[0, 1]", "relative"), ids("[0, 1, 2]", "relative")
    assert set(two) < set(three)
    assert all(two[label] != three[label] for label in two)
    # the seeds' order does not matter: the reference is their mean
    assert ids("[1, 0]", "relative") == two
    two, three = ids("[0, 1]", "absolute"), ids("[0, 1, 2]", "absolute")
    assert all(two[label] == three[label] for label in two)


def test_specs_carry_the_suites_seeds(tmp_path, tones_registry):
    for spec in suite_specs(tmp_path, tones_registry, "[2, 0, 1]", "relative"):
        assert spec.reference_seeds == (0, 1, 2)
        assert spec.to_dict()["reference_seeds"] == [0, 1, 2]
    for spec in suite_specs(tmp_path, tones_registry, "[2, 0, 1]", "absolute"):
        assert "reference_seeds" not in spec.content()


def test_build_module_is_what_the_reference_measures():
    model = LSTMModel(hidden_size=6)
    ref = reference(model, (3,))
    module = build_module(model, FEATURES, FRAMES, 3)
    module.eval()
    with torch.no_grad():
        loss = float(model.loss(module, torch.from_numpy(DATA.heldout)))
    assert ref.losses[0] == pytest.approx(loss, rel=1e-6)
