"""[probing] probe_at in the suite: validated with located errors, resolved
against each run's budget, part of the run id only where given, kept in the
design."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.spec.design import Design
from harness.spec.expand import expand
from harness.spec.suite import SuiteError, load_suite
from harness.testing import tiny_suite, to_toml


def _write(tmp_path, **overrides):
    path = tmp_path / "suite.toml"
    path.write_text(to_toml(tiny_suite(**overrides)), encoding="utf-8")
    return path


def _load(tmp_path, **overrides):
    return load_suite(_write(tmp_path, **overrides))


def _problems(tmp_path, probe_at, **overrides) -> dict[str, str]:
    with pytest.raises(SuiteError) as caught:
        _load(tmp_path, probing={"probe_at": probe_at}, **overrides)
    return dict(caught.value.problems)


def test_bad_probe_at_values_are_located_problems(tmp_path):
    # target.max_steps is 30 in the tiny suite
    mixed = _problems(tmp_path, [0, 0.5, 1])
    assert mixed == {
        "probing.probe_at[1]": "0.5 is a fraction and probing.probe_at[0] (0) a step: give "
        "every point as an integer step, or every point as a fraction (write 0.0 and 1.0)"
    }
    assert _problems(tmp_path, [0, -5]) == {
        "probing.probe_at[1]": "expected a step >= 0 (0: the model as target training "
        "starts), got -5"
    }
    beyond = _problems(tmp_path, [0, 10, 40])
    assert beyond["probing.probe_at[2]"].startswith(
        "step 40 is beyond target.max_steps (30): no run trains that long"
    )
    assert _problems(tmp_path, [0, 20, 10]) == {
        "probing.probe_at[2]": "expected points in increasing order, got 10 after 20"
    }
    assert _problems(tmp_path, [0.0, 1.5]) == {
        "probing.probe_at[1]": "expected a fraction of target.max_steps in [0, 1], got 1.5"
    }
    assert "expected a number" in _problems(tmp_path, [0, "10"])["probing.probe_at[1]"]
    assert "expected a list" in _problems(tmp_path, 10)["probing.probe_at"]


def test_probe_at_is_checked_against_every_models_budget(tmp_path):
    models = [
        {"plugin": "lstm", "hidden_size": 8},
        {"plugin": "lstm", "hidden_size": 8, "label": "short", "max_steps": 20, "threshold": 0.9},
    ]
    problems = _problems(tmp_path, [0, 25], models=models)
    assert problems["probing.probe_at[1]"].startswith(
        "step 25 is beyond models[1].max_steps (20): no run trains that long"
    )
    # fractions fit every budget: each run resolves them against its own
    suite = _load(tmp_path, probing={"probe_at": [0.0, 0.5, 1.0]}, models=models)
    assert {r.model.label: r.probe_at for r in expand(suite)} == {
        "lstm": (0, 15, 30),
        "short": (0, 10, 20),
    }


def test_probe_at_needs_probes(tmp_path):
    problems = _problems(tmp_path, [0, 10], probes=[], extractors=[])
    assert "probes = [] asks for no probes" in problems["probing.probe_at"]


def test_harness_validate_exits_2_naming_the_point(tmp_path, capsys):
    path = _write(tmp_path, probing={"probe_at": [0, 50]})
    assert main(["validate", str(path)]) == 2
    assert "probing.probe_at[1]: step 50 is beyond target.max_steps (30)" in capsys.readouterr().err


def test_probe_at_enters_the_run_id_only_where_given(tmp_path):
    plain = expand(_load(tmp_path))
    steps = expand(_load(tmp_path, probing={"probe_at": [0, 15, 30]}))
    fractions = expand(_load(tmp_path, probing={"probe_at": [0.0, 0.5, 1.0]}))
    other = expand(_load(tmp_path, probing={"probe_at": [0, 30]}))
    # a suite without probe_at keeps its ids; one with it never reuses runs without its rows
    assert all("probe_at" not in r.content() for r in plain)
    ids = [[r.run_id for r in runs] for runs in (plain, steps, other)]
    assert len({tuple(i) for i in ids}) == 3
    assert steps[0].probe_at == (0, 15, 30)
    assert steps[0].to_dict()["probe_at"] == [0, 15, 30]
    # the same steps written as fractions are the same runs
    assert [r.run_id for r in fractions] == ids[1]


def test_the_design_keeps_probe_at_as_written(tmp_path):
    suite = _load(tmp_path, probing={"probe_at": [0.0, 0.5]})
    assert suite.probing.probe_at == (0.0, 0.5)
    design = Design.from_suite(suite)
    assert design.probing["probe_at"] == [0.0, 0.5]
    assert Design.from_dict(design.to_dict()).probing["probe_at"] == [0.0, 0.5]


def test_the_documented_example_probes_at_the_steps_it_names(tmp_path):
    import re
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "probes.md").read_text(encoding="utf-8")
    section = text.split("## Probes along training", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    path = tmp_path / "along.toml"
    path.write_text(block, encoding="utf-8")
    runs = expand(load_suite(path))
    assert {r.probe_at for r in runs} == {(0, 50, 100, 200)}
    assert "probe_at = [0.0, 0.25, 0.5, 1.0]   # steps 0, 50, 100, 200" in block
