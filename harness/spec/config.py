"""The schema of a suite file: the top-level keys and a condition's keys as
:class:`Param` lists, which sections a condition may override, and the
sections by name. The section dataclasses live in :mod:`harness.spec.sections`,
the option machinery in :mod:`harness.spec.options`; both are importable from here.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.plugin.params import REQUIRED, Param
from harness.spec.options import Section, option, section_params
from harness.spec.sections import (
    CLASSIFY,
    SCHEDULES,
    TARGET_METRICS,
    FeatureConfig,
    SplitConfig,
    TargetConfig,
    TrainingConfig,
)

__all__ = [
    "CACHE_ENV",
    "CLASSIFY",
    "CONDITION_PARAMS",
    "CONDITION_SECTIONS",
    "EQUIVALENCE_RATIO",
    "EQUIVALENCE_SCORE",
    "FIXED_SECTIONS",
    "PRETRAIN_OBJECTIVES",
    "SCHEDULES",
    "SECTIONS",
    "SELF_SUPERVISED",
    "STAGE_KEYS_OF_CONDITION",
    "STAGE_PARAMS",
    "TARGET_METRICS",
    "TASK_OBJECTIVE",
    "TIME_MEASURES",
    "TOP_PARAMS",
    "FeatureConfig",
    "Section",
    "SplitConfig",
    "TargetConfig",
    "TrainingConfig",
    "default_cache_dir",
    "describe_section",
    "option",
    "section_params",
]

CACHE_ENV = "HARNESS_CACHE"


def default_cache_dir(configured: str = "") -> Path:
    """The cache folder: ``$HARNESS_CACHE``, else the suite's ``cache``, else ~/.cache/harness."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "harness"


#: The top-level keys of a suite file.
#: The time measures a suite's learning speed is analysed in: target steps
#: (hardware-independent), steps including pretraining (what a head start
#: cost) and wall seconds of target training (carry the machine's load).
TIME_MEASURES = ("steps", "total_steps", "seconds")
#: the measure the report's answer states learning speed in unless the suite
#: chooses another (``answer_measure``): target steps, which load cannot change
ANSWER_MEASURE = "steps"
#: the smallest effects a suite cares about unless it declares its own: a time
#: ratio within 1/(1 + 0.1) .. 1 + 0.1, a separability score within 0.05
EQUIVALENCE_RATIO = 0.1
EQUIVALENCE_SCORE = 0.05

#: What a condition's pretraining optimises: the target task, or the model's own loss.
SELF_SUPERVISED = "self_supervised"
TASK_OBJECTIVE = "task"
PRETRAIN_OBJECTIVES = (TASK_OBJECTIVE, SELF_SUPERVISED)

