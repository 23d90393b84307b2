"""Provenance: the code a run used enters its id, its record and the report."""

from __future__ import annotations

import importlib
import io
import sys
import textwrap
from pathlib import Path

import pytest

import harness
from harness import Component, Param
from harness.output.store import Store
from harness.plugin.provenance import changes, describe, source_files
from harness.plugin.registry import Registry, load_registry
from harness.report.methods import _versions_frame
from harness.running.runner import run_suite
from harness.spec.expand import expand
from harness.spec.suite import Selection, load_suite
from harness.tables.results import load_results

from helpers import runner as h

IN_PROCESS = Selection("executor", "local", {"workers": 1, "threads": 1, "in_process": True}, "")
SUITES = Path(__file__).parent.parent / "suites"

PLUGIN = """\
def make(**params):
    return params
"""


def install(site: Path, version: str | None, module: str = "harness_extra") -> None:
    """A package ``module`` in ``site``; with a version, the dist-info of
    distribution harness-extra as pip writes it for a regular (not editable) install."""
    package = site / module
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(PLUGIN)
    for old in site.glob("harness_extra-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    if version is not None:
        info = site / f"harness_extra-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: harness-extra\nVersion: {version}\n"
        )
        (info / "top_level.txt").write_text(f"{module}\n")


def registry_with(module: str) -> Registry:
    """The runner tests' fake registry whose model comes from ``module``."""
    plugin = importlib.import_module(f"{module}.plugin")
    base = h.registry()
    families = {kind: dict(family) for kind, family in base.components.items()}
    families["model"] = {
        "fake": Component("fake", plugin.make, "fake", [Param("size", int, 4, "size")])
    }
    return Registry(families)


def run(tmp_path: Path, registry: Registry):
    path = tmp_path / "suite.toml"
    path.write_text(h.suite_text(seeds=2))
    suite = load_suite(path, registry, output=tmp_path / "out")
    stream = io.StringIO()
    outcome = run_suite(
        suite, execute=h.fake_execute, executor=IN_PROCESS, registry=registry, stream=stream
    )
    return outcome, stream.getvalue()


def test_a_plugin_version_bump_reruns_its_runs_and_says_why(tmp_path, monkeypatch):
    site = tmp_path / "lib" / "site-packages"  # where an installer puts it
    install(site, "0.1.0")
    monkeypatch.syspath_prepend(str(site))
    first, _ = run(tmp_path, registry_with("harness_extra"))
    assert (first.executed, first.exit_code) == (4, 0)
    again, _ = run(tmp_path, registry_with("harness_extra"))
    assert (again.executed, again.skipped) == (0, 4)  # same version: reused

    install(site, "0.2.0")
    bumped, text = run(tmp_path, registry_with("harness_extra"))
    assert (bumped.executed, bumped.skipped, len(bumped.stale)) == (4, 0, 4)
    assert "4 run(s) run again: plugin harness-extra 0.1.0 -> 0.2.0" in text
    assert bumped.code_changes == {"plugin harness-extra 0.1.0 -> 0.2.0": 4}

    record = Store(tmp_path / "out").records()[0]  # the current suite's, not the stale ones
    model = {k: v for k, v in record["provenance"]["model/fake"].items() if k != "module"}
    assert model["distribution"] == "harness-extra" and model["version"] == "0.2.0"
    assert len(model["source"]) == 16  # the code itself, whatever its version says
    assert record["provenance"]["harness"]["distribution"] == "speech-pretrain-harness"
    assert record["spec"]["provenance"] == record["provenance"]

    with pytest.warns(UserWarning, match="another version of the suite"):
        results = load_results(tmp_path / "out")
    versions = _versions_frame(results).set_index("package")["version"]
    assert versions["plugin model/fake"].startswith("harness-extra 0.2.0 (source ")
    assert versions["harness (run code)"].startswith(
        f"speech-pretrain-harness {harness.__version__}"
    )


def test_changed_code_of_an_unversioned_plugin_reruns_identical_code_does_not(
    tmp_path, monkeypatch
):
    site = tmp_path / "lib" / "site-packages"  # where an installer puts it
    install(site, None, module="extra_unversioned")
    monkeypatch.syspath_prepend(str(site))
    first, _ = run(tmp_path, registry_with("extra_unversioned"))
    same, _ = run(tmp_path, registry_with("extra_unversioned"))
    assert (first.executed, same.executed, same.skipped) == (4, 0, 4)

    helper = site / "extra_unversioned" / "scale.py"
    helper.write_text("FACTOR = 1\n")
    plugin = site / "extra_unversioned" / "plugin.py"
    plugin.write_text(PLUGIN + "from extra_unversioned.scale import FACTOR\n")
    changed, text = run(tmp_path, registry_with("extra_unversioned"))
    assert (changed.executed, changed.skipped) == (4, 0)
    assert "4 run(s) run again: plugin extra_unversioned.plugin source changed (" in text

    helper.write_text("FACTOR = 2\n")  # a module the plugin imports counts too
    again, _ = run(tmp_path, registry_with("extra_unversioned"))
    assert again.executed == 4


