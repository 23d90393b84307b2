"""Progress around the runs: the ETA only once it means something, step lines
for the data preparation and the report, the totals; none of it changes results."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import ClassVar

import pytest

from harness.plugin.components import Component
from harness.plugin.contracts import DataRequest
from harness.plugin.registry import Registry
from harness.report import REPORT_STEPS, build_report
from harness.running.progress import Progress, Step, format_seconds, total_line
from harness.running.runner import prepare
from harness.spec.expand import expand

from helpers import runner as h

DOC = Path(__file__).parent.parent / "docs" / "running.md"


def test_no_eta_until_a_wave_of_runs_finished_then_mean_wall_time_per_worker():
    now = [0.0]
    stream = io.StringIO()
    bar = Progress(20, stream=stream, live=False, clock=lambda: now[0])
    bar.start()
    bar.running(4)
    # the first run also paid for loading: one early finish says little
    for i in range(3):
        now[0] += 80.0
        bar.update(f"c/m/seed{i}", "reached", 80.0 if i == 0 else 10.0)
        assert bar.eta() is None
    assert "ETA after the first runs finish" in stream.getvalue().splitlines()[-1]
    now[0] += 1.0
    bar.update("c/m/seed3", "reached", 10.0)
    # mean wall 27.5 s per run, 16 runs left on 4 workers: 110 s, not 16 x elapsed / 4
    assert bar.eta() == pytest.approx(27.5 * 16 / 4)
    assert "4/20 runs  0 failed  16 left  ETA 1m50s" in stream.getvalue()


def test_without_workers_the_eta_is_the_throughput_after_a_tenth_of_the_runs():
    now = [0.0]
    bar = Progress(50, stream=io.StringIO(), live=False, clock=lambda: now[0])
    assert bar.eta_after == 3  # ETA_AFTER_RUNS, fewer than a tenth of 50
    for i in range(3):
        now[0] += 10.0
        bar.update(f"r{i}", "reached", 10.0)
    assert bar.eta() == pytest.approx(30.0 / 3 * 47)
    small = Progress(5, skipped=3, stream=io.StringIO(), live=False)
    assert small.eta_after == 1  # a tenth of 2 runs: after the first


def test_a_step_is_redrawn_on_a_terminal_and_one_line_in_a_log():
    now = [0.0]
    live = io.StringIO()
    step = Step("generating the eSpeak corpus", stream=live, live=True, clock=lambda: now[0])
    for done in (0, 120, 480):
        step.advance(done, 480, "clips")
    now[0] = 72.0
    step.end()
    text = live.getvalue()
    assert "\rgenerating the eSpeak corpus: 120/480 clips" in text
    assert text.endswith("generating the eSpeak corpus: 480 clips in 1m12s\n")
    log = io.StringIO()
    step = Step("generating the eSpeak corpus", stream=log, live=False, clock=lambda: now[0])
    for done in (0, 120, 480):
        step.advance(done, 480, "clips")
    step.end()
    assert log.getvalue() == "generating the eSpeak corpus: 480 clips in 0s\n"
    quiet = io.StringIO()
    step = Step("report", stream=quiet, enabled=False)
    step.advance(1, 2, "steps")
    step.end()
    assert quiet.getvalue() == ""


def test_total_line_says_wall_cpu_and_cores_busy():
    assert total_line(125.0, 410.0) == "total: 2m05s wall, 6m50s CPU (3.3 cores busy on average)"
    assert format_seconds(9930) == "2h45m"


class _Preparing:
    """A dataset that prepares its data in four steps."""

    prepared: ClassVar[list[DataRequest]] = []

    def __init__(self, **params):
        self.params = params

    def prepare(self, request: DataRequest) -> None:
        _Preparing.prepared.append(request)
        for done in range(5):
            request.progress("making the corpus", done, 4, "files")

    def load(self, request: DataRequest):  # pragma: no cover - runs never start here
        return []


class _Broken(_Preparing):
    def prepare(self, request: DataRequest) -> None:
        request.progress("making the corpus", 1, 4, "files")
        raise OSError("disk full")


def _registry(factory) -> Registry:
    base = h.registry()
    return Registry({**base.components, "dataset": {"fake": Component("fake", factory, "data")}})


def test_the_runner_prepares_each_distinct_data_request_once_with_a_step_line(tmp_path):
    suite = h.make_suite(tmp_path, seeds=3)
    specs = expand(suite, h.registry())
    _Preparing.prepared.clear()
    stream = io.StringIO()
    prepare(specs, _registry(_Preparing), stream, True)
    # 6 runs read the same data: prepared once, with the request every run makes
    assert len(_Preparing.prepared) == 1
    assert _Preparing.prepared[0].languages == tuple(specs[0].languages)
    assert stream.getvalue() == "making the corpus: 4 files in 0s\n"  # not a terminal


def test_a_failed_preparation_is_reported_and_the_runs_go_ahead(tmp_path):
    specs = expand(h.make_suite(tmp_path, seeds=1), h.registry())
    stream = io.StringIO()
    prepare(specs, _registry(_Broken), stream, True)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "making the corpus: 4 files, stopped in 0s"
    assert lines[1] == (
        "preparing the data failed: OSError: disk full; the runs try again and record the error"
    )


def test_the_espeak_corpus_reports_the_clips_it_generated(tmp_path, monkeypatch):
    from harness_plugins.datasets import espeak
    from harness_plugins.datasets.espeak import GENERATING, EspeakDataset

    heard: list[tuple[str, int, int, str]] = []
    request = DataRequest(
        ("es", "it"), 16000, {"es": 1, "it": 1}, tmp_path, on_progress=lambda *a: heard.append(a)
    )
    dataset = EspeakDataset(speakers=2, clips_per_speaker=2, clip_seconds=0.5, workers=2)
    dataset.prepare(request)
    assert heard[0] == (GENERATING, 0, 8, "clips")  # 2 languages x 2 speakers x 2 clips
    assert heard[-1] == (GENERATING, 8, 8, "clips")
    done = [n for _, n, _, _ in heard]
    assert done == sorted(done)

    def no_generation(*args, **kwargs):
        raise AssertionError("load generated again although prepare had")

    monkeypatch.setattr(espeak, "_spawn", no_generation)
    clips = EspeakDataset(speakers=2, clips_per_speaker=2, clip_seconds=0.5).load(request)
    assert len(clips) == 8


def test_running_md_shows_what_the_progress_prints():
    section = DOC.read_text(encoding="utf-8").split("## Progress", 1)[1].split("\n## ", 1)[0]
    shown = [line.strip() for line in re.findall(r"^    (\S.*)$", section, re.M)]
    now = [0.0]
    log = io.StringIO()
    step = Step("generating the eSpeak corpus", stream=log, live=False, clock=lambda: now[0])
    step.advance(480, 480, "clips")
    now[0] = 73.0
    step.end()
    bar = Progress(40, stream=log, live=False, clock=lambda: now[0])
    bar.start()
    bar.running(4)
    for i in range(16):
        now[0] += 19.0
        bar.update(f"es-lp500/lstm/seed{i}", "reached", 76.0)
    now[0] += 19.0
    bar.update("ja-lp500/lstm/seed2", "failed", 62.0)
    start = now[0]
    report = Step("report", stream=log, live=False, clock=lambda: now[0], each=True)
    n = len(REPORT_STEPS)
    for index, at in ((0, 0.0), (1, 2.0), (2, 9.0), (n - 1, 21.0)):
        now[0] = start + at
        report.advance(index, n, "steps", REPORT_STEPS[index])
    now[0] = start + 24.0
    report.advance(n - 1, n, "steps", "figure 1: Kaplan-Meier curves of target steps to threshold")
    report.advance(n, n, "steps")
    now[0] = start + 38.0
    report.end()
    log.write(total_line(now[0], 3900.0) + "\n")
    # on a terminal: the lines as they are redrawn
    live = io.StringIO()
    Step("generating the eSpeak corpus", stream=live, live=True).advance(120, 480, "clips")
    bar.stream, bar.live = live, True
    bar.close()
    index = REPORT_STEPS.index("Kaplan-Meier curves")
    then = [0.0]
    drawn = Step("report", stream=live, live=True, clock=lambda: then[0], each=True)
    then[0] = 12.0
    drawn.advance(index, len(REPORT_STEPS), "steps", REPORT_STEPS[index])
    printed = log.getvalue().splitlines() + [
        line.strip() for line in re.split(r"[\r\n]+", live.getvalue()) if line.strip()
    ]
    for line in shown:
        assert line in printed, f"docs/running.md shows {line!r}; the harness prints {printed}"
    assert len(shown) >= 5


def test_the_report_names_each_step_and_figure_and_shows_the_same_numbers(tmp_path):
    from harness.report.html import FIGURE_STEP
    from harness.report.markup import FIGURE_DONE

    from helpers.fake_results import write_fake_results

    folder = write_fake_results(tmp_path / "fake")
    quiet = (build_report(folder, n_resamples=99, km_resamples=49)).read_text(encoding="utf-8")
    stats = {p.name: p.read_bytes() for p in (folder / "stats").glob("*.csv")}
    heard: list[str] = []
    path = build_report(folder, n_resamples=99, km_resamples=49, on_step=heard.append)
    steps = [name for name in heard if name in REPORT_STEPS]
    assert steps == list(REPORT_STEPS)
    figures = heard[len(REPORT_STEPS) :]
    assert len(figures) >= 4 and all(f.startswith(f"{FIGURE_STEP} ") for f in figures)
    assert figures[0].startswith(f"{FIGURE_STEP} 1: ") and FIGURE_DONE.get() is None
    # progress changes nothing: the same statistics, the same page but its date
    assert {p.name: p.read_bytes() for p in (folder / "stats").glob("*.csv")} == stats
    stamp = re.compile(r"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC")
    shown = path.read_text(encoding="utf-8")
    assert stamp.sub("", shown) == stamp.sub("", quiet)


def test_the_report_phase_prints_each_step_as_it_starts_in_a_log(tmp_path, capsys):
    """`harness run` and `harness report` close with the report phase: in a log
    (stderr not a terminal) every step and figure is a line as it starts, with
    the time so far, then the phase's total."""
    from harness.cli.report import write_report
    from harness.report.html import FIGURE_STEP

    from helpers.fake_results import write_fake_results

    folder = write_fake_results(tmp_path / "fake")
    assert write_report(folder) == 0
    err = capsys.readouterr().err.splitlines()
    pattern = re.compile(r"report \[(\d+m)?\d+s\]: (\d+)/(\d+) steps  (.*)")
    lines = [m for m in map(pattern.fullmatch, err) if m]
    names = [m[4] for m in lines]
    assert names[: len(REPORT_STEPS)] == list(REPORT_STEPS)
    figures = names[len(REPORT_STEPS) :]
    assert figures and all(f.startswith(f"{FIGURE_STEP} ") for f in figures)
    # counts say how many steps were done when each started
    assert [int(m[2]) for m in lines[: len(REPORT_STEPS)]] == list(range(len(REPORT_STEPS)))
    assert re.fullmatch(rf"report: {len(REPORT_STEPS)} steps in (\d+m)?\d+s", err[-1])
