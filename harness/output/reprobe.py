"""Run the missing probes of finished runs again, from their stored latents.

A probe that raised during a run leaves the run's training and latents in
place and its fault in the record's ``probe_errors`` (see
:mod:`harness.run.execute`). Once the probe is fixed, ``harness probe DIR`` runs
exactly the (probe, latent space) pairs that have no metric rows, on the
run's ``latents.npz`` and probe clips, and rewrites each record atomically:
nothing is trained again.

A probe that reads frames (``abx``) needs the latents frame by frame, which a
run does not store: they are rebuilt from the run's final weights
(:mod:`harness.run.from_weights`) with the settings of the folder's suite copy
(the run whose identity matches the record's). Where that cannot be done (the
suite copy no longer holds the run, the data or code changed, no weights), and
for every fault along training (the models at those steps are not stored),
the summary says per run and probe why, and what command measures it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import atomic_path
from harness.hashing import content_hash
from harness.output.layout import LATENTS, PROBE_ARTIFACTS, RECORD, SUITE_COPY, WEIGHTS
from harness.output.record import (
    ProbeDetail,
    ProbeError,
    ProbeRow,
    ProbeSkip,
    ProbeWarning,
    RunRecord,
    write_record,
)
from harness.output.record_parts import build
from harness.output.store import Store
from harness.plugin.registry import Registry, load_registry
from harness.plugin.selection import Selection
from harness.run.from_weights import Rebuilt, Unrebuildable, latents_from_weights
from harness.run.latents import LatentSpace
from harness.run.probes import probe_latents
from harness.spec.expand import RunSpec


@dataclass
class ReprobeSummary:
    """What :func:`reprobe_folder` did: pairs run again, pairs still failing."""

    runs: int = 0
    pairs: int = 0
    still_failing: list[str] = field(default_factory=list)
    #: per run and probe: why its missing results cannot be computed here, and
    #: the command that would compute them
    cannot: list[str] = field(default_factory=list)

    def describe(self, output: Path) -> str:
        if not self.runs and not self.cannot:
            return f"{output}: every finished run has all its probe results; nothing to re-probe"
        text = (
            f"{output}: re-probed {self.pairs} (probe, latent space) pair(s) in "
            f"{self.runs} run(s) from their stored latents"
            if self.runs
            else f"{output}: nothing re-probed"
        )
        if self.still_failing:
            text += f"; {len(self.still_failing)} still fail:\n  " + "\n  ".join(self.still_failing)
        if self.cannot:
            text += f"\n{len(self.cannot)} cannot be re-run here:\n  " + "\n  ".join(self.cannot)
        return text


def missing_pairs(record: RunRecord) -> set[tuple[str, str]]:
    """(probe label, latent space) pairs of the run's probes with no metric rows
    that the probe did not skip on purpose."""
    probes = [p["label"] for p in record.spec.get("probes", [])]
    done = {(r.probe, r.latent_space) for r in (*record.probes, *record.probes_skipped)}
    return {(p, s) for p in probes for s in record.latent_spaces} - done


def reprobe_folder(output: str | Path, registry: Registry | None = None) -> ReprobeSummary:
    """Re-probe every finished run of the current suite in ``output`` that lacks
    probe results; holds the folder's lock, so no `harness run` writes meanwhile."""
    registry = registry or load_registry()
    store = Store(output)
    suite = SuiteRuns(Path(output), registry)
    summary = ReprobeSummary()
    with store.lock():
        for record in store.records():
            if record.failed:
                continue
            run_dir = store.run_dir(record.run_id)
            summary.cannot += along_faults(record, run_dir, suite.rerun)
            if not missing_pairs(record):
                continue
            pairs, failing, cannot = reprobe_run(run_dir, record, registry, suite)
            summary.runs += 1 if pairs else 0
            summary.pairs += pairs
            summary.cannot += cannot
            summary.still_failing += [
                f"{record.label or record.run_id} {e.probe} on {e.latent_space}: "
                f"{e.type}: {e.message}"
                for e in failing
            ]
    return summary


def reprobe_run(
    run_dir: Path, record: RunRecord, registry: Registry, suite: SuiteRuns | None = None
) -> tuple[int, list[ProbeError], list[str]]:
    """Run the record's missing pairs; rewrite the record and its probe artifacts.
    A frame probe's pairs run on frames rebuilt from the run's weights (the run's
    spec found by ``suite``).

    :return: how many pairs ran, the errors of those that failed again, and why
        the pairs that could not run could not.
    """
    only = missing_pairs(record)
    with np.load(run_dir / record.artifact("latents", LATENTS), allow_pickle=False) as npz:
        latents = {
            name: LatentSpace(str(info.extractor), npz[name], bool(info.needs_model))
            for name, info in record.latent_spaces.items()
        }
    selections = _probe_selections(record)
    framed = {s.label for s in selections if registry.get("probe", s.plugin).alignments}
    phones, cannot = None, []
    if any(probe in framed for probe, _ in only):
        chosen = [s for s in selections if s.label in framed]
        try:
            rebuilt = _rebuilt(run_dir, record, registry, suite, latents, chosen)
            latents, phones = rebuilt.latents, rebuilt.phones
        except Unrebuildable as why:
            rerun = suite.rerun(run_dir) if suite is not None else "`harness run` it again"
            cannot = [
                f"{record.label or record.run_id} {label}: its frames cannot be rebuilt from "
                f"the run's weights ({why}); {rerun}"
                for label in sorted({probe for probe, _ in only if probe in framed})
            ]
            only = {(probe, space) for probe, space in only if probe not in framed}
    outcome = probe_latents(
        selections,
        registry,
        latents,
        labels=np.array(record.data.probe_clips.language),
        groups=np.array(record.data.probe_clips.speaker),
        target=str(record.section("target")["language"]),
        seed=int(record.spec["seed"]),
        cache_dir=None,
        only=only,
        phones=phones,
    )
    if only:
        _rewrite(run_dir, record, only, outcome)
    return len(only), [build(ProbeError, e) for e in outcome.errors], cannot


