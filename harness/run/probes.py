"""A run's probes: each probe plugin on each latent space, one (probe, space)
pair at a time, and the record rows of what they gave.

A probe that raises or breaks its contract does not fail the run: its pair is
recorded in ``probe_errors`` and the other pairs go on (``harness probe``
runs it again from the stored latents, :mod:`harness.output.reprobe`). A NaN metric
is recorded as missing, with a warning. Results on model-free latents are
reused across runs (:mod:`harness.run.probe_cache`).

A probe declared with ``Component.alignments`` reads frames instead
(``run_frames``, :class:`harness.plugin.probe_contracts.FrameInput`): the
space's frames (:attr:`LatentSpace.frames`) with the probe clips' phone tiers;
a space its extractor gives no frames of is recorded as skipped.

:class:`ProbesAlong` runs the same extraction and probes on the model at each
step of ``[probing] probe_at`` (the training loop calls it,
:func:`harness.learning.training.train`): the probes that run along training
(:func:`along_probes`: not those declared ``Component.along_training = False``,
such as ``tsne``, and only those ``[probing] probe_at_probes`` names where a
suite narrows them). Its rows carry their ``step`` and go to the record's
``along_training``, never among the final probing's rows.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import traceback
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.learning.devices import resolve_device
from harness.plugin.alignments import PhoneInterval
from harness.plugin.components import Component, Metric
from harness.plugin.contracts import Clip, ContractError, ProbeResult, check_probe_result
from harness.plugin.probe_contracts import FrameInput
from harness.plugin.provenance import factory_module, source_hash
from harness.plugin.registry import Registry
from harness.plugin.selection import Selection
from harness.run.data import Prepared
from harness.run.latents import LatentSpace, probe_spaces
from harness.run.probe_cache import cached_probe, probe_key
from harness.spec.expand import RunSpec


def probe_rows(
    result: ProbeResult, metrics: Mapping[str, Metric], where: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A checked probe result as the record's metric rows (each with what its
    probe declared about it) and detail rows; non-finite numbers become None."""
    rows = []
    for metric, number in result.metrics.items():
        value = float(number)
        declared = metrics[metric]
        rows.append(
            {
                **where,
                "metric": metric,
                "value": value if math.isfinite(value) else None,
                "higher_is_better": declared.higher_is_better,
                "role": declared.role,
                "chance": declared.chance,
                "headline": declared.headline,
                "bounds": list(declared.bounds) if declared.bounds is not None else None,
            }
        )
    details = []
    for name, values in result.details.items():
        numbers = [float(v) for v in values]
        details.append(
            {**where, "name": name, "values": [v if math.isfinite(v) else None for v in numbers]}
        )
    return rows, details


