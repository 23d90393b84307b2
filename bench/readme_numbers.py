"""Every number README.md (and the docs) quote from a suite's runs, computed
again from stored runs with the project's own analysis code.

    python bench/readme_numbers.py --check         # exit 1 and a diff when a number moved
    python bench/readme_numbers.py --write         # rewrite the numbers in place
    python bench/readme_numbers.py --list          # every key, its value, the measured facts
    python bench/readme_numbers.py --refresh DIR   # store a finished results folder

A quoted number sits between two invisible HTML comments naming its key,
``<!--n:pretrain.lstm.full-->0.55 [0.52, 0.60]<!--/n-->``, so the prose around
it can be reworded freely; :data:`NUMBERS` says how each key is computed from
the suite's stored runs (``tests/fixtures/readme_runs/<suite>/``: the
manifest, the suite file and every run record, xz-compressed). The records
are stored, not the exported CSV tables: separability is tested on each
run's per-speaker contributions and speaker relabellings, which only the
records hold. They are loaded through :func:`harness.tables.load_results`
and analysed by :func:`harness.stats.analysis.analyse`, as ``harness run``
does, so a change to the statistics that moves a quoted number fails
``tests/test_readme_numbers.py`` until ``--write`` is run. Checked when the
runs were stored: every ``stats/*.csv`` table computed from them equals the one
``harness run`` wrote, except CKA (it needs the latent arrays, 64 MB for the
flagship, which are not stored; nothing quoted uses it).

Wall times, CPU seconds, load averages and machine facts cannot be derived
from stored runs (they are properties of one execution on one machine): the
README states them as measured, :data:`MEASURED` lists them with where they
come from, and nothing checks them.

It lives in bench/ with the other scripts that produce the numbers the docs
quote (calibration, timings); it is linted with them and is not part of the
installed package.
"""

from __future__ import annotations

import argparse
import difflib
import json
import lzma
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path

from readme_keys import MEASURED
from readme_keys import NUMBERS as SUITE_NUMBERS
from readme_keys_studies import STUDIES

from harness.output.layout import MANIFEST, RECORD, SUITE_COPY, run_dir
from harness.output.store import Store, StoreError
from harness.stats.analysis import Analysis, analyse
from harness.tables.results import Results, load_results

#: every key: the suites' of readme_keys.py and the published studies'
NUMBERS = {**SUITE_NUMBERS, **STUDIES}
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "readme_runs"
#: the documents whose marked numbers are computed here
DOCUMENTS = ("README.md", "docs/report.md", "docs/plugins.md")
RECORDS = "records.jsonl.xz"
MARK = re.compile(r"<!--n:(?P<key>[A-Za-z0-9_.\-]+)-->(?P<value>.*?)<!--/n-->", re.S)
EXIT_MOVED, EXIT_USAGE = 1, 2


class NumbersError(Exception):
    """A document or a results folder this script cannot use (exit 2)."""


