"""The HTML report: ``build_report(output_dir)`` writes the CSV tables and a
self-contained ``report.html`` (see docs/report.md)."""

from harness.report.html import REPORT_STEPS, build_report

__all__ = ["REPORT_STEPS", "build_report"]