@dataclass
class ProbeOutcome:
    """What the probes gave: metric rows, detail rows and artifact arrays of the
    (probe, latent space) pairs that ran, and the faults of the others.

    ``errors``: one row per pair whose probe raised or broke its contract
    (extractor, latent_space, probe, plugin, type, message, traceback);
    ``warnings``: one row per NaN metric (extractor, latent_space, probe,
    plugin, metric, message), recorded as missing in ``rows``;
    ``skipped``: one row per pair the probe chose not to measure
    (``ProbeResult.skipped``: extractor, latent_space, probe, plugin, reason).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        where: Mapping[str, str],
        plugin: str,
        rows: list[dict[str, Any]],
        details: list[dict[str, Any]],
        arrays: Mapping[str, np.ndarray],
    ) -> None:
        """The rows and arrays of one pair that ran, with a warning per NaN metric."""
        self.rows += rows
        self.details += details
        self.arrays.update(arrays)
        self.warnings += [
            {
                **where,
                "plugin": plugin,
                "metric": row["metric"],
                "message": f"probe plugin {plugin!r} reported {row['metric']} as NaN",
            }
            for row in rows
            if row["value"] is None
        ]

    def fault(self, where: Mapping[str, str], plugin: str, error: Exception) -> None:
        """The fault of one pair, recorded while ``error`` is being handled."""
        self.errors.append(
            {
                **where,
                "plugin": plugin,
                "type": type(error).__name__,
                "message": str(error),
                "traceback": traceback.format_exc(),
            }
        )


def along_probes(spec: RunSpec, registry: Registry) -> list[Selection]:
    """The probes of ``spec`` that run along training: those its suite names in
    ``[probing] probe_at_probes``, else every probe whose plugin declares it
    runs there (``Component.along_training``); none without ``probe_at``. Each
    with the parameters its plugin declares for the points (``Component.along_params``)."""
    if not spec.probe_at:
        return []
    if spec.probe_at_probes is not None:
        chosen = [p for p in spec.probes if p.label in spec.probe_at_probes]
    else:
        chosen = [p for p in spec.probes if registry.get("probe", p.plugin).along_training]
    # what a point of the curve does not need, as the plugin declares (Component.along_params)
    return [
        dataclasses.replace(p, params={**p.params, **along})
        if (along := registry.get("probe", p.plugin).along_params)
        else p
        for p in chosen
    ]


def run_probes(
    spec: RunSpec,
    registry: Registry,
    latents: Mapping[str, LatentSpace],
    clips: Sequence[Clip],
    probes: Sequence[Selection] | None = None,
) -> ProbeOutcome:
    """Every probe of the run (or ``probes``) on every latent space (see
    :func:`probe_latents`)."""
    return probe_latents(
        spec.probes if probes is None else probes,
        registry,
        latents,
        labels=np.array([c.language for c in clips]),
        groups=np.array([c.speaker for c in clips]),
        target=spec.target.language,
        seed=spec.seed,
        cache_dir=Path(spec.cache_dir),
        phones=[c.phones for c in clips],
    )


def probe_latents(
    probes: Sequence[Selection],
    registry: Registry,
    latents: Mapping[str, LatentSpace],
    *,
    labels: np.ndarray,
    groups: np.ndarray,
    target: str,
    seed: int,
    cache_dir: Path | None,
    only: Collection[tuple[str, str]] | None = None,
    phones: Sequence[tuple[PhoneInterval, ...] | None] | None = None,
) -> ProbeOutcome:
    """Each probe on each latent space, one (probe, space) pair at a time.

    A pair whose probe raises or breaks its contract is recorded in ``errors``
    and the others go on. Results on model-free latents are reused from
    ``cache_dir`` (None: always computed).

    :param only: (probe label, latent space) pairs to run; default all.
    :param phones: the probe clips' phone tiers, for probes that read frames.
    """
    tiers = tuple(phones) if phones is not None else (None,) * len(labels)
    question = _Question(labels, groups, target, seed, cache_dir, tiers)
    out = ProbeOutcome()
    for selection in probes:
        component = registry.get("probe", selection.plugin)
        metrics = {m.name: m for m in component.metrics}
        probe: Any = None
        for space, latent in latents.items():
            if only is not None and (selection.label, space) not in only:
                continue
            where = {"extractor": latent.extractor, "latent_space": space, "probe": selection.label}
            try:
                if probe is None:
                    probe = registry.create(selection)
                answer = question.answer(probe, selection, component, latent)
                result = check_probe_result(selection.plugin, metrics, answer)
                if result.skipped:
                    out.skipped.append(
                        {**where, "plugin": selection.plugin, "reason": result.skipped}
                    )
                    continue
                arrays = probe_arrays(selection, space, result)
                rows, details = probe_rows(result, metrics, where)
            except Exception as exc:
                out.fault(where, selection.plugin, exc)
                continue
            out.add(where, selection.plugin, rows, details, arrays)
    return out


@dataclass(frozen=True)
class _Question:
    """What every probe of a run is asked on every latent space: the probe
    clips' labels and speakers, the target language and the seed; answers on
    model-free latents are reused from ``cache_dir`` (None: always computed)."""

    labels: np.ndarray
    groups: np.ndarray
    target: str
    seed: int
    cache_dir: Path | None
    phones: tuple[tuple[PhoneInterval, ...] | None, ...] = ()

    def answer(
        self, probe: Any, selection: Selection, component: Component, latent: LatentSpace
    ) -> Any:
        """What ``probe`` (created from ``selection``) answers on ``latent``."""
        if component.alignments:
            if latent.frames is None:
                return ProbeResult(skipped="no frames of this space (its extractor gives none)")
            given = FrameInput(latent.frames, self.phones, self.groups, self.labels, self.seed)
            return probe.run_frames(given)
        answer_now = functools.partial(
            probe.run, latent.values, self.labels, self.groups, self.target, self.seed
        )
        if latent.needs_model or self.cache_dir is None:
            return answer_now()
        # the probe's code by content: a result of older code is never reused
        identity = {**selection.to_dict(), "source": component.source, "code": _code(component)}
        key = probe_key(latent.values, self.labels, self.groups, self.target, self.seed, identity)
        return cached_probe(self.cache_dir, key, answer_now)


def _code(component: Component) -> str | None:
    """The source hash of the module that builds ``component`` (once per process:
    the code a process runs does not change under it)."""
    return _module_code(factory_module(component))


@functools.cache
def _module_code(module: str) -> str | None:
    return source_hash(module)


def probe_arrays(selection: Selection, space: str, result: ProbeResult) -> dict[str, np.ndarray]:
    """A probe result's artifacts, named ``<space>/<probe label>/<name>``."""
    arrays = {}
    for name, array in result.artifacts.items():
        value = np.asarray(array)
        if value.dtype == object:
            # object arrays need pickle to load, and records load with allow_pickle=False
            raise ContractError("probe", selection.plugin, f"artifact {name!r} is an object array")
        arrays[f"{space}/{selection.label}/{name}"] = value
    return arrays


