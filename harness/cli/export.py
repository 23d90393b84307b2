"""``harness export DIR --to mlflow``: a results folder's runs written into a
tracking store users already open (:mod:`harness.tables.mlflow_export`)."""

from __future__ import annotations

from pathlib import Path

from harness.cli.common import EXIT_OK, UsageError, require_runs

#: the stores ``--to`` may name
TARGETS = ("mlflow",)


def cmd_export(directory: Path, to: str, uri: str | None, experiment: str | None) -> int:
    from harness.tables.mlflow_export import ExportError, export_mlflow
    from harness.tables.results import ResultsError, load_results

    require_runs(directory)
    try:
        results = load_results(directory)
        done = export_mlflow(results, uri, experiment or "")
    except (ExportError, ResultsError) as exc:
        raise UsageError(f"export {directory} --to {to}: {exc}") from exc
    print(
        f"{to}: {done.written} run(s) written to experiment {done.experiment!r} "
        f"({done.present} already there) in {done.uri}"
    )
    print(f"see them: mlflow ui --backend-store-uri {done.uri}")
    return EXIT_OK