class StoredSuite:
    """One suite's stored runs, loaded and analysed on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def results(self) -> Results:
        return self._loaded[0]

    @property
    def analysis(self) -> Analysis:
        return self._loaded[1]

    @cached_property
    def _loaded(self) -> tuple[Results, Analysis]:
        if not (self.folder / RECORDS).is_file():
            raise NumbersError(
                f"{self.folder / RECORDS}: no stored runs; store a finished results folder "
                f"with `python bench/readme_numbers.py --refresh DIR`"
            )
        with tempfile.TemporaryDirectory(prefix="readme-runs-") as tmp:
            out = Path(tmp)
            unpack(self.folder, out)
            results = load_results(out)
            # as `harness run` computes it
            return results, analyse(results)


class Stored:
    """The stored suites by name (the folders of :data:`FIXTURES`)."""

    def __init__(self, fixtures: Path = FIXTURES) -> None:
        self.fixtures = fixtures
        self._suites: dict[str, StoredSuite] = {}

    def __getitem__(self, name: str) -> StoredSuite:
        if name not in self._suites:
            self._suites[name] = StoredSuite(self.fixtures / name)
        return self._suites[name]


def unpack(folder: Path, out: Path) -> None:
    """Lay the stored suite in ``folder`` out as the results folder it came
    from (manifest, suite file, one record per run folder)."""
    for name in (MANIFEST, SUITE_COPY):
        if (folder / name).is_file():
            shutil.copyfile(folder / name, out / name)
    with lzma.open(folder / RECORDS, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            target = run_dir(out, record["run_id"])
            target.mkdir(parents=True)
            (target / RECORD).write_text(json.dumps(record), encoding="utf-8")


def refresh(source: Path, fixtures: Path | None = None) -> Path:
    """Store the finished results folder ``source`` as the stored runs of its
    suite (named by its manifest); return the folder written."""
    store = Store(source)
    try:
        manifest = store.manifest()
    except StoreError as exc:
        raise NumbersError(f"{source}: {exc}") from exc
    if manifest is None:
        raise NumbersError(f"{source / MANIFEST}: missing; give a folder `harness run` wrote")
    present = set(store.run_ids())
    missing = [r for r in manifest.run_ids if r not in present]
    if missing:
        raise NumbersError(
            f"{source}: {len(missing)} of {len(manifest.run_ids)} runs have no record "
            f"(first: {missing[0]}); finish the suite with `harness run` first"
        )
    target = (fixtures or FIXTURES) / manifest.suite
    target.mkdir(parents=True, exist_ok=True)
    for name in (MANIFEST, SUITE_COPY):
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)
    lines = []
    for run_id in manifest.run_ids:
        path = run_dir(source, run_id) / RECORD
        lines.append(
            json.dumps(json.loads(path.read_text(encoding="utf-8")), separators=(",", ":"))
        )
    data = ("\n".join(lines) + "\n").encode("utf-8")
    (target / RECORDS).write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    return target


def marks(text: str, path: str) -> list[tuple[str, str]]:
    """(key, value) of every marked number of one document, in order; an
    unknown key is an error that names the document, the key and the line."""
    found = []
    for match in MARK.finditer(text):
        key = match["key"]
        if key not in NUMBERS:
            line = text.count("\n", 0, match.start()) + 1
            raise NumbersError(
                f"{path}:{line}: unknown number key {key!r}; "
                f"the keys are listed by `python bench/readme_numbers.py --list`"
            )
        found.append((key, match["value"]))
    return found


def compute(keys: Iterable[str], stored: Stored) -> dict[str, str]:
    """The value of each key, from the stored runs. A key whose table no
    longer has its rows or columns (a renamed condition or column) is an error
    that names the key, not a traceback."""
    values = {}
    for key in dict.fromkeys(keys):
        try:
            values[key] = NUMBERS[key](stored)
        except (KeyError, ValueError, IndexError) as exc:
            raise NumbersError(
                f"bench/readme_keys.py: {key}: cannot be computed from the stored runs "
                f"({type(exc).__name__}: {exc}); update its entry in NUMBERS"
            ) from exc
    return values


def rewrite(text: str, values: dict[str, str]) -> str:
    """``text`` with every marked number replaced by its computed value."""
    return MARK.sub(lambda m: f"<!--n:{m['key']}-->{values[m['key']]}<!--/n-->", text)


def documents(root: Path | None = None) -> dict[str, str]:
    """The documents that quote numbers, by name, as they read now."""
    return {name: ((root or ROOT) / name).read_text(encoding="utf-8") for name in DOCUMENTS}


def regenerated(texts: dict[str, str], stored: Stored) -> dict[str, str]:
    """Each document as the stored runs say it should read."""
    keys = [key for name, text in texts.items() for key, _ in marks(text, name)]
    unused = sorted(set(NUMBERS) - set(keys))
    if unused:
        raise NumbersError(
            f"bench/readme_keys.py: key(s) no document quotes: {', '.join(unused)}; "
            "quote them or remove them"
        )
    values = compute(keys, stored)
    return {name: rewrite(text, values) for name, text in texts.items()}


def diff(old: dict[str, str], new: dict[str, str]) -> str:
    """A unified diff of the documents whose numbers moved."""
    out: list[str] = []
    for name in old:
        out += difflib.unified_diff(
            old[name].splitlines(keepends=True),
            new[name].splitlines(keepends=True),
            fromfile=f"{name} (now)",
            tofile=f"{name} (from the stored runs)",
            n=0,
        )
    return "".join(out)


def check(root: Path | None = None, stored: Stored | None = None) -> str:
    """The diff between the documents and the stored runs' numbers ('' if none)."""
    texts = documents(root)
    return diff(texts, regenerated(texts, stored or Stored()))


def write(root: Path | None = None, stored: Stored | None = None) -> list[str]:
    """Rewrite the documents' numbers; return the names of those that changed."""
    texts = documents(root)
    new = regenerated(texts, stored or Stored())
    changed = [name for name in texts if new[name] != texts[name]]
    for name in changed:
        ((root or ROOT) / name).write_text(new[name], encoding="utf-8")
    return changed


def listing(stored: Stored) -> str:
    values = compute(NUMBERS, stored)
    width = max(map(len, values))
    lines = [f"{key:<{width}}  {value}" for key, value in values.items()]
    lines += ["", "measured facts (stated as measured, not derivable from stored runs, unchecked):"]
    lines += [f"  {fact}: {source}" for fact, source in MEASURED]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--check", action="store_true", help="exit 1 with a diff if a number moved")
    group.add_argument("--write", action="store_true", help="rewrite the numbers in place")
    group.add_argument("--list", action="store_true", help="print every key and its value")
    group.add_argument(
        "--refresh", type=Path, metavar="DIR", help="store a finished results folder"
    )
    args = parser.parse_args(argv)
    actions: dict[str, Callable[[], int]] = {
        "check": _check,
        "write": lambda: _say(f"rewrote: {', '.join(write()) or 'nothing changed'}"),
        "list": lambda: _say(listing(Stored())),
        "refresh": lambda: _say(f"stored: {refresh(args.refresh)}"),
    }
    action = next(name for name in actions if getattr(args, name))
    try:
        return actions[action]()
    except NumbersError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _check() -> int:
    moved = check()
    if moved:
        print(moved, end="" if moved.endswith("\n") else "\n", flush=True)
        print("numbers moved: run `python bench/readme_numbers.py --write`", file=sys.stderr)
        return EXIT_MOVED
    print("every quoted number matches the stored runs")
    return 0


def _say(text: str) -> int:
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