class ProbesAlong:
    """The probes along training: at each step the loop reaches, the latent
    spaces that need the model (:func:`harness.run.latents.probe_spaces`, with
    frames only where a probe along training reads them) and each probe that
    runs along training on them (:func:`along_probes`, :func:`run_probes`), as
    the final probing does. Artifact arrays are kept of the final probing only."""

    def __init__(
        self,
        spec: RunSpec,
        registry: Registry,
        inputs: Prepared,
        clips: Sequence[Clip],
    ) -> None:
        self.spec, self.registry, self.inputs, self.clips = spec, registry, inputs, clips
        self.device = str(resolve_device(spec.training.device))
        self.probes = along_probes(spec, registry)
        self.measured: list[int] = []
        self.found = ProbeOutcome()
        self.seconds = 0.0

    @classmethod
    def of(
        cls, spec: RunSpec, registry: Registry, inputs: Prepared, clips: Sequence[Clip]
    ) -> ProbesAlong | None:
        """The probes along training of ``spec``; None without ``probe_at``."""
        return cls(spec, registry, inputs, clips) if spec.probe_at else None

    def __call__(self, step: int, module: torch.nn.Module) -> None:
        """Probe ``module`` as it is after ``step`` target-training steps."""
        start = time.perf_counter()
        args = (self.spec, self.registry, module, self.inputs, self.device)
        latents, _ = probe_spaces(*args, model_only=True, probes=self.probes)
        probed = run_probes(self.spec, self.registry, latents, self.clips, self.probes)
        self.measured.append(step)
        for mine, theirs in (
            (self.found.rows, probed.rows),
            (self.found.details, probed.details),
            (self.found.errors, probed.errors),
            (self.found.warnings, probed.warnings),
            (self.found.skipped, probed.skipped),
        ):
            mine += [{**row, "step": step} for row in theirs]
        self.seconds += time.perf_counter() - start

    def record(self) -> dict[str, Any]:
        """The record's ``along_training``: the steps asked for and measured, what
        the probes gave at them (each row with its step), and their wall seconds."""
        return {
            "steps": list(self.spec.probe_at),
            "measured": list(self.measured),
            "probes": self.found.rows,
            "probe_details": self.found.details,
            "probe_errors": self.found.errors,
            "probe_warnings": self.found.warnings,
            "probes_skipped": self.found.skipped,
            "seconds": self.seconds,
        }
