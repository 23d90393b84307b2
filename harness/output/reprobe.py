"""Run the missing probes of finished runs again, from their stored latents.

A probe that raised during a run leaves the run's training and latents in
place and its fault in the record's ``probe_errors`` (see
:mod:`harness.run.execute`). Once the probe is fixed, ``harness probe DIR`` runs
exactly the (probe, latent space) pairs that have no metric rows, on the
run's ``latents.npz`` and probe clips, and rewrites each record atomically:
nothing is trained again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.atomic import atomic_path
from harness.output.layout import LATENTS, PROBE_ARTIFACTS, RECORD
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
from harness.run.latents import LatentSpace
from harness.run.probes import probe_latents


@dataclass
class ReprobeSummary:
    """What :func:`reprobe_folder` did: pairs run again, pairs still failing."""

    runs: int = 0
    pairs: int = 0
    still_failing: list[str] = field(default_factory=list)

    def describe(self, output: Path) -> str:
        if not self.runs:
            return f"{output}: every finished run has all its probe results; nothing to re-probe"
        text = (
            f"{output}: re-probed {self.pairs} (probe, latent space) pair(s) in "
            f"{self.runs} run(s) from their stored latents"
        )
        if self.still_failing:
            text += f"; {len(self.still_failing)} still fail:\n  " + "\n  ".join(self.still_failing)
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
    summary = ReprobeSummary()
    with store.lock():
        for record in store.records():
            if record.failed or not missing_pairs(record):
                continue
            pairs, failing = reprobe_run(store.run_dir(record.run_id), record, registry)
            summary.runs += 1
            summary.pairs += pairs
            summary.still_failing += [
                f"{record.label or record.run_id} {e.probe} on {e.latent_space}: "
                f"{e.type}: {e.message}"
                for e in failing
            ]
    return summary


def reprobe_run(
    run_dir: Path, record: RunRecord, registry: Registry
) -> tuple[int, list[ProbeError]]:
    """Run the record's missing pairs; rewrite the record and its probe artifacts.

    :return: how many pairs ran, and the errors of those that failed again.
    """
    only = missing_pairs(record)
    with np.load(run_dir / record.artifact("latents", LATENTS), allow_pickle=False) as npz:
        latents = {
            name: LatentSpace(str(info.extractor), npz[name], bool(info.needs_model))
            for name, info in record.latent_spaces.items()
        }
    clips = record.data.probe_clips
    outcome = probe_latents(
        _probe_selections(record),
        registry,
        latents,
        labels=np.array(clips.language),
        groups=np.array(clips.speaker),
        target=str(record.section("target")["language"]),
        seed=int(record.spec["seed"]),
        cache_dir=None,
        only=only,
    )
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
    return len(only), errors


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
