"""Suite files: load TOML, validate every key against the schema and the
plugins' declared parameters, and report every problem at once.

:func:`load_suite` reads the file; :class:`harness.spec.validate_suite.Validator`
checks it. What a suite resolves to (:class:`Suite`, :class:`Condition`...)
lives in :mod:`harness.spec.suite_types`; every name is importable from here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from harness.plugin.registry import Registry, load_registry
from harness.plugin.selection import Selection
from harness.spec.config import default_cache_dir
from harness.spec.suite_types import (
    EVERY_MODEL,
    MODEL_TARGET_KEYS,
    Condition,
    Suite,
    SuiteError,
    resolved,
    roles_needed,
    suite_languages,
    suite_roles,
)
from harness.spec.validate_suite import Validator

__all__ = [
    "EVERY_MODEL",
    "MODEL_TARGET_KEYS",
    "Condition",
    "Selection",
    "Suite",
    "SuiteError",
    "default_cache_dir",
    "load_suite",
    "resolved",
    "roles_needed",
    "suite_languages",
    "suite_roles",
]


def _toml_error(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> tuple[str, str]:
    """``file:line:column`` and the parser's message without its position suffix."""
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if match:
        line, column = int(match.group(1)), int(match.group(2))
    elif "(at end of document)" in message:
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    else:
        return str(path), f"TOML syntax error: {message}"
    message = re.sub(r"\s*\((at line \d+, column \d+|at end of document)\)", "", message)
    return f"{path}:{line}:{column}", f"TOML syntax error: {message or 'invalid TOML'}"


def load_suite(
    path: str | Path, registry: Registry | None = None, output: str | Path | None = None
) -> Suite:
    """Read and validate a suite file; raise :class:`SuiteError` listing every problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SuiteError(path, [(str(path), f"cannot read suite file: {exc.strerror}")]) from exc
    text = _decode(path, raw)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(path, [_toml_error(path, text, exc)]) from exc
    return Validator(path, data, registry or load_registry()).build(output)


def _decode(path: Path, raw: bytes) -> str:
    """The suite file as text; a binary or non-UTF-8 file is one located problem."""
    if b"\0" in raw:
        where = f"byte {raw.index(bytes(1))}"
        message = f"not a text file (a NUL byte at {where}); a suite file is TOML text, such as "
        raise SuiteError(path, [(str(path), message + "suites/quick.toml")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        message = (
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save the suite file as UTF-8"
        )
        raise SuiteError(path, [(f"{path}:{line}", message)]) from exc
