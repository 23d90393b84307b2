"""Names readers see instead of identifiers: a component's declared ``title``,
a metric's declared ``label``, else the identifier humanised
(``conv_autoencoder`` -> "conv autoencoder").

The declarations come from the :class:`~harness.plugin.plugin_facts.PluginFacts` a
suite's design recorded when it ran (``Results.design.facts``), never from
the installed plugins: a folder reads the same after a plugin is upgraded or
uninstalled, and one written before the design held facts reads with
humanised names.
"""

from __future__ import annotations

from harness.plugin.plugin_facts import PluginFacts

#: identifier suffix -> the unit it names (``cutoff_hz`` is a cutoff in Hz)
UNITS = {"hz": "Hz", "khz": "kHz", "ms": "ms", "seconds": "s", "db": "dB"}


def humanise(identifier: str) -> str:
    """``balanced_accuracy_multiclass`` -> "balanced accuracy multiclass"."""
    text = " ".join(str(identifier).replace("_", " ").split())
    return text or str(identifier)


def component_title(kind: str, name: str, facts: PluginFacts | None = None) -> str:
    """The declared title of the ``kind`` component ``name``, else ``name`` humanised."""
    component = facts.component(kind, name) if facts is not None else None
    return (component.title if component is not None else "") or humanise(name)


def model_loss(plugin: str, facts: PluginFacts | None = None) -> str:
    """What the loss of the model ``plugin`` measures, as it declared it, else "loss"."""
    component = facts.component("model", plugin) if facts is not None else None
    return (component.loss if component is not None else "") or "loss"


def filter_keeps_speech(plugin: str | None, facts: PluginFacts | None = None) -> bool | None:
    """Whether the pretraining filter ``plugin`` declared that its output still
    carries the speech (``Component.keeps_speech``); None when not recorded."""
    component = facts.component("pretrain_filter", plugin) if facts is not None else None
    return component.keeps_speech if component is not None else None


def dataset_limits(facts: PluginFacts | None) -> str:
    """What the suite's dataset declared it is and cannot show
    (``Component.limits``); "" when it declared nothing or was not recorded."""
    datasets = [c for c in facts.components if c.kind == "dataset"] if facts is not None else []
    return " ".join(c.limits for c in datasets if c.limits)


def metric_label(name: str, facts: PluginFacts | None = None) -> str:
    """The label a probe declared for its metric ``name``, else ``name`` humanised."""
    metric = facts.metric(str(name)) if facts is not None else None
    return (metric.label if metric is not None else "") or humanise(name)


def param_words(name: str) -> tuple[str, str]:
    """A parameter's name for readers and the unit its identifier names:
    ``cutoff_hz`` -> ("cutoff", "Hz"), ``order`` -> ("order", "")."""
    stem, _, suffix = str(name).rpartition("_")
    if stem and suffix.lower() in UNITS:
        return humanise(stem), UNITS[suffix.lower()]
    return humanise(name), ""
