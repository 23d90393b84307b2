"""End to end: the report of a synthetic suite in headless Chromium: no console
error, no blocked resource, every image decodes (see tests/helpers/browser.py)."""

import io
from pathlib import Path

import pytest
from PIL import Image

from harness.report import build_report

from helpers.browser import SKIP_REASON, available, inspect_page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not available(), reason=SKIP_REASON),
]


@pytest.fixture(scope="module")
def report(folder) -> Path:
    return build_report(folder, n_resamples=199, km_resamples=99)


def test_report_renders_in_chromium_without_errors(report, tmp_path):
    checked = inspect_page(report, tmp_path / "profile")
    errors, page = checked.errors, checked.page
    assert errors == []
    assert page["answer"] and "fake-suite" in page["title"]
    assert len(page["images"]) >= 7
    for complete, width, height, shown in page["images"]:
        assert complete and width > 0 and height > 0 and shown > 0
    # readable on a laptop: nothing wider than the window forces sideways scrolling
    assert page["width"] <= 1366
    image = Image.open(io.BytesIO(checked.screenshot_png))
    assert image.width == 1366 and image.height > 3000
    image.save(tmp_path / "report.png")


@pytest.fixture(scope="module")
def flagship_report(tmp_path_factory) -> Path:
    from helpers.fake_results import flagship_suite, write_fake_results

    folder = write_fake_results(tmp_path_factory.mktemp("flagship"), flagship_suite())
    return build_report(folder, n_resamples=99, km_resamples=49)


def _readable(checked, width: int, where: str = "") -> None:
    """No console error; every heading, paragraph, caption and table cell holds
    its text, in folded blocks too; no name cell wraps past three lines; nothing
    but a table's own scroll box is wider than the window; every figure decodes
    and is shown no wider than the page."""
    page = checked.page
    assert checked.errors == [], where
    assert page["overflowing"] == [], where
    assert page["tall_names"] == [], where
    assert page["width"] <= width and page["unfolded_width"] <= width, where
    assert page["images"], where
    for complete, natural_width, natural_height, shown in page["images"]:
        assert complete and natural_width > 0 and natural_height > 0, where
        assert 0 < shown <= width, where


@pytest.mark.parametrize("width", [1400, 900])
def test_no_text_overflows_and_every_figure_decodes(flagship_report, tmp_path, width):
    """At a desktop's and a narrow window's width (see :func:`_readable`)."""
    checked = inspect_page(flagship_report, tmp_path / "profile", width=width)
    _readable(checked, width)
    assert len(checked.page["images"]) >= 7


def test_the_flagship_report_is_a_page_not_a_scroll(flagship_report, tmp_path):
    """The flagship's design (six conditions, two models, six seeds) at a
    desktop's width is under 15,000 px tall: long tables scroll in their own
    box and the details of the answer are folded (and checked unfolded above)."""
    page = inspect_page(flagship_report, tmp_path / "profile", width=1400).page
    assert page["folded"] >= 1
    assert page["height"] < 15_000, page["height"]


def test_the_overflow_check_sees_text_that_does_not_fit(tmp_path):
    """The check above can fail: a word wider than its cell and a paragraph
    wider than the window are both reported."""
    page = tmp_path / "crowded.html"
    word = "conv_autoencoder_" * 12
    page.write_text(
        "<!DOCTYPE html><html><body>"
        f'<table style="table-layout: fixed; width: 200px"><tr><td>{word}</td></tr></table>'
        f'<p style="width: 1500px">{word}</p>'
        "</body></html>",
        encoding="utf-8",
    )
    found = inspect_page(page, tmp_path / "profile", width=900).page["overflowing"]
    assert {tag for tag, *_ in found} == {"TD", "P"}


# ---------------------------------------------------------------- every shipped suite


@pytest.fixture(scope="module")
def shipped_reports(tmp_path_factory) -> dict[str, Path]:
    """Every shipped suite that runs without a download, shrunk (two seeds, a few
    short clips, ten steps: tests/helpers/shipped_suites.py) and run in this
    process with one corpus cache, the flagship as fake results in its design;
    then each one's report."""
    from helpers.shipped_suites import report_folder, shipped

    base = tmp_path_factory.mktemp("shipped")
    return {
        name: build_report(report_folder(name, base), n_resamples=99, km_resamples=49)
        for name in shipped()
    }


@pytest.mark.slow
@pytest.mark.parametrize("width", [1400, 900])
def test_every_shipped_suite_report_reads_in_chromium(shipped_reports, tmp_path, width):
    """Each shipped suite's own report (its conditions, models, task and probes):
    no console error, every figure decodes, no text overflows (see :func:`_readable`)."""
    from helpers.shipped_suites import NEEDS_DOWNLOAD, SUITES

    on_disk = {p.stem for p in SUITES.glob("*.toml")} - NEEDS_DOWNLOAD
    assert set(shipped_reports) == on_disk
    for name, report in shipped_reports.items():
        checked = inspect_page(report, tmp_path / f"profile-{name}", width=width)
        assert name in checked.page["title"], name
        _readable(checked, width, name)
