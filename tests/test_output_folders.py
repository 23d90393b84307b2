"""Output folders and starting a run: whose folder it is, what the harness may
delete, damaged records, and every reason a run cannot start (exit 2, no traceback)."""

from __future__ import annotations

import io
import json
import pathlib
from pathlib import Path

import pytest

from harness import Component
from harness.cli import main
from harness.output.store import DAMAGED, Store, StoreError
from harness.plugin.registry import Registry, load_registry
from harness.running.runner import ExecutorError, run_suite
from harness.spec.suite import Selection
from harness.tables.results import load_results

from helpers import runner as h

IN_PROCESS = Selection("executor", "local", {"workers": 1, "threads": 1, "in_process": True}, "")
QUICK = Path(__file__).parent.parent / "suites" / "quick.toml"


def run(suite, **kwargs):
    stream = io.StringIO()
    outcome = run_suite(suite, execute=h.fake_execute, executor=IN_PROCESS,
                        registry=h.registry(), stream=stream, **kwargs)  # fmt: skip
    return outcome, stream.getvalue()


def cli_run(capsys, *args) -> tuple[int, str]:
    code = main(["run", str(QUICK), "--no-report", *map(str, args)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err


def test_a_folder_the_harness_did_not_write_is_refused_without_force(tmp_path, capsys):
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("mine")
    code, err = cli_run(capsys, "--output", out)
    assert code == 2
    assert f"output folder {out} is not empty and has no manifest.json" in err
    assert "--force" in err
    assert sorted(p.name for p in out.iterdir()) == ["chapter1.tex"]  # nothing written


def test_with_force_the_harness_deletes_nothing_it_did_not_create(tmp_path):
    out = tmp_path / "out"
    (out / "runs" / "mine.partial-notes").mkdir(parents=True)
    (out / "runs" / "mine.partial-notes" / "keep.txt").write_text("mine")
    (out / "runs" / "0123456789abcdef.partial-draft").mkdir()
    (out / "readme.txt").write_text("mine")
    suite = h.make_suite(tmp_path, seeds=1)
    with pytest.raises(StoreError, match=r"has no manifest\.json"):
        run(suite)
    outcome, _ = run(suite, force=True)
    assert (outcome.executed, outcome.exit_code) == (2, 0)
    assert (out / "runs" / "mine.partial-notes" / "keep.txt").read_text() == "mine"
    assert (out / "runs" / "0123456789abcdef.partial-draft").is_dir()
    assert (out / "readme.txt").read_text() == "mine"
    again, _ = run(suite)  # now it has a manifest: no --force needed
    assert again.skipped == 2


def test_a_harness_made_partial_folder_is_cleaned(tmp_path):
    suite = h.make_suite(tmp_path, seeds=1)
    run(suite)
    leftover = suite.output / "runs" / "0123456789abcdef.partial-0a1b2c3d"
    leftover.mkdir()
    run(suite)
    assert not leftover.exists()


def test_a_damaged_record_is_reported_and_run_again(tmp_path):
    suite = h.make_suite(tmp_path, seeds=2)
    run(suite)
    store = Store(suite.output)
    victim = sorted(store.finished_ids())[0]
    label = store.load_record(victim)["label"]
    path = store.run_dir(victim) / "record.json"
    path.write_text(path.read_text()[:40])  # truncated, as by a full disk

    assert store.statuses()[victim] == DAMAGED
    assert victim not in store.finished_ids()
    with pytest.warns(UserWarning, match="damaged run record"):
        results = load_results(suite.output)
    assert any(f"{path}: damaged run record" in p for p in results.problems)

    outcome, text = run(suite)
    assert (outcome.executed, outcome.skipped, outcome.exit_code) == (1, 3, 0)
    assert outcome.damaged == [label]
    assert f"1 damaged run record(s) (record.json missing or unreadable) run again: {label}" in text
    assert json.loads(path.read_text())["status"] in ("reached", "censored", "diverged")


def test_a_second_run_on_a_folder_in_use_exits_2(tmp_path, capsys):
    out = tmp_path / "out"
    with Store(out).lock():
        code, err = cli_run(capsys, "--output", out)
    assert code == 2
    assert f"{out} is in use by another `harness run`" in err


def test_an_output_folder_that_cannot_be_written_exits_2(tmp_path, capsys, monkeypatch):
    out = tmp_path / "readonly" / "out"
    real_mkdir = pathlib.Path.mkdir

    def mkdir(self, *args, **kwargs):
        if str(self).startswith(str(tmp_path / "readonly")):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)  # root ignores chmod, so simulate it
    code, err = cli_run(capsys, "--output", out)
    assert code == 2
    assert f"cannot write to output folder {out}: Permission denied" in err
    assert "choose another --output" in err


def test_output_under_a_regular_file_exits_2(tmp_path, capsys):
    (tmp_path / "results").write_text("a file")
    out = tmp_path / "results" / "out"
    code, err = cli_run(capsys, "--output", out)
    assert code == 2
    assert f"output folder {out} is inside {tmp_path / 'results'}, which is a file" in err
    code, err = cli_run(capsys, "--output", tmp_path / "results")
    assert code == 2 and "is a file, not a folder" in err


def _no_dask(**params):
    raise ImportError("the dask executor needs `pip install 'speech-pretrain-harness[dask]'`")


def test_an_executor_that_cannot_start_leaves_no_folder_behind(tmp_path, capsys, monkeypatch):
    base = load_registry()
    families = {kind: dict(family) for kind, family in base.components.items()}
    families["executor"]["nodask"] = Component("nodask", _no_dask, "an executor that is missing")
    monkeypatch.setattr("harness.cli.load_registry", lambda: Registry(families))
    out = tmp_path / "out"
    code, err = cli_run(capsys, "--output", out, "--executor", "nodask")
    assert code == 2
    assert "executor plugin 'nodask' could not start: ImportError: the dask executor needs" in err
    assert f"no run started and {out} was not created" in err
    assert not out.exists()


def test_an_executor_failing_in_an_existing_folder_keeps_it(tmp_path):
    suite = h.make_suite(tmp_path, seeds=1)
    run(suite)
    registry = h.registry()
    families = {kind: dict(family) for kind, family in registry.components.items()}
    families["executor"]["nodask"] = Component("nodask", _no_dask, "missing")
    broken = Selection("executor", "nodask", {}, "nodask")
    bigger = h.make_suite(tmp_path, seeds=2)
    with pytest.raises(ExecutorError, match=r"no run started$"):
        run_suite(bigger, execute=h.fake_execute, executor=broken, registry=Registry(families),
                  stream=io.StringIO())  # fmt: skip
    assert len(Store(suite.output).finished_ids()) == 2  # the earlier runs are untouched