TOP_PARAMS = (
    Param("name", str, REQUIRED, "short name, used in file names and the report title"),
    Param("description", str, "", "what the suite is for, shown in the report"),
    Param("question", str, "", "the question the suite answers, shown first in the report"),
    Param("seeds", list, [0, 1, 2], "a count (seeds 0..n-1) or a list of seeds", item=int),
    Param(
        "output",
        str,
        "",
        "results folder; default reports/<name> (relative to the working directory)",
    ),
    Param(
        "cache",
        str,
        "",
        f"cache folder for corpora and features; default ~/.cache/harness; ${CACHE_ENV} overrides",
    ),
    Param(
        "control",
        str,
        "",
        "the condition others are compared with; default the one without pretraining",
    ),
    Param(
        "answer_measure",
        str,
        ANSWER_MEASURE,
        "the time measure the report's answer states learning speed in: target steps, "
        "total_steps (pretraining counted) or seconds (wall seconds, which carry the machine's "
        "load); every measure is analysed and tabulated whichever is chosen",
        choices=TIME_MEASURES,
    ),
    Param(
        "equivalence_ratio",
        float,
        EQUIVALENCE_RATIO,
        "the smallest change in learning speed the suite cares about, as a fraction: two "
        "conditions are called equivalent only when the time ratio's confidence interval "
        "lies inside 1/(1 + m) .. 1 + m (0.1: within 10%)",
        min=0.001,
        max=1.0,
    ),
    Param(
        "equivalence_score",
        float,
        EQUIVALENCE_SCORE,
        "the smallest change in separability the suite cares about, in the probe's score "
        "units (0.05: five accuracy points): two conditions are called equivalent only when "
        "the difference's confidence interval lies inside -m .. m",
        min=0.0001,
        max=1.0,
    ),
)
#: A condition's or a stage's ``filter``: a plugin selection.
FILTER_PARAM = Param(
    "filter",
    str,
    "",
    "pretrain-filter plugin: a name, or a table {plugin = ..., params}; "
    "default: the one `harness plugins` marks as default",
)
#: The keys of a [[conditions]] entry; its ``filter`` is a plugin selection.
CONDITION_PARAMS = (
    Param("name", str, REQUIRED, "short name of the condition (letters, digits, -_.)"),
    Param(
        "label", str, "", "readable label used in the report, such as 'Japanese, low-pass 500 Hz'"
    ),
    Param("language", str, "", "pretraining language; leave out for no pretraining"),
    FILTER_PARAM,
    Param("epochs", int, 1, "passes over the pretraining clips", min=0),
    Param(
        "checkpoint",
        str,
        "",
        "weights this condition's models start from (a path, or a table of model label -> "
        "path); default: the model's own checkpoint, else none",
    ),
    Param(
        "pretrain_steps",
        int,
        0,
        "pretrain for this many optimiser steps (batches of training.batch_size) instead "
        "of `epochs` passes; 0: use epochs",
        min=0,
    ),
    Param(
        "pretrain_objective",
        str,
        "task",
        "what pretraining optimises: the target task itself ('task'; a classify task "
        "pretrains on the pretraining clips' own labels), or the model's own "
        "self-supervised loss ('self_supervised'), then fine-tune on the target task",
        choices=PRETRAIN_OBJECTIVES,
    ),
    Param(
        "stages",
        list,
        [],
        "a curriculum: [[conditions.stages]] tables, heard in order, each with its "
        "language, filter, epochs or steps, objective (see Curricula); instead of the "
        "condition's own language, filter, epochs, pretrain_steps and pretrain_objective",
        item=dict,
    ),
    Param(
        "features",
        dict,
        {},
        "[features] keys this condition sets otherwise, such as {sample_rate = 8000}",
    ),
    Param(
        "training", dict, {}, "[training] keys this condition sets otherwise, such as {lr = 0.01}"
    ),
    Param(
        "target",
        dict,
        {},
        "[target] keys this condition sets otherwise, such as {class_weights = 'balanced'}; "
        "not threshold, threshold_mode, metric, max_steps or eval_every",
    ),
)
#: The condition keys a curriculum's stages replace (a condition has either
#: these or ``stages``).
STAGE_KEYS_OF_CONDITION = ("language", "filter", "epochs", "pretrain_steps", "pretrain_objective")
#: The keys of a [[conditions.stages]] table; its ``filter`` is a plugin selection.
STAGE_PARAMS = (
    Param("language", str, REQUIRED, "the language this stage hears"),
    FILTER_PARAM,
    Param("epochs", int, 1, "passes over the stage's pretraining clips", min=0),
    Param(
        "steps",
        int,
        0,
        "pretrain this stage for this many optimiser steps instead of `epochs` passes; 0: "
        "use epochs",
        min=0,
    ),
    Param(
        "objective",
        str,
        "task",
        "what this stage optimises: the target task ('task') or the model's own "
        "self-supervised loss ('self_supervised')",
        choices=PRETRAIN_OBJECTIVES,
    ),
    Param(
        "reset_optimizer",
        bool,
        False,
        "start this stage with a fresh optimiser (its moments and learning-rate schedule "
        "over this stage alone); default: the optimiser of the stages before carries on",
    ),
)
#: Sections a condition may override (its ``features``, ``training`` and
#: ``target`` tables), each with the keys it may not: conditions are compared
#: within a model by the time each takes to the same event, so what counts as
#: learnt (threshold, its mode and metric), the budget a censored run enters
#: the paired test at and the grid of evaluations times are read on are the
#: same in every condition (a model's own threshold and budget go in [[models]]).
CONDITION_SECTIONS: dict[str, tuple[str, ...]] = {
    "features": (),
    "training": (),
    "target": ("threshold", "threshold_mode", "metric", "max_steps", "eval_every"),
}
#: Suite tables no condition may override, and why.
FIXED_SECTIONS = {
    "splits": "probes must see the same speakers in every condition",
    "dataset": "every condition must read the same corpus (the same speakers)",
}

SECTIONS: dict[str, type[Section]] = {
    "features": FeatureConfig,
    "splits": SplitConfig,
    "target": TargetConfig,
    "training": TrainingConfig,
}


def describe_section(name: str) -> list[Param]:
    """Params of a suite section, for listings and docs."""
    if name == "top":
        return list(TOP_PARAMS)
    if name == "conditions":
        return list(CONDITION_PARAMS)
    if name == "stages":
        return list(STAGE_PARAMS)
    return section_params(SECTIONS[name])
