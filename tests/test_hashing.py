"""Hashes and seeds name files, runs and random streams: they must not vary by process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from harness.hashing import canonical_json, content_hash, stable_seed

VALUE = {"model": {"plugin": "lstm", "params": {"hidden": 32}}, "seeds": [0, 1], "name": "é"}


def _in_fresh_process(hash_seed: str) -> dict[str, object]:
    code = (
        "import json, sys; from harness.hashing import content_hash, stable_seed;"
        "value = json.loads(sys.argv[1]);"
        "print(json.dumps([content_hash(value), stable_seed('splits', 3, 'es'), hash('es')]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(VALUE)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    digest, seed, salted = json.loads(out)
    return {"digest": digest, "seed": seed, "salted": salted}


def test_hash_and_seed_are_the_same_in_processes_with_different_hash_salts():
    one, two = _in_fresh_process("1"), _in_fresh_process("2")
    assert one["salted"] != two["salted"]  # the processes really differ in hash()
    assert one["digest"] == two["digest"] == content_hash(VALUE)
    assert one["seed"] == two["seed"] == stable_seed("splits", 3, "es")


def test_key_order_does_not_change_the_hash_but_values_do():
    reordered = {
        "name": "é",
        "seeds": [0, 1],
        "model": {"params": {"hidden": 32}, "plugin": "lstm"},
    }
    assert canonical_json(reordered) == canonical_json(VALUE)
    assert content_hash(reordered) == content_hash(VALUE)
    assert content_hash({**VALUE, "seeds": [1, 0]}) != content_hash(VALUE)
    assert len(content_hash(VALUE)) == 16 and len(content_hash(VALUE, length=32)) == 32


def test_known_values_do_not_drift():
    # run ids and cached splits depend on these exact numbers; a change orphans old outputs
    assert canonical_json({"b": 1, "a": [1.5, None]}) == '{"a":[1.5,null],"b":1}'
    assert content_hash([]) == "4f53cda18c2baa0c"
    assert stable_seed("splits", 0, "es") == 18323029766193817841


def test_seed_parts_are_separated():
    assert stable_seed("ab", "c") != stable_seed("a", "bc")
    assert 0 <= stable_seed("anything") < 2**64
