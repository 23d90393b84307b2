"""Which probes run along training: a probe plugin declares whether it does
(``Component.along_training``; ``tsne`` does not), a suite may narrow them with
``[probing] probe_at_probes`` (located errors, exit 2), and the run id changes
only where a suite narrows them."""

from __future__ import annotations

import dataclasses

import pytest

from harness.cli import main
from harness.plugin.components import Component, Metric, Param, check_declaration
from harness.plugin.registry import load_registry
from harness.run.probes import along_probes
from harness.spec.expand import expand
from harness.spec.suite import SuiteError, load_suite
from harness.testing import tiny_suite, to_toml

SVC = {"plugin": "linear_svc", "C": 1.0, "n_permutations": 0}
PROBES = [SVC, {"plugin": "ridge"}, {"plugin": "tsne"}]
AT = {"probe_at": [0, 15, 30]}


def _write(tmp_path, **overrides):
    path = tmp_path / "suite.toml"
    path.write_text(to_toml(tiny_suite(**overrides)), encoding="utf-8")
    return path


def _problems(tmp_path, probing, probes=PROBES) -> dict[str, str]:
    with pytest.raises(SuiteError) as caught:
        load_suite(_write(tmp_path, probing=probing, probes=probes))
    return dict(caught.value.problems)


def test_tsne_declares_it_does_not_run_along_training_and_the_others_do():
    registry = load_registry()
    assert registry.get("probe", "tsne").along_training is False
    assert all(
        registry.get("probe", name).along_training
        for name in registry.names("probe")
        if name != "tsne"
    )


def test_only_a_probe_may_declare_it_does_not_run_along_training():
    def factory() -> None:
        return None

    probe = Component("p", factory, "a probe", metrics=[Metric("m", "m")], along_training=False)
    assert check_declaration("probe", probe) == []
    model = Component("m", factory, "a model", along_training=False)
    assert check_declaration("model", model) == ["only a probe declares along_training"]


def test_by_default_every_probe_but_tsne_runs_along_training(tmp_path):
    registry = load_registry()
    (run, *_) = expand(load_suite(_write(tmp_path, probing=AT, probes=PROBES)), registry)
    assert [p.label for p in along_probes(run, registry)] == ["linear_svc", "ridge"]
    plain = expand(load_suite(_write(tmp_path, probes=PROBES)), registry)[0]
    assert along_probes(plain, registry) == []


def test_along_training_the_relabelling_probes_skip_their_relabellings(tmp_path):
    """ridge and linear_svc declare n_permutations = 0 for the points (the curve
    tests nothing); the final probing keeps the suite's parameters."""
    registry = load_registry()
    (run, *_) = expand(load_suite(_write(tmp_path, probing=AT, probes=PROBES)), registry)
    along = {p.label: p.params for p in along_probes(run, registry)}
    final = {p.label: p.params for p in run.probes}
    assert final["ridge"]["n_permutations"] == 1000  # the suite's (ridge's default)
    for label in ("ridge", "linear_svc"):
        assert along[label]["n_permutations"] == 0
        assert {k: v for k, v in along[label].items() if k != "n_permutations"} == {
            k: v for k, v in final[label].items() if k != "n_permutations"
        }


def test_along_params_are_declared_parameters_of_a_probe_that_runs_along_training():
    def factory(n: int = 1) -> None:
        return None

    n = Param("n", int, 1, "a count")
    ok = Component(
        "p", factory, "a probe", params=[n], metrics=[Metric("m", "m")], along_params={"n": 0}
    )
    assert check_declaration("probe", ok) == []
    unknown = dataclasses.replace(ok, along_params={"k": 0})
    assert check_declaration("probe", unknown) == ["along_params names undeclared parameters ['k']"]
    never = dataclasses.replace(ok, along_training=False)
    assert check_declaration("probe", never) == [
        "only a probe that runs along training declares along_params"
    ]


def test_probe_at_probes_narrows_them(tmp_path):
    registry = load_registry()
    probing = {**AT, "probe_at_probes": ["ridge"]}
    (run, *_) = expand(load_suite(_write(tmp_path, probing=probing, probes=PROBES)), registry)
    assert [p.label for p in along_probes(run, registry)] == ["ridge"]
    assert run.content()["probe_at_probes"] == ["ridge"]


def test_the_run_id_changes_only_where_the_suite_narrows_the_probes(tmp_path):
    def ids(probing):
        return [
            r.run_id for r in expand(load_suite(_write(tmp_path, probing=probing, probes=PROBES)))
        ]

    plain = expand(load_suite(_write(tmp_path, probing=AT, probes=PROBES)))
    assert all("probe_at_probes" not in r.content() for r in plain)
    # naming what runs along training anyway is the same setting: the same runs
    assert ids({**AT, "probe_at_probes": ["linear_svc", "ridge"]}) == [r.run_id for r in plain]
    narrowed = ids({**AT, "probe_at_probes": ["ridge"]})
    assert not set(narrowed) & {r.run_id for r in plain}


