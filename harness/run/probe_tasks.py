"""The vocabulary of language-classification probes: tasks, their metrics, their rules.

A classifier probe answers one or both of two tasks: ``target`` (the suite's target
language against the other probe languages pooled) and ``multiclass`` (every probe
language against every other). This module names the tasks, declares the metrics
every such probe reports per task (balanced accuracy, its chance level, the
speaker-level permutation p-value, the selectivity), holds the ``task`` parameter
and the suite checks that go with it, and the default number of speaker-grouped
folds. The built-in linear_svc and ridge probes use it; a third-party probe may too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from harness.plugin.components import Metric, Param, ValidationContext
from harness.run.probing import fewest_speakers

TASKS = ("target", "multiclass")
#: Folds used when n_splits is omitted and the data allow it.
MAX_AUTO_SPLITS = 5

#: What each task classifies, for metric docs.
TASK_DOCS = {
    "target": "target language vs the other probe languages pooled",
    "multiclass": "every probe language against every other",
}
#: The same, short, for metric labels in the report.
TASK_LABELS = {"target": "target language vs rest", "multiclass": "all languages"}

TASK_PARAM = Param(
    "task",
    str,
    "both",
    "'target': target language vs the rest; 'multiclass': all probe languages; or 'both'",
    choices=("target", "multiclass", "both"),
)


def tasks_of(task: str) -> tuple[str, ...]:
    """The tasks a ``task`` parameter asks for, in :data:`TASKS` order."""
    return TASKS if task == "both" else (task,)


def auto_splits(labels: np.ndarray, groups: np.ndarray) -> int:
    """Outer folds when ``n_splits`` is omitted: speakers of the smallest class, at most
    :data:`MAX_AUTO_SPLITS`, and at least 2 so that too few speakers still fail in
    :func:`harness.run.probing.check_grouped_cv` with the counts."""
    return max(2, min(MAX_AUTO_SPLITS, fewest_speakers(labels, groups)))


def check_target(labels: np.ndarray, target: str) -> None:
    """Raise unless the target language is among the probe clips' languages."""
    if target not in set(labels.tolist()):
        found = sorted({str(v) for v in labels.tolist()})
        raise ValueError(f"target language {target!r} is not among the probe languages {found}")


def task_problems(
    params: Mapping[str, Any], context: ValidationContext
) -> Iterator[tuple[str, str]]:
    """Suite checks of ``task`` and ``n_splits``: a target-vs-rest task needs the
    target among the probe languages, and speaker-grouped folds need as many
    speakers per language as folds. For a probe's ``check``."""
    folds, speakers = params["n_splits"], context.probe_speakers
    if folds is not None and speakers is not None and folds > speakers:
        yield (
            "n_splits",
            f"expected at most splits.probe_speakers = {speakers} (every fold holds out a "
            f"speaker of each language), got {folds}",
        )
    target = context.target_language
    if params["task"] != "multiclass" and target not in context.probe_languages:
        yield (
            "task",
            (
                f"task {params['task']!r} tells the target language {target!r} from the others, "
                f"but splits.probe_languages ({', '.join(context.probe_languages)}) lacks it; "
                "add it there or use task = 'multiclass'"
            ),
        )


# ------------------------------------------------------------ metrics per task


def _task_metric(
    name: str,
    task: str,
    doc: str,
    label: str,
    bounds: tuple[float, float] = (0.0, 1.0),
    **more: Any,
) -> Metric:
    return Metric(
        f"{name}_{task}", doc, label=f"{label} ({TASK_LABELS[task]})", bounds=bounds, **more
    )


def balanced_accuracy_metric(task: str, how: str) -> Metric:
    """The headline score of ``task``; ``how`` says how it is aggregated over folds."""
    doc = f"balanced accuracy, {TASK_DOCS[task]}{how}"
    return _task_metric(
        "balanced_accuracy", task, doc, "balanced accuracy", chance=f"chance_{task}", headline=True
    )


def chance_metric(task: str) -> Metric:
    """The balanced accuracy of a predictor that ignores the latents."""
    doc = "balanced accuracy of a predictor ignoring the latents (1 / classes); a baseline"
    return _task_metric("chance", task, doc, "chance level", role="reference")


def p_value_metric(task: str, doc: str) -> Metric:
    """The speaker-level permutation p-value of the balanced accuracy."""
    return _task_metric(
        "p_value", task, doc, "permutation p-value", higher_is_better=False, role="p_value"
    )


def selectivity_metric(task: str, doc: str) -> Metric:
    """The balanced accuracy minus the mean score of the control tasks."""
    return _task_metric("selectivity", task, doc, "selectivity", bounds=(-1.0, 1.0))
