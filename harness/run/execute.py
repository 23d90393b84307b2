"""One run, end to end: data, roles, pretraining filter, features, training,
latents, probes; returns the run record (docs/architecture.md).

:func:`execute` conducts the rooms of a run and assembles its record: the
inputs (:mod:`harness.run.inputs`, :mod:`harness.run.data`), the untrained
reference (:mod:`harness.run.reference`), training (:mod:`harness.learning.training`),
latents (:mod:`harness.run.latents`), probes (:mod:`harness.run.probes`) and the
clock (:mod:`harness.run.phases`).

Everything that can fail raises; the runner turns an exception into a
"failed" record. A run whose loss went non-finite is not a failure: it is
recorded as "diverged", with its model-free latents and probes. A probe that
raises (or breaks its contract) does not fail the run either: its training and
latents stay, the fault is recorded in ``probe_errors``, and ``harness probe``
runs the missing probes again from the stored latents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from harness.data.audio import data_quality
from harness.learning.pretraining import Pretraining
from harness.learning.training import TrainingOutcome, train
from harness.output.layout import ARTIFACTS
from harness.plugin.registry import Registry, load_registry
from harness.run.data import Prepared, classical_baseline, prepare, read_source
from harness.run.environment import environment
from harness.run.latents import run_latents, save_arrays
from harness.run.phases import RunClock
from harness.run.probes import ProbesAlong, run_probes
from harness.run.reference import model_reference
from harness.spec.checkpoints import StartingWeights
from harness.spec.expand import RunSpec


def execute(spec: RunSpec, run_dir: Path, registry: Registry | None = None) -> dict[str, Any]:
    """Run ``spec`` in ``run_dir`` (which exists and is private to this run).

    :param registry: where components are looked up; default every installed plugin.
    :return: the run record, JSON-ready; its arrays are written into ``run_dir``.
    """
    clock = RunClock()
    registry = registry or load_registry()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    plan = Pretraining.of(spec.condition)
    with clock.phase("data"):
        source = read_source(spec, registry, plan)
    with clock.phase("features"):
        inputs = prepare(spec, registry, plan, source)
    along = ProbesAlong.of(spec, registry, inputs, source.roles.probe)  # run by the loop
    with clock.phase("training"):
        module, outcome, start = _train(spec, registry, inputs, plan, run_dir, along)
    baseline = None
    if source.classes:  # a phase of classify runs only
        with clock.phase("baseline"):
            baseline = classical_baseline(spec, source.roles)
    with clock.phase("latents"):
        usable = module if outcome.status != "diverged" else None
        path = run_dir / ARTIFACTS["latents"]
        latents, skipped = run_latents(spec, registry, usable, inputs, outcome.device, path)
    with clock.phase("probes"):
        probed = run_probes(spec, registry, latents, source.roles.probe)
        save_arrays(run_dir / ARTIFACTS["probe_artifacts"], probed.arrays)
    roles = source.roles
    return {
        "run_id": spec.run_id,
        "label": spec.label,
        "status": outcome.status,
        "spec": spec.to_dict(),
        "convergence": outcome.convergence(),
        "classification": outcome.classification,
        "baseline": baseline,
        "checkpoint": start.record() if start is not None else None,
        "curve": outcome.curve.to_dict(),
        "n_features": inputs.features.n_features,
        "latent_spaces": {name: space.describe() for name, space in latents.items()},
        "probes": probed.rows,
        "probe_details": probed.details,
        "probe_errors": probed.errors,
        "probe_warnings": probed.warnings,
        **({"probes_skipped": probed.skipped} if probed.skipped else {}),
        **({"along_training": along.record()} if along is not None else {}),
        "extractors_skipped": skipped,
        "data": {
            "counts": roles.counts(),
            "probe_clips": roles.probe_index(),
            **data_quality(source.clips, source.skipped_files),
        },
        "artifacts": dict(ARTIFACTS),
        "environment": {**environment(), "device": outcome.device},
        "started": clock.started,
        **clock.record(),
        "error": None,
    }


def _train(
    spec: RunSpec,
    registry: Registry,
    inputs: Prepared,
    plan: Pretraining,
    run_dir: Path,
    along: ProbesAlong | None,
) -> tuple[torch.nn.Module, TrainingOutcome, StartingWeights | None]:
    """The training phase: the model built from its plugin, started from the run's
    checkpoint, trained by the protocol (probed along it by ``along``); its weights
    saved into ``run_dir``."""
    model = registry.create(spec.model)
    start = StartingWeights(spec.checkpoint, model, spec.model.plugin) if spec.checkpoint else None
    reference = None
    n_features = inputs.features.n_features
    if spec.target.threshold_mode == "relative":
        reference = model_reference(spec, registry, model, n_features, inputs.data, inputs.length)
    module, outcome = train(
        model,
        n_features,
        inputs.data,
        target=spec.target,
        training=spec.training,
        seed=spec.seed,
        pretraining=plan,
        name=spec.model.plugin,
        reference=reference,
        initialise=start,
        groups=registry.get("model", spec.model.plugin).groups,
        input_length=inputs.length,
        probe_at=spec.probe_at,
        on_probe=along,
    )
    state = {key: value.detach().cpu() for key, value in module.state_dict().items()}
    torch.save(state, run_dir / ARTIFACTS["weights"])
    return module, outcome, start