def test_bad_probe_at_probes_are_located_problems(tmp_path):
    assert _problems(tmp_path, {**AT, "probe_at_probes": ["ridg", "tsne", "ridge", "ridge"]}) == {
        "probing.probe_at_probes[0]": "'ridg' is not a probe of this suite (did you mean "
        "'ridge'?); probes that run along training: linear_svc, ridge",
        "probing.probe_at_probes[1]": "probe 'tsne' does not run along training (plugin 'tsne' "
        "declares along_training = False: it runs in the final probing only); probes that run "
        "along training: linear_svc, ridge",
        "probing.probe_at_probes[3]": "'ridge' is named twice",
    }
    empty = _problems(tmp_path, {**AT, "probe_at_probes": []})["probing.probe_at_probes"]
    assert empty.startswith("expected a non-empty list of probe labels, such as ['linear_svc', ")
    assert "remove probe_at" in empty
    alone = _problems(tmp_path, {"probe_at_probes": ["ridge"]})
    assert alone == {
        "probing.probe_at_probes": "names the probes of probe_at, which this suite does not "
        "set: add probe_at"
    }


def test_probe_at_with_no_probe_that_runs_along_training_is_an_error(tmp_path):
    problems = _problems(tmp_path, AT, probes=[{"plugin": "tsne"}])
    assert problems["probing.probe_at"].startswith(
        "no probe of this suite runs along training (plugin(s) tsne declare along_training = "
        "False: they run in the final probing only)"
    )


def test_harness_validate_exits_2_naming_the_probe(tmp_path, capsys):
    path = _write(tmp_path, probing={**AT, "probe_at_probes": ["tsne"]}, probes=PROBES)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "probing.probe_at_probes[0]: probe 'tsne' does not run along training" in err


def test_the_along_training_snippet_of_the_plugin_docs_is_refused_as_documented(tmp_path):
    import re
    import types
    from pathlib import Path

    from harness.testing import tiny_registry

    doc = Path(__file__).parent.parent / "docs" / "plugins.md"
    section = doc.read_text().split("### Probes along training", 1)[1].split("\n## ", 1)[0]
    code, expected = re.search(r"```python\n(.*?)```.*?```text\n(.*?)\n```", section, re.S).groups()
    plugin = types.ModuleType("umap_snippet")
    exec(compile(code, str(doc), "exec"), plugin.__dict__)
    [component] = plugin.harness_probes()
    assert check_declaration("probe", component) == []
    probing = {**AT, "probe_at_probes": ["umap_picture"]}
    path = _write(
        tmp_path, probing=probing, probes=[{"plugin": "ridge"}, {"plugin": "umap_picture"}]
    )
    with pytest.raises(SuiteError) as caught:
        load_suite(path, tiny_registry([plugin]))
    assert [f"{where}: {message}" for where, message in caught.value.problems] == [expected]


def test_the_methods_name_the_probes_that_ran_along_training():
    import json
    from pathlib import Path

    from harness.report.methods import probes_along
    from harness.tables.results import Results

    fixture = Path(__file__).parent / "fixtures" / "previous_release" / "probes"
    records = []
    for path in sorted(fixture.glob("runs/*/record.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        data["spec"]["probes"].append({"plugin": "tsne", "label": "tsne", "params": {}})
        data["spec"]["probe_at"] = [0, 10]
        rows = [r for r in data["probes"] if r["latent_space"] == "lstm_state/h"]
        data["along_training"] = {
            "steps": [0, 10],
            "measured": [0, 10],
            "probes": [{**r, "step": step} for step in (0, 10) for r in rows],
        }
        records.append(data)
    sentence = probes_along(Results.from_records(records))
    assert sentence.startswith(
        "The probe linear_svc also ran along target training, at steps 0, 10"
    )
    assert sentence.endswith("were not measured; tsne ran in the final probing only.")


def test_a_run_probes_along_training_with_the_probes_that_run_there_only(tmp_path):
    from harness.testing import run_tiny_suite

    probes = [SVC, {"plugin": "tsne", "n_neighbors": 2}]
    censored = {"threshold": 1e-4, "threshold_mode": "absolute"}
    results = run_tiny_suite(
        tmp_path, conditions=[{"name": "none"}], probes=probes, target=censored, probing=AT
    )
    [record] = results.records.values()
    along = record.along_training
    assert along is not None and along.measured == (0, 15, 30)
    assert {r.probe for r in along.probes} == {"linear_svc"}
    assert not along.probe_errors and not along.probes_skipped
    assert {r.probe for r in record.probes} == {"linear_svc", "tsne"}  # the final probing: both
