"""The shared probe vocabulary: both built-in classifier probes declare the same
per-task metrics from it, and its rules read the suite the way they did."""

from __future__ import annotations

import numpy as np
import pytest

from harness.run.probe_tasks import TASKS, auto_splits, check_target, tasks_of
from harness_plugins.probes import linear_svc, ridge


def test_ridge_declares_the_shared_metrics_as_linear_svc_does():
    svc = {m.name: m for m in linear_svc.METRICS}
    for metric in ridge.METRICS:
        theirs = svc[metric.name]
        assert (metric.label, metric.role, metric.bounds, metric.chance) == (
            theirs.label,
            theirs.role,
            theirs.bounds,
            theirs.chance,
        )


def test_tasks_and_folds():
    assert tasks_of("both") == TASKS and tasks_of("target") == ("target",)
    labels = np.array(["a"] * 6 + ["b"] * 4)
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    assert auto_splits(labels, groups) == 2  # b has two speakers
    with pytest.raises(ValueError, match="target language 'c' is not among"):
        check_target(labels, "c")
