"""Faults around the runs that must end in a message, not a traceback: an
executor that cannot start, Ctrl-C while the report is written."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

import harness.report
import harness.running.runner
from harness.cli import main
from harness.running.runner import SuiteOutcome
from harness.testing import write_tiny_suite


def test_dask_executor_without_the_extra_exits_2_and_leaves_no_folder(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    suite = write_tiny_suite(tmp_path)
    assert main(["run", str(suite), "--executor", "dask"]) == 2
    err = capsys.readouterr().err
    assert "error: executor plugin 'dask' could not start" in err
    assert "pip install 'speech-pretrain-harness[dask]'" in err
    assert "no run started and" in err and "was not created" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_ctrl_c_while_harness_report_writes_exits_130_and_says_how_to_finish(
    folder, monkeypatch, capsys
):
    monkeypatch.setattr(harness.report, "build_report", interrupt)
    assert main(["report", str(folder)]) == 130
    err = capsys.readouterr().err
    assert f"interrupted while writing the report: the runs in {folder} are kept" in err
    assert f"`harness report {folder}` rebuilds the tables and report" in err


def test_sigterm_while_harness_report_writes_says_what_ctrl_c_says(folder, monkeypatch, capsys):
    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        raise AssertionError("SIGTERM did not stop the report")

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(harness.report, "build_report", terminated)
    assert main(["report", str(folder)]) == 130
    assert f"interrupted while writing the report: the runs in {folder} are kept" in (
        capsys.readouterr().err
    )
    assert signal.getsignal(signal.SIGTERM) == before


def test_ctrl_c_in_the_report_phase_of_harness_run_exits_130(tmp_path, monkeypatch, capsys):
    suite = write_tiny_suite(tmp_path)
    out = tmp_path / "out"

    def finished(*args, **kwargs):
        return SuiteOutcome("tiny", out, 2, 0, 2, 2, 0, 0, 0, 0)

    monkeypatch.setattr(harness.running.runner, "run_suite", finished)
    monkeypatch.setattr(harness.report, "build_report", interrupt)
    assert main(["run", str(suite)]) == 130
    err = capsys.readouterr().err
    assert f"the runs in {out} are kept; `harness report {out}` rebuilds" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["plugins", "validate"])
def test_ctrl_c_anywhere_else_exits_130_without_a_traceback(command, tmp_path, monkeypatch, capsys):
    import harness.cli

    monkeypatch.setattr(harness.cli, f"cmd_{command}", interrupt)
    assert (
        main([command, str(write_tiny_suite(tmp_path))] if command == "validate" else [command])
        == 130
    )
    assert capsys.readouterr().err.strip() == "interrupted"


def test_harness_report_of_a_folder_a_run_is_writing_waits_for_it(folder, capsys):
    from harness.output.store import Store

    with Store(folder).lock():
        assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{folder} is in use by another `harness run`" in err
    assert f"or run `harness report {folder}` once it has stopped" in err
    assert main(["report", str(folder)]) == 0
