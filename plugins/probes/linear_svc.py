"""Linear SVC probe: is the language linearly decodable from the latents of unseen speakers?

Standardised latents (scaling fitted on each training part) + linear-kernel SVC (balanced class weights), scored
by balanced accuracy under speaker-grouped stratified CV, with the regularisation C
chosen by an inner speaker-grouped CV. Significance comes from reassigning
languages to whole speakers (see :mod:`harness.run.probing`); each reassignment is also
a control task in the sense of Hewitt & Liang (2019), whose mean score gives the
selectivity. docs/probes.md explains every choice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from harness import Component, Metric, Param, ValidationContext, hookimpl
from harness.run.probe_tasks import (
    TASK_DOCS,
    TASK_LABELS,
    TASK_PARAM,
    TASKS,
    balanced_accuracy_metric,
    chance_metric,
    p_value_metric,
    selectivity_metric,
    task_problems,
)

DEFAULT_C_GRID = [0.001, 0.01, 0.1, 1.0]


def _metrics_of(task: str) -> list[Metric]:
    what, short = TASK_DOCS[task], TASK_LABELS[task]
    return [
        balanced_accuracy_metric(task, "; mean over speaker-grouped CV folds"),
        Metric(
            f"accuracy_{task}",
            f"plain accuracy, {what}; compare with majority_rate_{task}, never with 0.5",
            chance=f"majority_rate_{task}",
            label=f"accuracy ({short})",
            bounds=(0.0, 1.0),
        ),
        chance_metric(task),
        Metric(
            f"majority_rate_{task}",
            "accuracy of always answering the most frequent class; a baseline",
            role="reference",
            label=f"majority-class rate ({short})",
            bounds=(0.0, 1.0),
        ),
        p_value_metric(
            task,
            "speaker-level permutation p-value of the balanced accuracy; NaN if n_permutations = 0",
        ),
        Metric(
            f"control_balanced_accuracy_{task}",
            "mean balanced accuracy over control tasks (random speaker-to-label assignments "
            "keeping class sizes); near chance unless the probe exploits speakers",
            higher_is_better=False,
            label=f"control-task balanced accuracy ({short})",
            bounds=(0.0, 1.0),
        ),
        selectivity_metric(
            task, f"balanced_accuracy_{task} minus control_balanced_accuracy_{task}"
        ),
    ]


METRICS = [metric for task in TASKS for metric in _metrics_of(task)]


def grid_problem(C: float | None, C_grid: Sequence[float]) -> str | None:
    if not C_grid and C is None:
        return "C_grid is empty and no fixed C is given"
    if any(c <= 0 for c in C_grid):
        return f"every C in C_grid must be > 0, got {list(C_grid)}"
    return None


def _check(params: Mapping[str, Any], context: ValidationContext) -> Iterator[tuple[str, str]]:
    problem = grid_problem(params["C"], params["C_grid"])
    if problem:
        yield "C_grid", problem
    yield from task_problems(params, context)


PARAMS = [
    TASK_PARAM,
    Param(
        "n_splits",
        int,
        None,
        "outer speaker-grouped folds; default: speakers in the smallest class, at most 5",
        min=2,
        optional=True,
    ),
    Param(
        "C",
        float,
        None,
        "fixed regularisation C; default: chosen per outer fold over C_grid by an inner CV on "
        "the other outer folds (needs n_splits >= 3)",
        min=1e-12,
        optional=True,
    ),
    Param(
        "C_grid",
        list,
        list(DEFAULT_C_GRID),
        "values of C the inner CV chooses from (ties go to the smallest)",
        item=float,
    ),
    Param(
        "n_permutations",
        int,
        100,
        "speaker-level label permutations for the p-value and the control task (0: skip both)",
        min=0,
    ),
    Param(
        "solver",
        str,
        "libsvm",
        "'libsvm': SVC with a linear kernel (hinge loss, one-vs-one; the study's probe); "
        "'liblinear': LinearSVC (squared hinge, one-vs-rest, penalised intercept), a different "
        "model that is several times cheaper from a few hundred clips on",
        choices=("libsvm", "liblinear"),
    ),
]


@hookimpl
def harness_probes() -> list[Component]:
    return [
        Component(
            name="linear_svc",
            factory="harness_plugins.probes.linear_svc_probe:LinearSVCProbe",
            doc="linear SVC, speaker-grouped nested CV, balanced accuracy, speaker permutation test",
            params=PARAMS,
            metrics=METRICS,
            check=_check,
            # along training the curve draws scores; its points test nothing
            along_params={"n_permutations": 0},
        )
    ]
