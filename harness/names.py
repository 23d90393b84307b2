"""Names readers see instead of identifiers: a component's declared ``title``,
a metric's declared ``label``, else the identifier humanised
(``conv_autoencoder`` -> "conv autoencoder").

The declarations come from the installed plugins, so a result folder written
by a plugin that is no longer installed still reads, with humanised names.
"""

from __future__ import annotations

from functools import cache

from harness.registry import UnknownComponent, load_registry


def humanise(identifier: str) -> str:
    """``balanced_accuracy_multiclass`` -> "balanced accuracy multiclass"."""
    text = " ".join(str(identifier).replace("_", " ").split())
    return text or str(identifier)


def component_title(kind: str, name: str) -> str:
    """The declared title of the ``kind`` component ``name``, else ``name`` humanised."""
    try:
        title = load_registry().get(kind, name).title
    except UnknownComponent:
        title = ""
    return title or humanise(name)


def model_loss(plugin: str) -> str:
    """What the loss of the model ``plugin`` measures, as it declared it, else "loss"."""
    try:
        return load_registry().get("model", plugin).loss or "loss"
    except UnknownComponent:
        return "loss"


def filter_keeps_speech(plugin: str | None) -> bool | None:
    """Whether the pretraining filter ``plugin`` declared that its output still
    carries the speech (``Component.keeps_speech``); None when not installed."""
    if not plugin:
        return None
    try:
        return load_registry().get("pretrain_filter", plugin).keeps_speech
    except UnknownComponent:
        return None


@cache
def _metric_labels() -> dict[str, str]:
    labels: dict[str, str] = {}
    for _, component in load_registry().all("probe"):
        for metric in component.metrics:
            if metric.label:
                labels.setdefault(metric.name, metric.label)
    return labels


def metric_label(name: str) -> str:
    """The label a probe declared for its metric ``name``, else ``name`` humanised."""
    return _metric_labels().get(str(name)) or humanise(name)
