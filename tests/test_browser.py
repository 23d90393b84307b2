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
