"""A report built from the same runs by the same code is kept, not rebuilt
(harness.output.report_inputs): running a finished suite again answers at once."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from harness.cli.report import write_report
from harness.output import report_inputs
from harness.output.layout import MANIFEST, REPORT, REPORT_DIGEST, RUNS

from helpers.fake_results import FakeSuite, write_fake_results


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = write_fake_results(
        tmp_path_factory.mktemp("reuse") / "out", FakeSuite(seeds=(0, 1, 2), tsne=False)
    )
    assert write_report(out) == 0
    return out


def test_an_unchanged_folder_keeps_its_report(built, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(built, out)
    html = (out / REPORT).stat().st_mtime_ns
    capsys.readouterr()
    assert write_report(out) == 0
    assert "unchanged" in capsys.readouterr().out
    assert (out / REPORT).stat().st_mtime_ns == html


@pytest.mark.parametrize("change", ["record", "manifest", "report gone", "digest gone", "code"])
def test_any_change_to_what_the_report_reads_rebuilds_it(built, tmp_path, change, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(built, out)
    before = report_inputs.inputs_digest(out)
    if change == "record":
        record = next((out / RUNS).glob("*/record.json"))
        stat = record.stat()
        os.utime(record, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    elif change == "manifest":
        manifest = json.loads((out / MANIFEST).read_text())
        manifest["design"]["question"] = "another question"
        (out / MANIFEST).write_text(json.dumps(manifest))
    elif change == "report gone":
        (out / REPORT).unlink()
    elif change == "digest gone":
        (out / REPORT_DIGEST).unlink()
    else:
        monkeypatch.setattr(report_inputs, "source_hash", lambda module: "new code")
    changed = report_inputs.inputs_digest(out)
    assert (changed != before) == (change in ("record", "manifest", "code"))
    assert not report_inputs.unchanged(out, changed)
    builds = []
    monkeypatch.setattr("harness.cli.report._build", lambda folder: builds.append(folder) or 0)
    assert write_report(out) == 0
    assert builds == [out]  # rebuilt (the build itself is tested with the report)
    assert report_inputs.unchanged(out, changed) == (change != "report gone")


def test_when_harness_run_last_wrote_the_manifest_does_not_count(built, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(built, out)
    before = report_inputs.inputs_digest(out)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["written"] = "2030-01-01T00:00:00+00:00"
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    assert report_inputs.inputs_digest(out) == before


def test_a_failed_build_leaves_no_digest(built, tmp_path, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(built, out)
    (out / REPORT_DIGEST).unlink()
    monkeypatch.setattr("harness.cli.report._build", lambda folder: 130)
    assert write_report(out) == 130
    assert not (out / REPORT_DIGEST).exists()
