"""Run records -> tidy pandas tables, one pure function per table.

Every table is built from typed :class:`~harness.output.record.RunRecord` s (a dict
in the stored form is read through ``RunRecord.from_dict``). The tables live
by concern: runs and curves in :mod:`harness.tables.runs`, probe metrics,
details, layers and speakers in :mod:`harness.tables.probes`, data quality
and the classify task's tables in :mod:`harness.tables.data`; this module
gathers them under one name. :mod:`harness.tables.results` loads an output folder
into these tables; docs/report.md documents every column.
"""

from __future__ import annotations

from harness.tables.data import (
    CONFUSION_COLUMNS,
    DATA_QUALITY_COLUMNS,
    SKIP_COLUMNS,
    STREAMING_COLUMNS,
    confusion_table,
    data_quality_table,
    skipped_files,
    streaming_table,
)
from harness.tables.probes import (
    DETAIL_COLUMNS,
    LAYER_COLUMNS,
    PROBE_COLUMNS,
    details_table,
    layers_table,
    probes_table,
    speakers_table,
)
from harness.tables.runs import (
    CLASSIFY_METRICS,
    CURVE_COLUMNS,
    RUN_COLUMNS,
    STATUSES,
    TIME_MEASURES,
    curves_table,
    runs_table,
)

__all__ = [
    "CLASSIFY_METRICS",
    "CONFUSION_COLUMNS",
    "CURVE_COLUMNS",
    "DATA_QUALITY_COLUMNS",
    "DETAIL_COLUMNS",
    "LAYER_COLUMNS",
    "PROBE_COLUMNS",
    "RUN_COLUMNS",
    "SKIP_COLUMNS",
    "STATUSES",
    "STREAMING_COLUMNS",
    "TIME_MEASURES",
    "confusion_table",
    "curves_table",
    "data_quality_table",
    "details_table",
    "layers_table",
    "probes_table",
    "runs_table",
    "skipped_files",
    "speakers_table",
    "streaming_table",
]
