"""harness.testing: the tiny suite, its TOML, running it in-process, the fixture."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib

import pytest

from harness import Component, hookimpl
from harness.cli import main
from harness.spec.expand import expand
from harness.spec.suite import load_suite
from harness.testing import (
    TinySuiteFailed,
    run_tiny_suite,
    tiny_registry,
    tiny_suite,
    to_toml,
    write_tiny_suite,
)
from harness_plugins.models import lstm


def test_tiny_suite_is_valid_with_two_conditions(tmp_path, capsys):
    path = write_tiny_suite(tmp_path)
    suite = load_suite(path)
    assert [c.name for c in suite.conditions] == ["none", "it-lp500"]
    assert suite.control == "none"
    assert suite.output == tmp_path / "out"
    assert suite.training.device == "cpu"
    assert len(expand(suite)) == 2
    assert main(["validate", str(path)]) == 0
    assert "2 runs" in capsys.readouterr().out


def test_overrides_merge_tables_and_replace_everything_else():
    suite = tiny_suite(
        target={"max_steps": 60},
        dataset={"plugin": "folder", "root": "/data"},
        executor={"workers": 2},
        seeds=2,
        conditions=[{"name": "none"}],
    )
    assert suite["target"] == {**tiny_suite()["target"], "max_steps": 60}
    # another plugin starts afresh: espeak's keys would be unknown to folder
    assert suite["dataset"] == {"plugin": "folder", "root": "/data"}
    assert suite["executor"] == {"plugin": "local", "workers": 2, "in_process": True}
    assert suite["seeds"] == 2
    assert suite["conditions"] == [{"name": "none"}]


def test_selections_accept_names_and_tables(tmp_path):
    path = write_tiny_suite(
        tmp_path, models=["lstm", {"plugin": "lstm", "label": "wide", "hidden_size": 32}],
        probes=["tsne"], extractors=["feature_stats"],
    )  # fmt: skip
    suite = load_suite(path)
    assert [(m.label, m.params["hidden_size"]) for m in suite.models] == [
        ("lstm", 128),
        ("wide", 32),
    ]
    assert [p.plugin for p in suite.probes] == ["tsne"]
    assert [e.plugin for e in suite.extractors] == ["feature_stats"]


def test_toml_round_trip():
    data = {
        "name": 'quote " and \\ backslash',
        "seeds": [0, 3],
        "ratio": 0.25,
        "flag": False,
        "features": {"n_mels": 16, "fmax": 4000.0, "lang": "ja"},
        "conditions": [
            {"name": "none"},
            {"name": "x", "filter": {"plugin": "lowpass", "cutoff_hz": 500.0}, "tags": ["a", "b"]},
        ],
        "models": [{"plugin": "lstm", "channels": [16, 32]}],
    }
    assert tomllib.loads(to_toml(data)) == data
    assert tomllib.loads(to_toml(tiny_suite())) == tiny_suite()
    with pytest.raises(TypeError, match="cannot write set"):
        to_toml({"bad": {1, 2}})


def test_an_installed_plugin_passed_again_is_registered_once():
    registry = tiny_registry([lstm], autoload=False)
    assert registry.get("model", "lstm").source.startswith("harness_plugins.models.lstm (")


def test_runs_the_tiny_suite_through_the_real_runner(tmp_path):
    results = run_tiny_suite(tmp_path)
    runs = results.runs
    assert results.output_dir == tmp_path / "out"
    assert sorted(runs["condition"]) == ["it-lp500", "none"]
    assert set(runs["status"]) <= {"reached", "censored"}
    assert (runs["max_steps"] == 30).all()
    assert len(results.curves) >= 2 * 2  # step 0 and at least one evaluation per run
    probes = results.probes
    assert set(probes["probe"]) == {"linear_svc"}
    assert {"lstm_state/h", "lstm_state/c", "feature_stats/mean_std"} <= set(probes["latent_space"])
    pretrained = runs[runs["condition"] == "it-lp500"].iloc[0]
    assert pretrained["pretrain_steps"] > 0
    assert results.latents(pretrained["run_id"])["lstm_state/h"].shape[1] == 8


class Exploding:
    @hookimpl
    def harness_models(self):
        return [Component("exploding", Exploding.Model, "raises in build")]

    class Model:
        def build(self, n_features, segment_frames):
            raise RuntimeError("boom from build")

        def loss(self, module, batch):  # pragma: no cover - never reached
            raise AssertionError


def test_a_failed_run_raises_with_its_traceback_unless_allowed(tmp_path):
    kwargs = dict(models=["exploding"], conditions=[{"name": "none"}], extra_plugins=[Exploding()])
    with pytest.raises(TinySuiteFailed) as info:
        run_tiny_suite(tmp_path, **kwargs)
    message = str(info.value)
    assert "1 failed" in message
    assert "RuntimeError: boom from build" in message
    assert "Traceback" in message and "in build" in message
    # the failed record stays; allow_failed returns the tables with it
    results = run_tiny_suite(tmp_path, allow_failed=True, **kwargs)
    (row,) = results.runs.itertuples()
    assert (row.status, row.error_type, row.error_message) == (
        "failed",
        "RuntimeError",
        "boom from build",
    )


def test_harness_testing_imports_without_pytest():
    # None in sys.modules makes an import fail as if the package were not installed
    code = (
        "import sys; sys.modules['pytest'] = sys.modules['_pytest'] = None;"
        "import harness.testing as t; assert t.tiny_suite()['name'] == 'tiny'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def run_pytest(folder, *args, autoload=True):
    """A fresh pytest session in ``folder``, with pytest's plugin autoload on or off."""
    (folder / "test_uses_fixture.py").write_text(
        textwrap.dedent("""\
        from harness.testing import run_tiny_suite


        def test_bound(harness_suite, tmp_path):
            assert harness_suite.func is run_tiny_suite
            assert harness_suite.args == (tmp_path,)
            assert harness_suite.keywords["cache_dir"].name == "harness-cache"
        """)
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(folder)],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("conftest", "args", "autoload"),
    [
        pytest.param("", [], True, id="entry-point"),
        # a conftest naming the plugin module, next to the entry point: registered once
        pytest.param('pytest_plugins = ["harness.pytest_plugin"]\n', [], True, id="and-conftest"),
        pytest.param("", ["-p", "harness.pytest_plugin"], False, id="autoload-off"),
    ],
)
def test_the_fixture_loads_through_the_pytest11_entry_point(tmp_path, conftest, args, autoload):
    (tmp_path / "conftest.py").write_text(conftest)
    done = run_pytest(tmp_path, *args, autoload=autoload)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_without_the_plugin_there_is_no_fixture(tmp_path):
    done = run_pytest(tmp_path, "-p", "no:harness.pytest_plugin")
    assert done.returncode == 1
    assert "fixture 'harness_suite' not found" in done.stdout
