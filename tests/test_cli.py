"""The `harness` command: help, listings, validation messages and exit codes."""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from harness import __version__
from harness.cli import main

ROOT = Path(__file__).parent.parent

BROKEN = """\
name = "broken"
seeds = 2
[dataset]
plugin = "espeek"
[splits]
probe_languages = ["es", "ja"]
[target]
language = "es"
threshold = 0.5
max_steps = "many"
[[conditions]]
name = "none"
[[conditions]]
name = "ja"
language = "ja"
filter = { plugin = "lowpass", cutof_hz = 400 }
[[models]]
plugin = "lstm"
"""


def run_cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out
    assert main([]) == 2
    out = capsys.readouterr().out
    for command in ("run", "validate", "plugins", "report"):
        assert command in out
    assert "exit codes" in out


def test_plugins_lists_every_family_with_params_and_source(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for family in ("dataset:", "pretrain_filter:", "model:", "latent_extractor:", "probe:"):
        assert family in out
    assert "lstm  [harness_plugins.models.lstm (speech-pretrain-harness" in out
    assert "hidden_size (integer >= 1; default 128)" in out
    assert "labels: language, speaker" in out  # every dataset says what a task may classify
    assert "limits: speech synthesized by eSpeak NG" in out  # and espeak what it cannot show
    assert "tasks: next_frame" in out  # every model says what it can learn
    assert main(["plugins", "--kind", "probe"]) == 0
    only = capsys.readouterr().out
    assert "linear_svc" in only and "lstm  [" not in only


def test_validate_valid_suite_summarises_runs(capsys):
    assert main(["validate", str(ROOT / "suites" / "quick.toml")]) == 0
    out = capsys.readouterr().out
    assert "valid suite 'quick'" in out
    assert "2 conditions x 2 models x 3 seeds = 12 runs" in out


def validate_errors(directory, text):
    """stderr of `harness validate` on a suite file holding ``text``, which must exit 2
    with messages, not a traceback."""
    path = directory / "suite.toml"
    path.write_text(text)
    result = run_cli("validate", path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    return result.stderr


def test_validate_reports_every_problem_and_exits_2(tmp_path):
    err = validate_errors(tmp_path, BROKEN)
    assert "3 problem(s)" in err
    assert "dataset.plugin: unknown dataset plugin 'espeek' (did you mean 'espeak'?)" in err
    assert "target.max_steps: expected integer >= 1, got 'many'" in err
    assert "conditions[1].filter.cutof_hz: unknown key (did you mean 'cutoff_hz'?)" in err


# BROKEN with its per-key mistakes traded for ones only rules relating keys catch
CROSS_FIELD = 'dataset = "espeak"\n' + (
    BROKEN.replace('[dataset]\nplugin = "espeek"\n', "[features]\nkind = 'mfcc'\nn_mels = 10\n")
    .replace("[splits]", "n_mfcc = 13\nn_fft = 256\n[splits]")
    .replace('max_steps = "many"\n', "")
    .replace("cutof_hz = 400", "cutoff_hz = 9000")
)


def test_validate_checks_rules_that_relate_keys_and_exits_2(tmp_path):
    """Every one of these used to pass validate and then fail every run."""
    err = validate_errors(tmp_path, CROSS_FIELD)
    assert "4 problem(s)" in err, err
    assert (
        "features.n_mfcc: expected at most n_mels = 10 (MFCC are taken from the mel bands), got 13"
    ) in err
    assert (
        "features.n_fft: expected at least the window length, 400 samples "
        "(25.0 ms at 16000 Hz), got 256"
    ) in err
    assert (
        "conditions[1].filter.cutoff_hz: expected between 0 and 8000.0 Hz, the Nyquist "
        "frequency of 16000 Hz audio, got 9000.0"
    ) in err
    assert err.count("  dataset") == 1
    assert (
        "dataset: expected a table [dataset], got 'espeak'; write [dataset] and plugin = \"espeak\""
        in err
    )


def test_plugins_marks_the_default_of_each_family(capsys):
    assert main(["plugins", "--kind", "pretrain_filter"]) == 0
    out = capsys.readouterr().out
    assert "  full (default)  [" in out
    assert "  lowpass  [" in out
    assert main(["plugins", "--kind", "executor"]) == 0
    assert "  local (default)  [" in capsys.readouterr().out


def test_plugins_says_when_each_probe_and_extractor_runs(capsys):
    """Which are implied where a suite names none, and which probes also run
    along training (Component.named_only, Component.along_training)."""
    assert main(["plugins", "--kind", "probe"]) == 0
    blocks = {b.split()[0]: b for b in re.split(r"\n  (?=\S)", capsys.readouterr().out)[1:]}
    assert "runs: implied where a suite names no [[probes]]; also at [probing]" in blocks["ridge"]
    assert "; never at [probing] probe_at points" in blocks["tsne"]
    assert "runs: only where a suite names it; also at" in blocks["temporal_integration"]
    assert main(["plugins", "--kind", "latent_extractor"]) == 0
    blocks = {b.split()[0]: b for b in re.split(r"\n  (?=\S)", capsys.readouterr().out)[1:]}
    assert "runs: only where a suite names it" in blocks["input_gradient"]
    assert "runs: implied where a suite names no [[extractors]]" in blocks["lstm_state"]


def test_syntax_error_names_file_line_column(tmp_path):
    path = tmp_path / "syntax.toml"
    path.write_text('name = "x"\nseeds = [1, 2\n')
    result = run_cli("validate", path)
    assert result.returncode == 2
    assert f"{path}:3:1: TOML syntax error: Unclosed array" in result.stderr


def test_run_with_suite_errors_exits_2_before_any_work(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN)
    result = run_cli("run", path, "--output", tmp_path / "out")
    assert result.returncode == 2
    assert not (tmp_path / "out").exists()


def test_usage_errors_exit_2(tmp_path):
    result = run_cli("run", ROOT / "suites" / "quick.toml", "--executor", "pbs")
    assert result.returncode == 2
    assert "unknown executor plugin 'pbs'" in result.stderr and "local" in result.stderr
    result = run_cli("run", ROOT / "suites" / "quick.toml", "-E", "workers=-1")
    assert result.returncode == 2 and "workers" in result.stderr
    result = run_cli("report", tmp_path)
    assert result.returncode == 2 and "no runs/ folder" in result.stderr
    assert run_cli("frobnicate").returncode == 2


def test_failed_runs_exit_1_and_are_recorded(tmp_path):
    """Files that validate (listed, enough speakers) but none decodes: every run fails
    with a data error that states the problem; the command says so and exits 1."""
    for lang in ("es", "it"):
        for k in range(6):
            speaker = tmp_path / "data" / lang / f"s{k}"
            speaker.mkdir(parents=True)
            (speaker / "a.wav").write_bytes(b"not audio at all")
    suite = tmp_path / "few.toml"
    suite.write_text(
        textwrap.dedent(
            f"""\
            name = "few"
            seeds = 1
            [dataset]
            plugin = "folder"
            root = "{tmp_path / "data"}"
            [splits]
            probe_languages = ["es", "it"]
            [target]
            language = "es"
            threshold = 0.5
            [[conditions]]
            name = "none"
            [[models]]
            plugin = "lstm"
            [executor]
            plugin = "local"
            in_process = true
            """
        )
    )
    assert run_cli("validate", suite).returncode == 0
    result = run_cli("run", suite, "--output", tmp_path / "out", "--no-report")
    assert result.returncode == 1, result.stderr
    text = result.stdout + result.stderr
    assert "1 failed" in text
    assert "folder: no usable clips for language(s) es, it: es: 6 undecodable" in text
    assert "see the warnings above" not in text
    records = list((tmp_path / "out" / "runs").glob("*/record.json"))
    assert len(records) == 1


def test_power_plans_seeds_from_a_pilot(folder, capsys):
    assert main(["power", str(folder), "--effect", "0.2", "--effect", "0.4"]) == 0
    out = capsys.readouterr().out
    assert "Holm's first-step level 0.05/4" in out  # 2 conditions x 2 models
    assert out.count("20% fewer steps (ratio 0.80)") == 2
    assert "SD of per-seed log ratios" in out


def test_power_refuses_a_pilot_without_spread_with_exit_2(folder, capsys, monkeypatch):
    from harness.tables import results as results_module

    real = results_module.load_results

    def identical_runs(directory):
        # an A/A pilot: every condition's run of a seed took the control's steps
        results = real(directory)
        runs = results.runs
        control = runs[runs["condition"] == results.control].set_index(["model", "seed"])
        key = pd.MultiIndex.from_frame(runs[["model", "seed"]])
        for column in ("steps_to_threshold", "event", "status"):
            runs[column] = control[column].reindex(key).to_numpy()
        return results

    monkeypatch.setattr(results_module, "load_results", identical_runs)
    assert main(["power", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "no spread over" in err and "A/A suite" in err and str(folder) in err


def test_power_rejects_bad_input_with_exit_2(tmp_path, folder, capsys):
    assert main(["power", str(tmp_path)]) == 2
    assert "no runs/ folder" in capsys.readouterr().err
    assert main(["power", str(folder), "--effect", "20"]) == 2
    assert "between 0 and 1" in capsys.readouterr().err
