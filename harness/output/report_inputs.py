"""Whether a folder's report is still what its inputs would give.

Running a finished suite again changes nothing, yet rebuilding its tables and
report costs a flagship half a minute or more. A report is reused when its
*inputs digest* is unchanged: the manifest (all but when it was written), each run folder's files
(name, size and modification time: a record is replaced atomically, so a new
record is a new file), the source of the code that builds the report (the
harness modules :func:`harness.report.html.build_report` imports, by content)
and the versions of the libraries its statistics and figures come from.
The digest is written beside the report (``report.digest``) after a build, so
a build that stopped half-way leaves none, and is compared before the next.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from harness.atomic import write_text
from harness.output.layout import MANIFEST, REPORT, REPORT_DIGEST, RUNS, RUNS_CSV
from harness.plugin.provenance import source_hash
from harness.run.environment import package_version

#: the module whose imports, transitively, are the code that builds a report
REPORT_MODULE = "harness.report.html"
#: the libraries whose versions can change a table's number or a figure
LIBRARIES = ("numpy", "scipy", "pandas", "statsmodels", "scikit-learn", "matplotlib", "seaborn")


def inputs_digest(output: Path, settings: dict[str, object] | None = None) -> str:
    """The digest of everything a report of ``output`` is built from;
    ``settings``: the build's own parameters (resamples, seed)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps(_code(settings or {}), sort_keys=True).encode())
    digest.update(_manifest(output / MANIFEST))
    runs = output / RUNS
    for folder in sorted(runs.iterdir()) if runs.is_dir() else ():
        for entry in sorted(os.scandir(folder), key=lambda e: e.name) if folder.is_dir() else ():
            stat = entry.stat()
            digest.update(
                f"{folder.name}/{entry.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
            )
    return digest.hexdigest()


def _manifest(path: Path) -> bytes:
    """The manifest as the report reads it: without when it was last written
    (each `harness run` rewrites it, changing nothing else when nothing changed)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return path.read_bytes() if path.is_file() else b""
    if isinstance(data, dict):
        data.pop("written", None)
    return json.dumps(data, sort_keys=True).encode()


def _code(settings: dict[str, object]) -> dict[str, object]:
    versions = {name: package_version(name) for name in LIBRARIES}
    return {"code": source_hash(REPORT_MODULE), "libraries": versions, "settings": settings}


def unchanged(output: Path, digest: str) -> bool:
    """The report and tables exist and were built from inputs with ``digest``."""
    if not ((output / REPORT).is_file() and (output / RUNS_CSV).is_file()):
        return False
    try:
        stored = (output / REPORT_DIGEST).read_text(encoding="utf-8").strip()
    except OSError:
        return False
    return stored == digest


def remember(output: Path, digest: str) -> None:
    """Record what the report just built was built from."""
    write_text(output / REPORT_DIGEST, digest + "\n")


def forget(output: Path) -> None:
    """A build is starting: until it finishes, the report is not current."""
    (output / REPORT_DIGEST).unlink(missing_ok=True)
