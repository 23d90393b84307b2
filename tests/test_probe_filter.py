"""[probing] filter: the probe clips heard through a filter, before their
features; validated as a condition's filter is, part of the run id, the record,
the design and the report's methods, and nothing else of a run changes."""

from __future__ import annotations

import numpy as np
import pytest

from harness.report.methods import probes_heard
from harness.spec.design import Design
from harness.spec.expand import expand
from harness.spec.suite import SuiteError, load_suite
from harness.testing import run_tiny_suite, tiny_suite, to_toml

LOWPASS_400 = {"plugin": "lowpass", "cutoff_hz": 400.0}


def _load(tmp_path, **overrides):
    path = tmp_path / "suite.toml"
    path.write_text(to_toml(tiny_suite(**overrides)), encoding="utf-8")
    return load_suite(path)


def _problems(tmp_path, **overrides) -> list[tuple[str, str]]:
    with pytest.raises(SuiteError) as caught:
        _load(tmp_path, **overrides)
    return caught.value.problems


def test_a_probe_filter_is_validated_and_enters_the_run_id_and_design(tmp_path):
    plain = _load(tmp_path)
    heard = _load(tmp_path, probing={"filter": LOWPASS_400})
    assert plain.probing.filter is None
    assert heard.probing.filter is not None
    assert dict(heard.probing.filter.params) == {"cutoff_hz": 400.0, "order": 4}
    plain_runs, heard_runs = expand(plain), expand(heard)
    # a suite without [probing] keeps the run ids (and content) it always had
    assert all("probe_filter" not in r.content() for r in plain_runs)
    assert [r.run_id for r in plain_runs] != [r.run_id for r in heard_runs]
    assert heard_runs[0].to_dict()["probe_filter"]["params"]["cutoff_hz"] == 400.0
    design = Design.from_suite(heard)
    assert design.probe_filter == heard.probing.filter.to_dict()
    assert Design.from_dict(design.to_dict()).probe_filter == design.probe_filter
    assert Design.from_specs([r.to_dict() for r in heard_runs]).probe_filter == design.probe_filter
    assert Design.from_suite(plain).probe_filter is None


def test_bad_probe_filters_are_located_problems(tmp_path):
    problems = dict(_problems(tmp_path, probing={"filter": {"plugin": "lowpas"}, "colour": 1}))
    assert "did you mean 'lowpass'" in problems["probing.filter.plugin"]
    assert (
        problems["probing.colour"]
        == "unknown key; valid keys: filter, pairs, groups, probe_at, probe_at_probes"
    )
    problems = dict(
        _problems(tmp_path, probing={"filter": {"plugin": "lowpass", "cutoff_hz": 9000.0}})
    )
    assert "Nyquist frequency of 16000 Hz audio" in problems["probing.filter.cutoff_hz"]
    problems = dict(_problems(tmp_path, probing={"pairs": "yes"}))
    assert problems["probing.pairs"] == "expected true or false, got 'yes'"
    problems = dict(_problems(tmp_path, probing={"filter": "lowpass"}, probes=[]))
    assert "probes = [] asks for no probes" in problems["probing.filter"]


def test_probe_groups_must_name_probe_languages_once(tmp_path):
    problems = _problems(tmp_path, probing={"groups": {"a": ["es", "xx"], "b": ["es"]}})
    messages = dict(problems)
    assert "'xx' is not a probe language" in messages["probing.groups.a"]
    assert "'es' is in group 'a' already" in messages["probing.groups.b"]
    problems = dict(_problems(tmp_path, probing={"groups": {"a": ["es"], "b": ["it"]}}))
    assert "one of them with two languages" in problems["probing.groups"]
    problems = dict(_problems(tmp_path, probing={"groups": {"a": "es"}}))
    assert "expected a list of language codes" in problems["probing.groups.a"]
    problems = dict(_problems(tmp_path, probing={"groups": 3}))
    assert "expected a table of lists of probe languages" in problems["probing.groups"]


def test_a_400_hz_probe_filter_changes_the_probe_features_and_nothing_else(tmp_path):
    cache = tmp_path / "cache"
    common = dict(conditions=[{"name": "none"}], cache_dir=cache)
    plain = run_tiny_suite(tmp_path / "plain", **common)
    heard = run_tiny_suite(tmp_path / "heard", probing={"filter": LOWPASS_400}, **common)
    (plain_id,), (heard_id,) = plain.records, heard.records
    # identical training: the same curve, step by step
    columns = ["step", "heldout_loss"]
    np.testing.assert_array_equal(
        plain.curves[columns].to_numpy(), heard.curves[columns].to_numpy()
    )
    before, after = plain.latents(plain_id), heard.latents(heard_id)
    assert before.keys() == after.keys() and before
    for space in before:
        assert before[space].shape == after[space].shape
        assert not np.allclose(before[space], after[space]), space
    assert "low-pass filter (cutoff 400.0 Hz, order 4)" in probes_heard(heard)
    assert "as the dataset gives them" in probes_heard(plain)
