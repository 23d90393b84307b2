"""The output folder: atomic run folders, failures, manifest, stale runs, locking."""

from __future__ import annotations

import json

import pytest

from harness.output.run_results import RecordError, check_record, error_info, failure_record
from harness.output.store import (
    Store,
    StoreError,
    fresh_output,
)
from harness.spec.expand import expand
from harness.tables.data import unique_skipped

from helpers import runner as h


@pytest.fixture
def specs(tmp_path):
    return expand(h.make_suite(tmp_path, seeds=2), h.registry())


def commit_fake(store, spec, **extra):
    folder = store.begin(spec.run_id)
    record = check_record(spec, {**h.fake_execute(spec, folder), **extra})
    return store.commit(spec.run_id, folder, record)


def commit_failure(store, spec, message="boom"):
    try:
        raise RuntimeError(message)
    except RuntimeError as exc:
        record = failure_record(spec, error_info(exc), "now", 1.0)
    return store.commit(spec.run_id, store.begin(spec.run_id), record)


def test_a_committed_run_is_a_complete_folder_named_by_its_id(tmp_path, specs):
    store = Store(tmp_path / "out")
    spec = specs[0]
    folder = commit_fake(store, spec)
    assert folder == tmp_path / "out" / "runs" / spec.run_id
    assert sorted(p.name for p in folder.iterdir()) == ["latents.npz", "record.json"]
    record = store.load_record(spec.run_id)
    assert record["spec"] == spec.to_dict()
    assert store.finished_ids() == {spec.run_id}
    assert not list(store.runs.glob("*.partial-*"))


def test_partial_folders_are_invisible_until_committed_and_cleaned(tmp_path, specs):
    store = Store(tmp_path / "out")
    folder = store.begin(specs[0].run_id)
    (folder / "record.json").write_text(json.dumps({"status": "reached"}))
    assert store.statuses() == {}
    assert store.clean_partial() == [folder]
    assert not folder.exists()


def test_failed_runs_keep_error_and_traceback_and_are_told_apart(tmp_path, specs):
    store = Store(tmp_path / "out")
    commit_fake(store, specs[0])
    commit_failure(store, specs[1])
    assert store.finished_ids() == {specs[0].run_id}
    assert store.failed_ids() == {specs[1].run_id}
    error = store.load_record(specs[1].run_id)["error"]
    assert error["type"] == "RuntimeError" and error["message"] == "boom"
    assert "raise RuntimeError(message)" in error["traceback"]


def test_a_success_replaces_a_failure_but_never_the_reverse(tmp_path, specs):
    store = Store(tmp_path / "out")
    spec = specs[0]
    commit_failure(store, spec)
    commit_fake(store, spec)
    assert store.statuses() == {spec.run_id: "reached"}
    commit_failure(store, spec)
    assert store.statuses() == {spec.run_id: "reached"}
    assert [p.name for p in store.runs.iterdir()] == [spec.run_id]


def test_check_record_rejects_what_is_not_a_record(specs):
    spec = specs[0]
    with pytest.raises(RecordError, match="must return a dict"):
        check_record(spec, [1])
    with pytest.raises(RecordError, match="status must be one of"):
        check_record(spec, {"status": "failed"})
    with pytest.raises(RecordError, match="is not the spec's"):
        check_record(spec, {"status": "reached", "run_id": "other"})
    filled = check_record(spec, {"status": "censored"})
    assert filled["run_id"] == spec.run_id and filled["label"] == spec.label
    assert filled["error"] is None


def test_manifest_and_suite_copy_and_stale_runs(tmp_path):
    suite = h.make_suite(tmp_path, seeds=2, mode="absolute")
    store = Store(suite.output)
    first = store.write_suite(suite, expand(suite, h.registry()))
    assert (suite.output / "suite.toml").read_text() == suite.path.read_text()
    assert store.manifest() == first
    for spec in expand(suite, h.registry()):
        commit_fake(store, spec)

    # an absolute threshold: seeds 0, 1 keep their ids; seed 2 is new
    changed = h.make_suite(tmp_path, seeds=3, mode="absolute")
    second = store.write_suite(changed, expand(changed, h.registry()))
    assert second.fingerprint != first.fingerprint
    assert store.stale_ids(second.run_ids) == set()
    history = json.loads((suite.output / "manifest.json").read_text())["history"]
    assert [entry["fingerprint"] for entry in history] == [first.fingerprint]

    other = h.make_suite(tmp_path, seeds=2, sizes=(8,))  # every id changes
    third = store.write_suite(other, expand(other, h.registry()))
    assert store.stale_ids(third.run_ids) == set(first.run_ids)
    assert store.records() == []  # stale runs stay out of tables
    assert len(store.records(first.run_ids)) == 4


def test_a_second_runner_on_the_same_folder_is_refused(tmp_path):
    store = Store(tmp_path / "out")
    with (
        store.lock(),
        pytest.raises(StoreError, match="in use by another"),
        Store(tmp_path / "out").lock(),
    ):
        pass
    with Store(tmp_path / "out").lock():
        pass  # released


def test_fresh_output_moves_the_old_folder_aside(tmp_path):
    out = tmp_path / "out"
    assert fresh_output(out) is None
    (out / "runs").mkdir(parents=True)
    moved = fresh_output(out)
    assert moved is not None and moved.name.startswith("out.old-") and (moved / "runs").is_dir()
    assert not out.exists()
    out.mkdir()
    assert fresh_output(out) != moved


def test_statuses_then_skipped_files_read_each_record_once(tmp_path, specs, monkeypatch):
    """`harness run` of a finished suite asks every record's status, then the
    files its dataset skipped: one parse of each record serves both."""
    import harness.output.store as store_module

    store = Store(tmp_path / "out")
    skipped = {"dataset": "folder", "language": "es", "file": "a.wav", "reason": "silent"}
    commit_fake(store, specs[0], data={"skipped": [skipped]})
    commit_failure(store, specs[1])
    parsed = []
    real = store_module.read_record
    monkeypatch.setattr(store_module, "read_record", lambda p: parsed.append(p) or real(p))
    assert store.statuses() == {specs[0].run_id: "reached", specs[1].run_id: "failed"}
    assert sorted(len(list(rows)) for rows in store.skipped()) == [0, 1]
    assert unique_skipped(store.skipped()) == [skipped]
    assert len(parsed) == 2
    # a record replaced by a new version is read again
    commit_fake(store, specs[1])
    assert store.statuses()[specs[1].run_id] != "failed"
