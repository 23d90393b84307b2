"""One write-then-rename: readers see the old file or the new one, never half."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from harness.atomic import (
    TEMP_PREFIX,
    atomic_path,
    finite_or_none,
    write_bytes,
    write_json,
    write_text,
)


def test_old_content_survives_an_exception_and_no_temp_file_is_left(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="half way"), atomic_path(path) as tmp:
        tmp.write_text("new but unfinished")
        raise RuntimeError("half way")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_the_new_content_replaces_the_old_through_a_hidden_temp_file(tmp_path):
    path = tmp_path / "x.npy"
    path.write_text("old")
    with atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(TEMP_PREFIX)
        assert tmp.suffix == ".npy"  # so writers that add a suffix (np.save) do not
        assert path.read_text() == "old"  # nothing is visible before the block ends
        np.save(tmp, np.arange(4))
    assert np.load(path).tolist() == [0, 1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["x.npy"]


def test_the_parent_folder_is_created(tmp_path):
    path = tmp_path / "a" / "b" / "x.txt"
    write_text(path, "ünï")
    assert path.read_bytes() == "ünï".encode()
    write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"


def test_files_are_as_readable_as_plainly_written_ones(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    write_text(tmp_path / "atomic.txt", "x")
    write_text(tmp_path / "unsynced.txt", "x", fsync=False)
    mode = plain.stat().st_mode & 0o777
    assert (tmp_path / "atomic.txt").stat().st_mode & 0o777 == mode
    assert (tmp_path / "unsynced.txt").stat().st_mode & 0o777 == mode


def test_json_writes_numpy_values_and_refuses_other_objects(tmp_path):
    path = tmp_path / "x.json"
    write_json(path, {"a": np.float32(0.5), "b": np.arange(3), "c": float("nan")})
    data = json.loads(path.read_text())
    assert data["a"] == 0.5 and data["b"] == [0, 1, 2] and data["c"] != data["c"]
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        write_json(path, {"a": object()})
    assert json.loads(path.read_text())["b"] == [0, 1, 2]  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_json_writes_paths_as_strings(tmp_path):
    write_json(tmp_path / "x.json", {"where": tmp_path / "data"})
    assert json.loads((tmp_path / "x.json").read_text()) == {"where": os.fspath(tmp_path / "data")}


def test_finite_or_none_writes_missing_and_non_finite_numbers_as_null():
    assert [finite_or_none(v) for v in (None, float("nan"), np.inf, -np.inf)] == [None] * 4
    value = finite_or_none(np.float32(0.5))
    assert value == 0.5 and type(value) is float
    assert finite_or_none(3) == 3.0
