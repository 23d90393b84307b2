"""Parameter declarations: types, ranges, choices, defaults, every problem at once."""

import pytest

from harness.plugin.components import REQUIRED, Param, resolve_params
from harness.spec.config import FeatureConfig, TargetConfig, section_params

PARAMS = [
    Param("hidden", int, 64, "units", min=1, max=4096),
    Param("rate", float, 0.1, "a rate", min=0.0, max=1.0),
    Param("kind", str, "a", "a choice", choices=("a", "b")),
    Param("flag", bool, False, "a switch"),
    Param("langs", list, ["es"], "languages", item=str),
    Param("must", str, REQUIRED, "required key"),
]


def test_defaults_fill_in_and_ints_widen_to_floats():
    values, problems = resolve_params(PARAMS, {"must": "x", "rate": 1}, "model")
    assert problems == []
    assert values == {
        "hidden": 64,
        "rate": 1.0,
        "kind": "a",
        "flag": False,
        "langs": ["es"],
        "must": "x",
    }
    assert isinstance(values["rate"], float)


@pytest.mark.parametrize(
    ("given", "path", "fragment"),
    [
        ({"hiden": 3}, "model.hiden", "did you mean 'hidden'?"),
        ({"hidden": "3"}, "model.hidden", "expected integer in [1, 4096], got '3'"),
        ({"hidden": True}, "model.hidden", "got True"),
        ({"hidden": 0}, "model.hidden", "expected integer in [1, 4096], got 0"),
        ({"rate": 2.5}, "model.rate", "in [0.0, 1.0]"),
        ({"kind": "c"}, "model.kind", "one of 'a', 'b'"),
        ({"flag": 1}, "model.flag", "expected boolean"),
        ({"langs": ["es", 3]}, "model.langs", "list of string"),
    ],
)
def test_each_problem_names_key_path_and_expectation(given, path, fragment):
    _, problems = resolve_params(PARAMS, {"must": "x", **given}, "model")
    assert len(problems) == 1
    where, message = problems[0]
    assert where == path
    assert fragment in message


def test_missing_required_and_all_problems_reported_together():
    _, problems = resolve_params(PARAMS, {"hiden": 1, "rate": -1}, "model")
    paths = sorted(where for where, _ in problems)
    assert paths == ["model.hiden", "model.must", "model.rate"]


def test_unknown_key_lists_valid_keys():
    _, problems = resolve_params(PARAMS, {"must": "x", "zzz": 1}, "model")
    assert "valid keys: flag, hidden, kind, langs, must, rate" in problems[0][1]


def test_config_dataclasses_expose_documented_params():
    params = {p.name: p for p in section_params(FeatureConfig)}
    assert params["hop_ms"].type is float and params["hop_ms"].default == 10.0
    assert params["n_fft"].optional and params["n_fft"].default is None
    assert all(p.doc for p in params.values())
    target = {p.name: p for p in section_params(TargetConfig)}
    assert target["language"].required and target["threshold"].required
    assert target["threshold_mode"].choices == ("relative", "absolute")


def test_only_a_dataset_declares_its_limits_and_they_are_text():
    from harness.plugin.components import Component, check_declaration

    def make(**kw):
        return Component("c", lambda: None, "doc", **kw)

    assert check_declaration("dataset", make(limits="synthesized speech")) == []
    assert check_declaration("model", make(limits="x")) == ["only a dataset declares its limits"]
    assert check_declaration("dataset", make(limits=1)) == ["limits must be text, got 1"]
