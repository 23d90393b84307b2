"""The report never asks the installed plugins: what it says about components
(titles, metric labels, whether a filter keeps speech) comes from the facts
`harness run` wrote into the manifest's design, so switching a plugin off
after the runs changes nothing it says."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.plugin.registry import DISABLE_ENV
from harness.testing import run_tiny_suite

from helpers.fake_results import (
    FLAGSHIP_CONDITIONS,
    FLAGSHIP_MODELS,
    FakeSuite,
    write_fake_results,
)

ROOT = Path(__file__).parent.parent
#: runs probes on simulated latents through registered plugins: not part of
#: reading a results folder, so not held to this rule
RUNS_PLUGINS = {"harness.stats.calibration"}


def _report_side() -> list[str]:
    """Every module that reads a results folder: report, results, tables, stats, export."""
    names = []
    for folder in ("tables", "report", "stats"):
        for path in sorted((ROOT / "harness" / folder).glob("*.py")):
            stem = path.stem
            names.append(f"harness.{folder}" if stem == "__init__" else f"harness.{folder}.{stem}")
    return [n for n in names if n not in RUNS_PLUGINS]


def test_no_report_module_imports_the_registry_directly_or_through_another():
    code = (
        "import sys\n"
        f"for name in {_report_side()!r}:\n"
        "    __import__(name)\n"
        "print(sorted(m for m in sys.modules if m in ('harness.plugin.registry', 'harness.spec.facts_capture')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_names_reads_the_design_not_the_registry():
    text = (ROOT / "harness" / "plugin" / "names.py").read_text(encoding="utf-8")
    assert "registry" not in text.split('"""', 2)[2]


def _answer(folder: Path) -> str:
    page = (folder / "report.html").read_text(encoding="utf-8")
    start = page.index('id="synthesis"')
    return page[start : page.index("</div>", start)]


def _outputs(folder: Path) -> dict[str, str]:
    """The answer section and every statistics table, as written."""
    out = {"answer": _answer(folder)}
    for path in sorted((folder / "stats").glob("*.csv")):
        out[path.name] = path.read_text(encoding="utf-8")
    return out


def test_switching_off_the_filter_plugin_the_runs_used_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "")  # restored after the test: --disable-plugin sets it
    conditions = [
        {"name": "none"},
        {
            "name": "es-lp500",
            "language": "es",
            "epochs": 1,
            "filter": {"plugin": "lowpass", "cutoff_hz": 500.0},
        },
        {"name": "noise", "language": "es", "epochs": 1, "filter": {"plugin": "noise"}},
    ]
    results = run_tiny_suite(tmp_path, conditions=conditions, seeds=[0, 1])
    folder = results.output_dir
    assert main(["report", str(folder)]) == 0
    plain = _outputs(folder)
    assert main(["--disable-plugin", "filters", "report", str(folder)]) == 0
    assert _outputs(folder) == plain
    assert "between" in " ".join(plain) and plain["answer"]


@pytest.fixture(scope="module")
def earlier(tmp_path_factory) -> Path:
    """A flagship-shaped folder as the previous release wrote it: no facts.
    Its low-passed conditions speed learning alike and its runs vary little
    around their seed, so they are shown equivalent, and what that implies
    (not specific to language) needs the filters' facts."""
    shown = ("none", "es-lp500", "it-lp500", "noise-lp500")
    fake = FakeSuite(
        conditions=tuple(
            dataclasses.replace(c, speed=0.6) if c.name != "none" else c
            for c in FLAGSHIP_CONDITIONS
            if c.name in shown
        ),
        run_noise=0.02,
        eval_every=5,
        models=FLAGSHIP_MODELS[:1],
        seeds=tuple(range(8)),
        diverged=(),
        failed=(),
        tsne=False,
    )
    return write_fake_results(tmp_path_factory.mktemp("earlier") / "with", fake)


def test_a_folder_from_before_gets_its_facts_once_and_reads_the_same(earlier, tmp_path, capsys):
    assert main(["report", str(earlier)]) == 0
    capsys.readouterr()
    old = shutil.copytree(earlier, tmp_path / "before")
    manifest = json.loads((old / "manifest.json").read_text(encoding="utf-8"))
    facts = manifest["design"].pop("facts")
    (old / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert main(["report", str(old)]) == 0
    err = capsys.readouterr().err
    assert "filled in those of" in err
    written = json.loads((old / "manifest.json").read_text(encoding="utf-8"))
    filled = {c["name"]: c for c in written["design"]["facts"]["components"]}
    assert set(filled) <= {c["name"] for c in facts["components"]}
    assert filled["noise"]["keeps_speech"] is False and filled["lstm"]["title"] == "LSTM"
    assert _outputs(old) == _outputs(earlier)
    assert "not specific to language" in _answer(old)
    # once: the next report reads the facts written
    assert main(["report", str(old)]) == 0
    assert "filled in" not in capsys.readouterr().err
