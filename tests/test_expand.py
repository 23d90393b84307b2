"""Run expansion and run ids: stable across machines, sensitive to what matters."""

import subprocess
import sys
import textwrap

import pytest

from harness.spec.expand import expand
from harness.spec.suite import load_suite

from helpers.toy_plugins import VALID


def ids(tmp_path, registry, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return [r.run_id for r in expand(load_suite(path, registry), registry)]


def test_conditions_x_models_x_seeds_in_stable_order(tmp_path, toy_registry):
    path = tmp_path / "s.toml"
    path.write_text(VALID + '[[models]]\nplugin = "cae"\n')
    runs = expand(load_suite(path, toy_registry), toy_registry)
    assert len(runs) == 2 * 2 * 3
    assert [r.label for r in runs[:4]] == [
        "scratch/lstm/seed0",
        "scratch/lstm/seed1",
        "scratch/lstm/seed2",
        "scratch/cae/seed0",
    ]
    assert len({r.run_id for r in runs}) == len(runs)


def test_same_suite_same_ids_in_another_process_and_place(tmp_path, toy_registry):
    first = ids(tmp_path, toy_registry, VALID)
    (tmp_path / "elsewhere").mkdir()
    code = (
        "import sys; sys.path.insert(0, 'tests');"
        "from helpers import toy_plugins; from harness.plugin.registry import load_registry;"
        "from harness.spec.suite import load_suite; from harness.spec.expand import expand;"
        "r = load_registry([toy_plugins], autoload=False, builtins=False);"
        f"s = load_suite({str(tmp_path / 'elsewhere' / 's.toml')!r}, r);"
        "print(','.join(r.run_id for r in expand(s, r)))"
    )
    (tmp_path / "elsewhere" / "s.toml").write_text(
        textwrap.dedent(VALID).replace('name = "toy-suite"', 'name = "toy-suite"\noutput = "x"')
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
        cwd=str(__import__("pathlib").Path(__file__).parent.parent),
    )
    assert out.stdout.strip().split(",") == first


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("hidden = 32", "hidden = 33"),
        ("cutoff_hz = 400", "cutoff_hz = 401"),
        ("threshold = 0.5", "threshold = 0.4"),
        ("[splits]", "[splits]\nseed = 7"),
        ('[dataset]\nplugin = "toy"', '[dataset]\nplugin = "toy"\nspeakers = 9'),
        ("[target]", "[features]\nn_mels = 64\n[target]"),
    ],
)
def test_changing_a_parameter_changes_affected_ids(tmp_path, toy_registry, old, new):
    assert old in VALID
    before = ids(tmp_path, toy_registry, VALID)
    after = ids(tmp_path, toy_registry, VALID.replace(old, new), name="t.toml")
    changed = [a != b for a, b in zip(before, after, strict=True)]
    if "cutoff_hz" in old:  # only the low-pass condition's runs change
        assert changed == [False] * 3 + [True] * 3
    else:
        assert all(changed)


def test_output_description_and_executor_do_not_change_ids(tmp_path, toy_registry):
    before = ids(tmp_path, toy_registry, VALID)
    text = (
        'description = "other words"\noutput = "elsewhere"\n' + VALID + "[executor]\nworkers = 3\n"
    )
    assert ids(tmp_path, toy_registry, text, name="t.toml") == before
