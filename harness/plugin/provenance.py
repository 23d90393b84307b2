"""Where the code of a run comes from: distribution, version and source hash.

Each component a run uses, and the harness itself, is resolved to the
installed distribution that provides its module (``importlib.metadata``) and
that distribution's version, and identified by a hash of its source: the
module that defines the component's factory and the modules of the same
top-level package it imports, transitively. A version alone would miss an
editable install or a working tree changing under the same number; the hash
is the same wherever identical code is imported from. The harness
itself is hashed from :mod:`harness.run.execute` and the harness modules it
imports: the code that computes a run, not the report.

Everything here reads files and metadata only: nothing is imported, so the
runner can resolve provenance in the main process without importing torch.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import importlib.metadata as md
import inspect
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.plugin.components import Component

#: the module whose imports, transitively, are the harness code a run executes
RUN_MODULE = "harness.run.execute"
HARNESS = "harness"
#: length of the source hashes kept (hex digits of SHA-256)
HASH_LENGTH = 16


def _origin_key(kind: str, name: str) -> str:
    return f"{kind}/{name}"


# ---------------------------------------------------------------- distributions


def _path_state() -> tuple[tuple[str, float], ...]:
    # installing or removing a distribution changes its site folder's mtime
    state = []
    for entry in sys.path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime))
        except OSError:
            continue
    return tuple(state)


@functools.lru_cache(maxsize=4)
def _distributions_by_package(state: tuple[tuple[str, float], ...]) -> dict[str, list[str]]:
    del state  # the cache key only
    return {name: sorted(set(dists)) for name, dists in md.packages_distributions().items()}


def distribution_of(module: str) -> str | None:
    """The installed distribution providing the top-level package of ``module``."""
    top = module.partition(".")[0]
    names = _distributions_by_package(_path_state()).get(top, [])
    return names[0] if len(names) == 1 else None


# ---------------------------------------------------------------- source hashes


def _package_root(top: str) -> list[Path]:
    """Folders (or the single file) of an imported top-level package."""
    module = sys.modules.get(top)
    if module is None:
        return []
    paths = [Path(p) for p in getattr(module, "__path__", [])]
    file = getattr(module, "__file__", None)
    if not paths and file:
        return [Path(file)]
    return paths


def _module_file(name: str) -> Path | None:
    """The source file of module ``name``, found on disk without importing it."""
    loaded = sys.modules.get(name)
    file = getattr(loaded, "__file__", None) if loaded is not None else None
    if file and file.endswith(".py"):
        return Path(file)
    top, _, rest = name.partition(".")
    for root in _package_root(top):
        if root.is_file():  # a top-level module of one file has no submodules
            if not rest:
                return root
            continue
        base = root.joinpath(*rest.split(".")) if rest else root
        if rest and base.with_suffix(".py").is_file():
            return base.with_suffix(".py")
        if (base / "__init__.py").is_file():
            return base / "__init__.py"
    return None


def _imports(path: Path, module: str, top: str) -> frozenset[str]:
    """Modules of package ``top`` that ``path`` (module ``module``) imports anywhere."""
    try:
        stat = path.stat()
    except OSError:
        return frozenset()
    # parsing is the slow part; a file's imports change only when the file does
    return _parsed_imports(str(path), stat.st_mtime_ns, stat.st_size, module, top)


class _ImportsFile:
    """Parsed imports kept between processes, by the file's content digest:
    parsing is most of what hashing the harness's source costs a command
    (~0.3 s of CPU), and a file's imports change only with its content.

    Kept in ``<cache>/provenance/imports.json`` (``$HARNESS_CACHE``, default
    ``~/.cache/harness``); a cache that cannot be read or written is ignored.
    """

    NAME = Path("provenance") / "imports.json"

    def __init__(self) -> None:
        self.entries: dict[str, list[str]] | None = None
        self.added = False

    def path(self) -> Path:
        from harness.spec.config import default_cache_dir

        return default_cache_dir() / self.NAME

    def get(self, key: str) -> list[str] | None:
        if self.entries is None:
            try:
                found = json.loads(self.path().read_text(encoding="utf-8"))
            except (OSError, ValueError):
                found = {}
            self.entries = found if isinstance(found, dict) else {}
        value = self.entries.get(key)
        return value if isinstance(value, list) else None

    def put(self, key: str, imports: list[str]) -> None:
        if self.entries is not None:
            self.entries[key] = imports
            self.added = True

    def save(self) -> None:
        if not self.added or self.entries is None:
            return
        from harness.atomic import write_json

        with contextlib.suppress(OSError):
            self.path().parent.mkdir(parents=True, exist_ok=True)
            write_json(self.path(), self.entries, fsync=False)
        self.added = False


_IMPORTS_FILE = _ImportsFile()


@functools.lru_cache(maxsize=1024)
def _parsed_imports(path: str, mtime_ns: int, size: int, module: str, top: str) -> frozenset[str]:
    del mtime_ns, size  # the cache key only
    try:
        data = Path(path).read_bytes()
    except OSError:
        return frozenset()
    is_package = path.endswith("__init__.py")
    key = f"{hashlib.sha256(data).hexdigest()} {module} {top} {int(is_package)}"
    known = _IMPORTS_FILE.get(key)
    if known is None:
        known = sorted(_imports_in(data, module, top, is_package))
        _IMPORTS_FILE.put(key, known)
    return frozenset(known)


def _imports_in(data: bytes, module: str, top: str, is_package: bool) -> set[str]:
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return set()
    out: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = ".".join([*parts[: max(keep, 0)], *([base] if base else [])])
            # `from pkg import sub` may name a submodule or an attribute: try both
            names = [base, *(f"{base}.{a.name}" for a in node.names)]
        out.update(n for n in names if n == top or n.startswith(top + "."))
    return out


def source_files(module: str) -> dict[str, Path]:
    """``module`` and the modules of its top-level package it imports, transitively."""
    top = module.partition(".")[0]
    found: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        path = _module_file(name)
        if path is None:
            continue
        found[name] = path
        todo.extend(_imports(path, name, top) - set(found))
    _IMPORTS_FILE.save()
    return found


def source_hash(module: str) -> str | None:
    """A hash of the source of ``module`` and what it imports from its own package;
    None when no source file can be found (code typed into a notebook)."""
    files = source_files(module)
    if not files:
        return None
    digest = hashlib.sha256()
    for name in sorted(files):
        try:
            data = files[name].read_bytes()
        except OSError:
            continue
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:HASH_LENGTH]


# ---------------------------------------------------------------- origins


def module_origin(module: str, hash_from: str | None = None) -> dict[str, Any]:
    """Distribution, version and source hash of ``module``.

    The source hash is always taken: it is what the code is, wherever it was
    imported from (a working tree, an editable install, a wheel in
    site-packages), so the same code gives the same identity in every process.
    The version says which release it claims to be, for the reader.

    :param hash_from: the module the source hash starts from (default ``module``).
    """
    origin: dict[str, Any] = {"module": module, "distribution": None, "version": None}
    name = distribution_of(module)
    if name is not None:
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            dist = None
        if dist is not None:
            origin["distribution"] = dist.metadata["Name"] or name
            origin["version"] = dist.version
    origin["source"] = source_hash(hash_from or module)
    return origin


def factory_module(component: Component) -> str:
    """The module that defines a component's factory (a class or function;
    for a factory named by reference, the module it names, not imported)."""
    factory: Any = component.factory
    if isinstance(factory, str):
        return factory.partition(":")[0]
    factory = getattr(factory, "func", factory)  # functools.partial
    factory = getattr(factory, "__func__", factory)  # bound method
    module = inspect.getmodule(factory)
    if module is None and not hasattr(factory, "__module__"):
        module = inspect.getmodule(type(factory))
    return module.__name__ if module is not None else str(getattr(factory, "__module__", "?"))


def harness_origin() -> dict[str, Any]:
    """The harness itself: its distribution and the hash of the code that computes a run."""
    origin = module_origin(HARNESS, hash_from=RUN_MODULE)
    origin["module"] = HARNESS
    return origin


class Resolver:
    """Origins of components, each resolved once (one suite's expansion)."""

    def __init__(self) -> None:
        self._cache: dict[str, dict[str, Any]] = {}

    def harness(self) -> dict[str, Any]:
        if HARNESS not in self._cache:
            self._cache[HARNESS] = harness_origin()
        return self._cache[HARNESS]

    def component(self, kind: str, component: Component) -> dict[str, Any]:
        key = _origin_key(kind, component.name)
        if key not in self._cache:
            self._cache[key] = module_origin(factory_module(component))
        return self._cache[key]

    def run(self, components: Iterable[tuple[str, Component]]) -> dict[str, Any]:
        """The provenance of one run: the harness and each component it uses."""
        out = {HARNESS: self.harness()}
        for kind, component in components:
            out[_origin_key(kind, component.name)] = self.component(kind, component)
        return dict(sorted(out.items()))


# ---------------------------------------------------------------- describing


def describe(origin: Mapping[str, Any]) -> str:
    """One origin as a reader writes it: ``dist 0.2.0 (source 1a2b3c4d)``."""
    notes = []
    if origin.get("distribution"):
        text = f"{origin['distribution']} {origin.get('version')}"
    else:
        text = str(origin.get("module"))
        notes.append("no distribution")
    if origin.get("source"):
        notes.append(f"source {str(origin['source'])[:8]}")
    return text + (f" ({', '.join(notes)})" if notes else "")


def _who(key: str, origin: Mapping[str, Any]) -> str:
    if key == HARNESS:
        return "harness"
    return f"plugin {origin.get('distribution') or origin.get('module') or key}"


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """How two runs' provenance differ, one phrase per distribution or module that
    changed (``plugin harness-extra 0.1.0 -> 0.2.0``), sorted."""
    out = set()
    for key in set(old) | set(new):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if not isinstance(before, Mapping) or not isinstance(after, Mapping):
            # a run uses the same kinds of component in every suite version, so
            # this is an older record's layout: say what the run uses now
            now = after if isinstance(after, Mapping) else before
            assert isinstance(now, Mapping)
            out.add(f"{_who(key, now)} {describe(now)} (not in the earlier record)")
        elif before.get("distribution") != after.get("distribution"):
            out.add(f"{_who(key, after)}: {describe(before)} -> {describe(after)}")
        elif before.get("version") != after.get("version"):
            out.add(f"{_who(key, after)} {before.get('version')} -> {after.get('version')}")
        elif before.get("source") != after.get("source"):
            old_src, new_src = (str(o.get("source") or "none")[:8] for o in (before, after))
            out.add(f"{_who(key, after)} source changed ({old_src} -> {new_src})")
        else:
            out.add(f"{_who(key, after)}: {describe(before)} -> {describe(after)}")
    return sorted(out)
