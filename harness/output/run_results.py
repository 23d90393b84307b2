"""A run's result as the store takes it: what ``execute`` returned, checked
and completed into a :class:`~harness.output.record.RunRecord`
(:func:`check_record`), and the record of a run that raised or whose worker
died (:func:`failure_record`), with the error as the record keeps it.
"""

from __future__ import annotations

import datetime as dt
import platform
import socket
import sys
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.output.record import DONE_STATUSES, FAILED, RunRecord

if TYPE_CHECKING:
    from harness.spec.expand import RunSpec


class RecordError(Exception):
    """``execute`` returned something that is not a valid run record."""


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def check_record(
    spec: RunSpec, record: Any, started: str | None = None, wall_seconds: float | None = None
) -> RunRecord:
    """Validate what ``execute`` returned (a dict) and fill the keys the harness owns:
    the one place a run's record becomes a :class:`RunRecord`."""
    if not isinstance(record, Mapping):
        raise RecordError(
            f"execute must return a dict (the run record), got {type(record).__name__}"
        )
    record = dict(record)
    status = record.get("status")
    if status not in DONE_STATUSES:
        raise RecordError(f"record status must be one of {DONE_STATUSES}, got {status!r}")
    if record.setdefault("run_id", spec.run_id) != spec.run_id:
        raise RecordError(f"record run_id {record['run_id']!r} is not the spec's {spec.run_id!r}")
    record.setdefault("label", spec.label)
    record.setdefault("spec", spec.to_dict())
    record.setdefault("provenance", _provenance(spec))
    record.setdefault("error", None)
    if started is not None:
        record.setdefault("started", started)
    if wall_seconds is not None:
        record.setdefault("wall_seconds", wall_seconds)
    return RunRecord.from_dict(record, where=f"the record execute returned for {spec.label}")


def error_info(exc: BaseException) -> dict[str, str]:
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def _provenance(spec: RunSpec) -> dict[str, Any]:
    return dict(spec.provenance)


def failure_record(
    spec: RunSpec, error: Mapping[str, str], started: str, wall_seconds: float | None
) -> RunRecord:
    """The record of a run that raised or whose worker died."""
    return RunRecord(
        run_id=spec.run_id,
        label=spec.label,
        status=FAILED,
        spec=spec.to_dict(),
        provenance=_provenance(spec),
        error=dict(error),
        started=started,
        wall_seconds=wall_seconds,
        environment={
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "host": socket.gethostname(),
        },
    )
