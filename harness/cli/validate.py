"""``harness validate``: check a suite file and summarise the runs it would
make (conditions with their overrides and checkpoints, models, probes).
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.cli.common import EXIT_OK
from harness.spec.checkpoints import Checkpoint
from harness.spec.suite import EVERY_MODEL, Condition, Selection, Suite, load_suite


def describe_suite(suite: Suite, n_runs: int) -> str:
    lines = [
        f"{suite.path}: valid suite {suite.name!r}",
        f"  {len(suite.conditions)} conditions x {len(suite.models)} models x "
        + (
            f"{len(suite.seeds)} seeds = {n_runs} runs"
            if suite.sequential is None
            else f"{suite.sequential.min} to {suite.sequential.max} seeds, sequential = "
            f"{len(suite.conditions) * len(suite.models) * suite.sequential.min} to {n_runs} runs"
        ),
        f"  control: {suite.control}",
        "  conditions: " + ", ".join(map(_condition_text, suite.conditions)),
        "  models: " + ", ".join(map(_model_text, suite.models)),
        "  extractors: "
        + (", ".join(e.label for e in suite.extractors) if suite.probes else "none (no probes)"),
        "  probes: " + (", ".join(p.label for p in suite.probes) or "none"),
        f"  dataset: {suite.dataset.plugin}; languages: {', '.join(suite.languages())}",
        f"  output: {suite.output}",
    ]
    return "\n".join(lines)


def _condition_text(condition: Condition) -> str:
    """``16k (features.sample_rate=16000, training.lr=0.001)``: a name and its overrides."""
    settings = [
        f"{section}.{key}={json.dumps(value)}"
        for section, values in condition.overrides().items()
        for key, value in values.items()
    ]
    settings += [
        f"checkpoint{'' if label == EVERY_MODEL else '.' + label}={_checkpoint_text(c)}"
        for label, c in condition.checkpoint.items()
    ]
    return f"{condition.name} ({', '.join(settings)})" if settings else condition.name


def _model_text(model: Selection) -> str:
    """``lstm (checkpoint=...)``: a model's label and the weights it starts from."""
    if model.checkpoint is None:
        return model.label
    return f"{model.label} (checkpoint={_checkpoint_text(model.checkpoint)})"


def _checkpoint_text(checkpoint: Checkpoint) -> str:
    """A checkpoint's path and the start of its SHA-256, which the run ids hold."""
    return f"{checkpoint.path} [sha256 {checkpoint.sha256[:12]}]"


def cmd_validate(path: Path) -> int:
    from harness.spec.expand import expand

    suite = load_suite(path)
    print(describe_suite(suite, len(expand(suite))))
    return EXIT_OK
