"""Reuse probe results on latents that do not depend on the run's model.

A model-free latent space (the raw-feature baseline) is the same in every run of
a suite: only the run seed varies what a probe computes on it. A probe is a
deterministic function of its inputs (the contract asks the same seed to give
the same numbers), so its result is stored on disk keyed by a hash of those
inputs: the latent values, labels, groups, target, seed, and the probe's name,
parameters and source (module and package version). A suite of 120 runs over
10 seeds then probes the baseline 10 times, not 120.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import atomic_path, finite_or_none
from harness.hashing import canonical_json
from harness.plugin.contracts import ProbeResult

FOLDER = "probe-results"


def probe_key(
    latents: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    target: str,
    seed: int,
    probe: Mapping[str, Any],
) -> str:
    """Hash of everything a probe's answer depends on."""
    digest = hashlib.sha256()
    values = np.ascontiguousarray(latents)
    digest.update(f"{values.dtype.str}{values.shape}".encode())
    digest.update(values.tobytes())
    for array in (labels, groups):
        digest.update(canonical_json([str(v) for v in np.asarray(array).tolist()]).encode())
    digest.update(canonical_json({"target": target, "seed": seed, "probe": probe}).encode())
    return digest.hexdigest()[:32]


def cached_probe(cache_dir: Path, key: str, compute: Callable[[], ProbeResult]) -> ProbeResult:
    """The stored result for ``key``, or ``compute()`` stored for next time.

    A result is written only after ``compute`` returns, atomically, so a crash
    leaves no half result; two workers racing on one key both write the same
    numbers.
    """
    folder = Path(cache_dir) / FOLDER
    path = folder / f"{key}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as stored:
            header = json.loads(str(stored["__result__"]))
            artifacts = {name: stored[name] for name in header["artifacts"]}
        return ProbeResult(
            skipped=str(header.get("skipped") or ""),
            metrics={k: (np.nan if v is None else v) for k, v in header["metrics"].items()},
            artifacts=artifacts,
            details={
                k: [np.nan if v is None else v for v in values]
                for k, values in header["details"].items()
            },
        )
    result = compute()
    _store(path, result)
    return result


def _store(path: Path, result: ProbeResult) -> None:
    if not isinstance(result, ProbeResult):
        return  # the boundary check after this reports the broken contract
    try:
        # float() first: a None metric breaks the contract, so it raises and is not stored
        header = {
            "metrics": {k: finite_or_none(float(v)) for k, v in result.metrics.items()},
            "details": {
                k: [finite_or_none(float(v)) for v in vs] for k, vs in result.details.items()
            },
            "artifacts": sorted(result.artifacts),
            **({"skipped": result.skipped} if result.skipped else {}),
        }
        arrays = {name: np.asarray(a) for name, a in result.artifacts.items()}
        if any(a.dtype == object for a in arrays.values()):
            return
    except (TypeError, ValueError):
        return  # not storable; the boundary check reports what is wrong
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, __result__=np.array(json.dumps(header)), **arrays)  # type: ignore[arg-type]
