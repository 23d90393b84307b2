"""Report figures drawn in forked processes (plotting.PngJobs): the same PNG
bytes as drawing them in place, in order, and every placeholder filled."""

import re

import numpy as np
import pytest
from matplotlib.artist import Artist
from matplotlib.figure import Figure

from harness.report import figures
from harness.report.html import build_report

from helpers.fake_results import flagship_suite, write_fake_results


def _figure(k: int) -> Figure:
    fig = Figure(figsize=(3, 2), layout="constrained")
    ax = fig.subplots()
    ax.plot(np.arange(10), np.arange(10) ** (1 + k / 4), label=f"line {k}")
    ax.set_title(f"figure {k}")
    return fig


class _Broken(Artist):
    def draw(self, renderer):
        raise RuntimeError("this artist cannot be drawn")


def test_forked_drawing_gives_the_bytes_of_drawing_in_place_in_submission_order():
    given = b"\x89PNG already drawn"
    jobs = figures.PngJobs(workers=2)
    assert jobs.parallel
    for k in range(3):
        jobs.submit(_figure(k))
    jobs.submit(given)
    jobs.submit(_figure(3))
    expected = [figures.png(_figure(k)) for k in range(3)] + [given, figures.png(_figure(3))]
    assert jobs.results() == expected


def test_one_worker_draws_in_place_and_a_failing_child_is_redrawn_where_its_error_shows():
    assert not figures.PngJobs(workers=1).parallel
    fig = _figure(0)
    fig.add_artist(_Broken())
    jobs = figures.PngJobs(workers=2)
    jobs.submit(fig)
    with pytest.raises(RuntimeError, match="cannot be drawn"):
        jobs.results()


def test_the_built_report_has_every_figure_in_place(tmp_path):
    folder = write_fake_results(tmp_path / "flagship", flagship_suite())
    steps: list[str] = []
    text = build_report(folder, n_resamples=99, km_resamples=49, on_step=steps.append).read_text()
    images = re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+"', text)
    placed = [s for s in steps if s.startswith("figure ")]
    assert "<harness-figure" not in text
    assert len(images) == len(placed) > 3
