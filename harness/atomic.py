"""Writing files so that a reader sees the old file or the new one, never half.

Every file the harness writes for others to read (run records, manifests,
caches, CSV tables, the report) goes through :func:`atomic_path`: the content
is written to a temporary file in the same folder, flushed to disk, and
renamed over the target, which POSIX makes atomic. A writer that dies leaves
at most a hidden ``.tmp`` file behind, never a truncated target.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Prefix of the temporary files, so folder scans can skip them.
TEMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` on success.

    The temporary file is removed if the block raises. The parent folder is
    created if needed. With ``fsync`` the content reaches the disk before the
    rename, so a power cut cannot leave an empty file under the final name.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}{target.suffix}"
    # not tempfile.mkstemp: its files are private (0600), and a record or a
    # report should be as readable as a plainly written file (0666 less umask)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str, *, fsync: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"), fsync=fsync)


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float, or None (JSON null) if it is None, NaN or infinite.

    Records and caches write a missing or non-finite loss or metric as null,
    which every JSON reader understands (NaN is not standard JSON).
    """
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays and paths are common in records; anything else is a bug
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable: {value!r:.80}")


def write_json(path: str | os.PathLike[str], value: Any, *, fsync: bool = True) -> None:
    """Write ``value`` as indented JSON atomically (numpy values become lists)."""
    text = json.dumps(value, indent=1, default=_json_default, allow_nan=True)
    write_text(path, text, fsync=fsync)