def _rewrite(run_dir: Path, record: RunRecord, only: set[tuple[str, str]], outcome: Any) -> None:
    """The record with the pairs of ``only`` as ``outcome`` gave them; its arrays merged."""
    if outcome.arrays:
        where = run_dir / record.artifact("probe_artifacts", PROBE_ARTIFACTS)
        _merge_arrays(where, outcome.arrays)
    errors = [build(ProbeError, e) for e in outcome.errors]
    kept = [e for e in record.probe_errors if (e.probe, e.latent_space) not in only]
    record = dataclasses.replace(
        record,
        probes=(*record.probes, *(build(ProbeRow, r) for r in outcome.rows)),
        probe_details=(*record.probe_details, *(build(ProbeDetail, d) for d in outcome.details)),
        probe_errors=(*kept, *errors),
        probe_warnings=(
            *record.probe_warnings,
            *(build(ProbeWarning, w) for w in outcome.warnings),
        ),
        probes_skipped=(*record.probes_skipped, *(build(ProbeSkip, s) for s in outcome.skipped)),
        # provenance: these pairs were computed after the run, from its stored latents
        reprobed=tuple(sorted(f"{probe} on {space}" for probe, space in only)),
    )
    write_record(run_dir / RECORD, record)


def _rebuilt(
    run_dir: Path,
    record: RunRecord,
    registry: Registry,
    suite: SuiteRuns | None,
    latents: dict[str, LatentSpace],
    probes: list[Selection],
) -> Rebuilt:
    """The run's latents with the frames ``probes`` read, rebuilt from its weights."""
    if suite is None:
        raise Unrebuildable("no suite was given to find the run's settings in")
    stored = {name: space.values for name, space in latents.items()}
    return latents_from_weights(
        suite.spec(record), registry, _weights(run_dir, record), stored, probes
    )


def _weights(run_dir: Path, record: RunRecord) -> Path | None:
    """The run's final weights; None for a diverged run (its final probing had no model)."""
    if record.status == "diverged":
        return None
    path = run_dir / record.artifact("weights", WEIGHTS)
    if not path.is_file():
        raise Unrebuildable(f"its weights ({path.name}) are not in the run folder")
    return path


def along_faults(record: RunRecord, run_dir: Path, rerun: Any) -> list[str]:
    """Per probe and latent space, the faults along training of ``record``: they
    cannot be re-run, since the models at those steps are not stored."""
    along = record.along_training
    if along is None or not along.probe_errors:
        return []
    steps: dict[tuple[str, str], list[int]] = {}
    for e in along.probe_errors:
        steps.setdefault((str(e.probe), str(e.latent_space)), []).append(int(e.step or 0))
    return [
        f"{record.label or record.run_id} {probe} on {space} along training (step(s) "
        f"{', '.join(map(str, sorted(at)))}): the models at those steps are not stored, only "
        f"the final weights; {rerun(run_dir)}"
        for (probe, space), at in sorted(steps.items())
    ]


class SuiteRuns:
    """The runs of the folder's suite copy, found by a record's identity (its
    settings without the code's provenance, :meth:`RunSpec.identity`), so a run
    is found after its probe's code was fixed; loaded on first use."""

    def __init__(self, output: Path, registry: Registry) -> None:
        self.output, self.registry = output, registry
        self._specs: dict[str, RunSpec] | None = None
        self._keys: list[str] = []
        self._failure: Unrebuildable | None = None

    def spec(self, record: RunRecord) -> RunSpec:
        """The run of the suite copy that ``record`` is of.

        :raises Unrebuildable: no suite copy, it no longer validates, or it holds
            no run of the record's settings."""
        if self._specs is None and self._failure is None:
            try:
                self._specs = self._load()
            except Unrebuildable as why:
                self._failure = why
        if self._specs is None:
            raise Unrebuildable(str(self._failure))
        key = content_hash({k: record.spec.get(k) for k in self._keys})
        found = self._specs.get(key)
        if found is None:
            raise Unrebuildable(
                f"{self.output / SUITE_COPY} holds no run with this run's settings (the suite "
                "changed since it ran)"
            )
        return found

    def _load(self) -> dict[str, RunSpec]:
        from harness.spec.expand import expand
        from harness.spec.suite import SuiteError, load_suite

        path = self.output / SUITE_COPY
        if not path.is_file():
            raise Unrebuildable(f"{path} is missing")
        try:
            specs = expand(load_suite(path, self.registry), self.registry)
        except SuiteError as exc:
            raise Unrebuildable(f"{path} no longer validates: {exc}") from exc
        self._keys = list(specs[0].identity()) if specs else []
        return {content_hash(s.identity()): s for s in specs}

    def rerun(self, run_dir: Path) -> str:
        """The commands that train a run again and probe it as the suite asks."""
        return (
            f"to measure it, train the run again: remove {run_dir}, then `harness run "
            f"{self.output / SUITE_COPY} -o {self.output}` (its training numbers come out the same)"
        )


def _probe_selections(record: RunRecord) -> list[Selection]:
    """The run's probes as the suite selected them."""
    return [
        Selection("probe", p["plugin"], p.get("params") or {}, p["label"])
        for p in record.spec["probes"]
    ]


def _merge_arrays(path: Path, new: dict[str, np.ndarray]) -> None:
    arrays: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    arrays.update(new)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]