def test_builtins_are_the_harness_distribution_and_their_source():
    suite = load_suite(SUITES / "quick.toml")
    provenance = expand(suite, load_registry())[0].provenance
    assert {"harness", "dataset/espeak", "model/lstm", "probe/linear_svc"} <= set(provenance)
    for key, origin in provenance.items():
        assert origin["distribution"] == "speech-pretrain-harness", key
        assert origin["version"] == harness.__version__
        assert len(origin["source"]) == 16
    # a factory named by reference: the module it names, found without importing it
    assert provenance["model/lstm"]["module"] == "harness_plugins.models.lstm_model"
    assert "harness_plugins.models.lstm_model" in source_files("harness_plugins.models.lstm_model")


def test_the_harness_hash_covers_the_run_code_not_the_report():
    files = source_files("harness.run.execute")
    assert {
        "harness.run.execute",
        "harness.learning.training",
        "harness.data.features",
        "harness.data.audio",
    } <= set(files)
    assert not {
        "harness.running.runner",
        "harness.report",
        "harness.cli",
        "harness.tables.results",
    } & set(files)
    import harness_plugins.probes.ridge  # noqa: F401  (its package found on disk from here)

    ridge = source_files("harness_plugins.probes.ridge_probe")
    assert set(ridge) == {
        "harness_plugins.probes.ridge_probe",
        "harness_plugins.probes.ridge",
        "harness_plugins.probes.ridge_operators",
    }


def test_resolving_provenance_imports_nothing(tmp_path):
    # the runner resolves provenance in the main process, which must not import torch
    code = textwrap.dedent("""\
        import sys
        from harness.plugin.provenance import source_hash
        assert source_hash("harness.run.execute")
        assert "torch" not in sys.modules and "harness.run.execute" not in sys.modules
    """)
    import subprocess

    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


def test_changes_name_what_changed():
    old = {
        "harness": {"distribution": "speech-pretrain-harness", "version": "0.1.0"},
        "model/gru": {"distribution": "harness-extra", "version": "0.1.0"},
        "probe/knn": {"module": "mine.probes", "distribution": None, "version": None, "source": "aaaaaaaa11"},
    }  # fmt: skip
    new = {
        "harness": {"distribution": "speech-pretrain-harness", "version": "0.2.0"},
        "model/gru": {"distribution": "harness-extra", "version": "0.1.0"},
        "probe/knn": {"module": "mine.probes", "distribution": None, "version": None, "source": "bbbbbbbb22"},
    }  # fmt: skip
    assert changes(old, new) == [
        "harness 0.1.0 -> 0.2.0",
        "plugin mine.probes source changed (aaaaaaaa -> bbbbbbbb)",
    ]
    assert changes(old, old) == []
    assert describe(new["probe/knn"]) == "mine.probes (no distribution, source bbbbbbbb)"


def test_parsed_imports_are_kept_between_processes_by_content(tmp_path, monkeypatch):
    """A command after the first reads the harness's import graph from the cache
    (no parsing); a file whose content changed, even at the same size, is parsed again."""
    from harness.plugin import provenance

    def fresh_process():
        provenance._parsed_imports.cache_clear()
        monkeypatch.setattr(provenance, "_IMPORTS_FILE", provenance._ImportsFile())

    package = tmp_path / "site" / "cachedpkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cachedpkg import b\n")
    (package / "b.py").write_text("X = 1\n")
    (package / "c.py").write_text("Y = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.import_module("cachedpkg")
    fresh_process()
    first = source_files("cachedpkg.a")
    assert sorted(first) == ["cachedpkg", "cachedpkg.a", "cachedpkg.b"]
    assert provenance._IMPORTS_FILE.path().is_file()

    fresh_process()
    parsed = []
    real = provenance._imports_in
    monkeypatch.setattr(provenance, "_imports_in", lambda *a: parsed.append(a) or real(*a))
    assert source_files("cachedpkg.a") == first and parsed == []

    (package / "a.py").write_text("from cachedpkg import c\n")  # same size, new content
    fresh_process()
    assert sorted(source_files("cachedpkg.a")) == ["cachedpkg", "cachedpkg.a", "cachedpkg.c"]
    assert len(parsed) == 2  # a.py, and c.py seen for the first time


def test_an_unwritable_imports_cache_is_ignored(tmp_path, monkeypatch):
    from harness.plugin import provenance

    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("HARNESS_CACHE", str(blocked))
    provenance._parsed_imports.cache_clear()
    monkeypatch.setattr(provenance, "_IMPORTS_FILE", provenance._ImportsFile())
    assert "harness.run.execute" in source_files("harness.run.execute")
