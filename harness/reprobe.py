"""Run the missing probes of finished runs again, from their stored latents.

A probe that raised during a run leaves the run's training and latents in
place and its fault in the record's ``probe_errors`` (see
:mod:`harness.execute`). Once the probe is fixed, ``harness probe DIR`` runs
exactly the (probe, latent space) pairs that have no metric rows, on the
run's ``latents.npz`` and probe clips, and rewrites each record atomically:
nothing is trained again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import atomic_path, write_json
from harness.latents import LatentSpace
from harness.probes import probe_latents
from harness.registry import Registry, load_registry
from harness.selection import Selection
from harness.store import FAILED, RECORD, Store


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


def missing_pairs(record: dict[str, Any]) -> set[tuple[str, str]]:
    """(probe label, latent space) pairs of the run's probes with no metric rows."""
    probes = [p["label"] for p in record.get("spec", {}).get("probes", [])]
    spaces = list(record.get("latent_spaces") or {})
    done = {(r["probe"], r["latent_space"]) for r in record.get("probes") or []}
    return {(p, s) for p in probes for s in spaces} - done


def reprobe_folder(output: str | Path, registry: Registry | None = None) -> ReprobeSummary:
    """Re-probe every finished run of the current suite in ``output`` that lacks
    probe results; holds the folder's lock, so no `harness run` writes meanwhile."""
    registry = registry or load_registry()
    store = Store(output)
    summary = ReprobeSummary()
    with store.lock():
        for record in store.records():
            if record.get("status") == FAILED or not missing_pairs(record):
                continue
            run_dir = store.run_dir(str(record["run_id"]))
            pairs, failing = reprobe_run(run_dir, record, registry)
            summary.runs += 1
            summary.pairs += pairs
            summary.still_failing += [
                f"{record.get('label', record['run_id'])} {e['probe']} on {e['latent_space']}: "
                f"{e['type']}: {e['message']}"
                for e in failing
            ]
    return summary


def reprobe_run(
    run_dir: Path, record: dict[str, Any], registry: Registry
) -> tuple[int, list[dict[str, Any]]]:
    """Run the record's missing pairs; rewrite the record and its probe artifacts.

    :return: how many pairs ran, and the errors of those that failed again.
    """
    only = missing_pairs(record)
    artifacts = record.get("artifacts") or {}
    with np.load(run_dir / artifacts.get("latents", "latents.npz"), allow_pickle=False) as npz:
        latents = {
            name: LatentSpace(str(info["extractor"]), npz[name], bool(info["needs_model"]))
            for name, info in record["latent_spaces"].items()
        }
    clips = record["data"]["probe_clips"]
    spec = record["spec"]
    selections = [
        Selection("probe", p["plugin"], p.get("params") or {}, p["label"]) for p in spec["probes"]
    ]
    outcome = probe_latents(
        selections,
        registry,
        latents,
        labels=np.array(clips["language"]),
        groups=np.array(clips["speaker"]),
        target=str(spec["target"]["language"]),
        seed=int(spec["seed"]),
        cache_dir=None,
        only=only,
    )
    if outcome.arrays:
        _merge_arrays(run_dir / artifacts.get("probe_artifacts", "probe_artifacts.npz"),
                      outcome.arrays)  # fmt: skip
    record["probes"] = [*(record.get("probes") or []), *outcome.rows]
    record["probe_details"] = [*(record.get("probe_details") or []), *outcome.details]
    record["probe_errors"] = [
        e for e in record.get("probe_errors") or [] if (e["probe"], e["latent_space"]) not in only
    ] + outcome.errors
    record["probe_warnings"] = [*(record.get("probe_warnings") or []), *outcome.warnings]
    # provenance: these pairs were computed after the run, from its stored latents
    record["reprobed"] = sorted(f"{probe} on {space}" for probe, space in only)
    write_json(run_dir / RECORD, record)
    return len(only), outcome.errors


def _merge_arrays(path: Path, new: dict[str, np.ndarray]) -> None:
    arrays: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    arrays.update(new)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]
