"""The output folder: one folder per run, written atomically, so a suite resumes.

:mod:`harness.output.layout` names every file of the folder; records are read and
written as :class:`~harness.output.record.RunRecord` only. A run works inside its partial folder; when it ends, ``record.json`` is written
atomically there and the folder is renamed to ``runs/<run_id>/``. A folder named
by a bare run id therefore always holds a complete record, whatever was killed
when: a rename either happened or did not.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.atomic import atomic_path, write_json
from harness.hashing import content_hash
from harness.output.layout import (
    LOCK,
    MANIFEST,
    RECORD,
    RUN_ID_PATTERN,
    SUITE_COPY,
    TEMP_NAME_PATTERN,
    runs_dir,
    temp_run_dir,
)
from harness.output.record import (
    DONE_STATUSES,
    FAILED,
    RecordVersionError,
    RunRecord,
    read_record,
    write_record,
)
from harness.output.run_results import now_iso
from harness.spec.design import Design

if TYPE_CHECKING:
    from harness.spec.expand import RunSpec
    from harness.spec.suite import Suite

__all__ = [
    "DAMAGED",
    "DONE_STATUSES",
    "FAILED",
    "LOCK",
    "MANIFEST",
    "RECORD",
    "SUITE_COPY",
    "Manifest",
    "Store",
    "StoreError",
    "fresh_output",
    "suite_fingerprint",
]

#: a run folder whose record.json is missing, truncated or not JSON (the status
#: :meth:`Store.statuses` reports for it; such a run is run again)
DAMAGED = "damaged"
#: entries a folder the harness only started to use may hold (see Store.check_output)
_STARTED = (LOCK,)


class StoreError(Exception):
    """The output folder cannot be used (locked by another run, not writable, not a
    harness folder, unreadable manifest)."""


class StorageFull(Exception):
    """The device holding the output folder has no space left (or the quota is
    used up): no run can be kept, so a suite stops instead of failing each one."""

    def __init__(self, output: Path | str, error: str) -> None:
        super().__init__(
            f"no space left on the device holding {output} ({error}): every finished run "
            "is kept; free some space (the run folders are in runs/) and run the same "
            "command again to finish the rest"
        )
        self.output, self.error = str(output), error

    def __reduce__(self) -> tuple[Any, ...]:
        # travels from a worker process to the runner with its arguments
        return (StorageFull, (self.output, self.error))


#: the errors of a full disk or a used-up quota
FULL = (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True)
class Manifest:
    suite: str
    fingerprint: str
    run_ids: tuple[str, ...]
    labels: Mapping[str, str]
    #: the resolved suite; None in folders written before manifests carried it
    design: Design | None = None


def suite_fingerprint(run_ids: Iterable[str]) -> str:
    """Run ids already hash everything that changes numbers; the suite is their set."""
    return content_hash(sorted(run_ids))


class Store:
    """Runs of one output folder. Safe to read while a suite is running."""

    def __init__(self, output: str | Path) -> None:
        self.output = Path(output)
        self.runs = runs_dir(self.output)

    # ------------------------------------------------------------ reading

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    def run_ids(self) -> list[str]:
        """The run folders there are, by id, without reading their records."""
        return [path.name for path in self._run_folders()]

    def _run_folders(self) -> Iterator[Path]:
        if not self.runs.is_dir():
            return
        for path in sorted(self.runs.iterdir()):
            if RUN_ID_PATTERN.match(path.name) and path.is_dir():
                yield path

    def statuses(self) -> dict[str, str]:
        """run id -> status of every run folder: finished, failed, or
        :data:`DAMAGED` when its record is missing or unreadable.

        :raises RecordVersionError: a record written by a newer harness (running
            it again would overwrite it).
        """
        return {
            rid: summary if isinstance(summary, str) else summary.status
            for rid, summary in self.summaries().items()
        }

    def summaries(self) -> dict[str, RecordSummary | str]:
        """run id -> :class:`RecordSummary` of every run folder, or :data:`DAMAGED`
        when its record is missing or unreadable (each record is parsed once per
        process and version of the file, so a command that needs statuses and
        then the skipped files reads the records once).

        :raises RecordVersionError: as :meth:`statuses`.
        """
        out: dict[str, RecordSummary | str] = {}
        for path in self._run_folders():
            try:
                out[path.name] = _summary(path / RECORD)
            except RecordVersionError:
                raise
            except (OSError, ValueError):
                if path.is_dir():  # else it was being replaced right now: not there
                    out[path.name] = DAMAGED
        return out

    def finished_ids(self) -> set[str]:
        return {rid for rid, status in self.statuses().items() if status in DONE_STATUSES}

    def failed_ids(self) -> set[str]:
        return {rid for rid, status in self.statuses().items() if status == FAILED}

    def damaged_ids(self) -> set[str]:
        """Run folders whose record.json is missing or unreadable (a disk filled
        up, a copy was cut short): their runs are run again."""
        return {rid for rid, status in self.statuses().items() if status == DAMAGED}

    def load_record(self, run_id: str) -> RunRecord:
        """The record of a run folder (see :func:`harness.output.record.read_record` for errors)."""
        return read_record(self.run_dir(run_id) / RECORD)

    def skipped(self) -> list[Iterable[Mapping[str, str]]]:
        """The skipped-file rows of each readable record of the current suite
        (the runs :meth:`records` gives), from the records' summaries."""
        manifest = self.manifest()
        summaries = self.summaries()
        run_ids = manifest.run_ids if manifest else list(summaries)
        found = (summaries.get(run_id) for run_id in run_ids)
        return [summary.skipped for summary in found if isinstance(summary, RecordSummary)]

    def records(self, run_ids: Iterable[str] | None = None) -> list[RunRecord]:
        """Records of ``run_ids`` (default: the current suite's, see :meth:`manifest`).

        Runs of other suite versions stay in the folder but are left out here,
        so tables never mix them with the current suite's runs silently.
        """
        if run_ids is None:
            manifest = self.manifest()
            run_ids = manifest.run_ids if manifest else self.run_ids()
        present = set(self.run_ids())
        out = []
        for run_id in run_ids:
            if run_id not in present:
                continue
            try:  # each record read once: a damaged one is left out, as statuses() marks it
                out.append(self.load_record(run_id))
            except RecordVersionError:
                raise
            except (OSError, ValueError):
                continue
        return out

    def manifest(self) -> Manifest | None:
        path = self.output / MANIFEST
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            design = data.get("design")
            return Manifest(
                data["suite"],
                data["fingerprint"],
                tuple(data["run_ids"]),
                data.get("labels", {}),
                Design.from_dict(design) if design is not None else None,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{path} is not a harness manifest: {exc}") from exc

    def stale_ids(self, current: Iterable[str]) -> set[str]:
        """Run folders whose id is not in ``current`` (left by another suite version)."""
        return set(self.statuses()) - set(current)

    # ------------------------------------------------------------ writing

    def write_suite(self, suite: Suite, specs: Iterable[RunSpec]) -> Manifest:
        """Copy the suite file and write the manifest of its runs."""
        self.runs.mkdir(parents=True, exist_ok=True)
        specs = list(specs)
        ids = [s.run_id for s in specs]
        manifest = Manifest(suite.name, suite_fingerprint(ids), tuple(ids),
                            {s.run_id: s.label for s in specs}, Design.from_suite(suite))  # fmt: skip
        old = self.manifest()
        history = []
        if old is not None:
            data = json.loads((self.output / MANIFEST).read_text(encoding="utf-8"))
            history = data.get("history", [])
            if old.fingerprint != manifest.fingerprint:
                history.append({"fingerprint": old.fingerprint, "replaced": now_iso(),
                                "run_ids": list(old.run_ids)})  # fmt: skip
        with contextlib.suppress(OSError), atomic_path(self.output / SUITE_COPY) as tmp:
            # a suite built in code may have no file behind it
            shutil.copyfile(suite.path, tmp)
        write_json(
            self.output / MANIFEST,
            {
                "suite": manifest.suite,
                "fingerprint": manifest.fingerprint,
                "written": now_iso(),
                "run_ids": ids,
                "labels": dict(manifest.labels),
                "design": manifest.design.to_dict() if manifest.design else None,
                "history": history,
            },
        )
        return manifest

    def begin(self, run_id: str) -> Path:
        """A fresh private folder for a run to work in."""
        with self._space():
            self.runs.mkdir(parents=True, exist_ok=True)
            path = temp_run_dir(self.output, run_id, "partial", secrets.token_hex(4))
            path.mkdir()
        return path

    @contextlib.contextmanager
    def _space(self) -> Iterator[None]:
        """A full disk as :class:`StorageFull`, naming this folder."""
        try:
            yield
        except OSError as exc:
            if exc.errno in FULL:
                raise StorageFull(self.output, exc.strerror or str(exc)) from exc
            raise

    def commit(self, run_id: str, partial: Path, record: RunRecord) -> Path:
        """Write ``record`` into ``partial`` and make it ``runs/<run_id>/`` atomically.

        A folder already there (a failed try, or the same run finished by a
        worker that outlived an earlier, killed runner) is replaced, except
        that a failure never replaces a finished run.
        """
        with self._space():
            write_record(partial / RECORD, record)
        final = self.run_dir(run_id)
        for _ in range(5):
            try:
                os.rename(partial, final)
                return final
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR):
                    raise
            try:
                existing = read_record(final / RECORD).status
            except (OSError, ValueError):
                existing = FAILED
            if existing != FAILED and (record.failed or existing == record.status):
                # runs are deterministic: the first finished copy stands
                shutil.rmtree(partial, ignore_errors=True)
                return final
            aside = temp_run_dir(self.output, run_id, "replaced", secrets.token_hex(4))
            try:
                os.rename(final, aside)
            except FileNotFoundError:
                continue
            try:
                os.rename(partial, final)
            finally:
                shutil.rmtree(aside, ignore_errors=True)
            return final
        raise StoreError(f"could not move {partial} to {final}: another process keeps writing it")

    def clean_partial(self) -> list[Path]:
        """Remove folders of runs that never finished (the runner was killed).

        Only folders named as :meth:`begin` and :meth:`commit` name them are
        removed: nothing the harness did not create.
        """
        removed = []
        if self.runs.is_dir():
            for path in self.runs.iterdir():
                if TEMP_NAME_PATTERN.match(path.name) and path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path)
        return removed

    def is_harness_folder(self) -> bool:
        """Whether the output folder is new, empty, or written by the harness
        (it has a manifest, or only what a start that stopped early leaves)."""
        if not self.output.exists() or (self.output / MANIFEST).is_file():
            return True
        if not self.output.is_dir():
            return False
        for entry in self.output.iterdir():
            if entry.name in _STARTED:
                continue
            if entry == self.runs and entry.is_dir() and not any(entry.iterdir()):
                continue
            return False
        return True

    def check_output(self, force: bool = False) -> None:
        """Raise :class:`StoreError` unless the folder can hold this suite's results:
        it must be a folder (or creatable as one), and a non-empty folder must be
        a harness output folder (have a manifest.json) unless ``force``."""
        output = self.output
        for parent in [output, *output.parents]:
            if parent.exists():
                if not parent.is_dir():
                    where = "is" if parent == output else f"is inside {parent}, which is"
                    raise StoreError(
                        f"output folder {output} {where} a file, not a folder; "
                        "choose another --output"
                    )
                break
        if not force and not self.is_harness_folder():
            raise StoreError(
                f"output folder {output} is not empty and has no {MANIFEST}, so no `harness run` "
                "wrote it; the harness would add runs/, CSV tables and report.html there. "
                "Choose a new or empty folder with --output, or pass --force to use this one"
            )

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for one runner; a second one fails instead of mixing runs."""
        try:
            self.output.mkdir(parents=True, exist_ok=True)
            handle = open(self.output / LOCK, "a+")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise StoreError(_unwritable(self.output, exc)) from exc
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; one runner at a time is on the user
            with handle:
                yield
            return
        with handle as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                raise StoreError(
                    f"{self.output} is in use by another `harness run` (lock {self.output / LOCK})"
                ) from exc
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _unwritable(output: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(output) else ""
    return (
        f"cannot write to output folder {output}: {reason}{where}; make it writable or "
        "choose another --output"
    )


def fresh_output(output: str | Path) -> Path | None:
    """Move an existing output folder aside to ``<output>.old-<timestamp>``; return where."""
    output = Path(output)
    if not output.exists():
        return None
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    target = output.with_name(f"{output.name}.old-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = output.with_name(f"{output.name}.old-{stamp}-{n}")
    os.rename(output, target)
    return target


@dataclass(frozen=True)
class RecordSummary:
    """What a command asks of every record before it needs the records
    themselves: the run's status and the files its dataset skipped."""

    status: str
    skipped: tuple[Mapping[str, str], ...]


#: (path, inode, size, mtime) -> summary of the records this process has read:
#: a record is replaced by a rename (a new inode), never edited in place
_SUMMARIES: dict[tuple[str, int, int, int], RecordSummary] = {}


def _summary(path: Path) -> RecordSummary:
    """The summary of the record at ``path``, read once per version of the file."""
    stat = path.stat()
    key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _SUMMARIES:
        record = read_record(path)
        _SUMMARIES[key] = RecordSummary(record.status, record.data.skipped)
    return _SUMMARIES[key]
