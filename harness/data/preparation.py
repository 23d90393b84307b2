"""The data a suite's runs read: the request each run makes, and its
preparation once, before the runs start.

Every run of a suite asks its dataset for the same clips (:func:`data_request`).
A dataset that generates or caches data on first use (the embedded eSpeak
corpus) may define ``prepare`` (see :class:`harness.plugin.contracts.Dataset`); the
runner calls it here, in its own process, with a progress callback, so the
minute a corpus takes to generate shows as a step instead of silent workers.
The runs then only read what it left in the cache.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness.hashing import canonical_json
from harness.plugin.contracts import DataRequest, ProgressCallback
from harness.plugin.registry import Registry
from harness.spec.expand import RunSpec


def data_request(spec: RunSpec, on_progress: ProgressCallback | None = None) -> DataRequest:
    """What run ``spec`` asks its dataset for."""
    return DataRequest(
        languages=tuple(spec.languages),
        sample_rate=spec.features.sample_rate,
        speakers_needed=dict(spec.speakers_needed),
        cache_dir=Path(spec.cache_dir) / "datasets" / spec.dataset.plugin,
        on_progress=on_progress,
    )


def request_key(spec: RunSpec, registry: Registry) -> str:
    """Runs with the same key read the same clips."""
    request = data_request(spec)
    return canonical_json(
        {
            "dataset": spec.dataset.to_dict(),
            "source": registry.get("dataset", spec.dataset.plugin).source,
            "languages": request.languages,
            "sample_rate": request.sample_rate,
            "speakers": request.speakers_needed,
            "cache": str(request.cache_dir),
        }
    )


def prepare_data(
    specs: Iterable[RunSpec], registry: Registry, on_progress: ProgressCallback | None = None
) -> int:
    """Call ``prepare`` of each distinct dataset request of ``specs`` whose
    dataset defines it; return how many were prepared. Exceptions propagate
    (the runner reports them and lets the runs record the error)."""
    seen: set[str] = set()
    prepared = 0
    for spec in specs:
        key = request_key(spec, registry)
        if key in seen:
            continue
        seen.add(key)
        dataset = registry.create(spec.dataset)
        prepare = getattr(dataset, "prepare", None)
        if callable(prepare):
            prepare(data_request(spec, on_progress))
            prepared += 1
    return prepared
