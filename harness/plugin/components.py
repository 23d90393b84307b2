"""Components and their declared parameters.

A plugin contributes *components*: a named factory plus the parameters it takes.
The suite file selects a component by name and gives values for its parameters;
:func:`resolve_params` checks those values against the declaration, so a suite
is rejected before any work starts, and ``harness plugins`` can list everything.
:class:`Param` and :func:`resolve_params` live in :mod:`harness.plugin.params`,
:class:`Metric` in :mod:`harness.plugin.metrics`; both are importable from here.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.plugin.metrics import METRIC_ROLES, Metric, check_metrics
from harness.plugin.params import REQUIRED, Param, did_you_mean, resolve_params

#: The plugin families, in the order data flows through a run.
KINDS = ("dataset", "pretrain_filter", "model", "latent_extractor", "probe", "executor")
#: What a model may take as input (``Component.input``): feature frames
#: (log-mel / MFCC segments) or fixed-length waveform crops.
INPUTS = ("features", "waveform")
#: The labels every clip carries (``Clip.language``, ``Clip.speaker``); a dataset
#: declares only the others.
CLIP_LABELS = ("language", "speaker")


@dataclass(frozen=True)
class ValidationContext:
    """What a component's ``check`` may need from the rest of the suite.

    :param sample_rate: the rate in Hz of all audio in a run (``features.sample_rate``):
        datasets deliver it, pretraining filters receive it.
    :param target_language: the language learnt (``target.language``).
    :param languages: every language the suite uses, target language first.
    :param probe_languages: the languages the probes separate (``splits.probe_languages``).
    :param probe_speakers: held-out speakers per probe language (``splits.probe_speakers``),
        the most a probe's speaker-grouped folds can use.
    :param roles: per language, the speakers each role needs (``{"es": {"train": 2,
        "heldout": 1, "probe": 3}}``; roles never share a speaker): what a dataset's
        check compares with what its data holds.
    :param probe_clips: clips each probe language must give (``splits.probe_clips_per_language``),
        or None for as many as the smallest language has.
    :param cache_dir: the suite's cache root; a check that scans data may keep its
        answer there (under ``validation/``), keyed so that changed data is scanned again.
    :param task: the target task (``target.task``), or None for each model's own objective.
    :param label: the label a ``classify`` task predicts (``target.label``).
    :param silence: what the features do with silent frames (``features.silence``).
    """

    sample_rate: int
    target_language: str
    languages: tuple[str, ...]
    probe_languages: tuple[str, ...]
    probe_speakers: int | None = None
    roles: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    probe_clips: int | None = None
    cache_dir: Path | None = None
    task: str | None = None
    label: str = "language"
    silence: str = "keep"

    def speakers_needed(self, language: str) -> int:
        """Speakers ``language`` must provide, over all its roles."""
        return sum(self.roles.get(language, {}).values())


#: A factory named by reference, ``"package.module:Name"``: imported only when
#: the component is first built, so listing and validating components never
#: import what they need to run (torch, scikit-learn, transformers).
FactoryRef = str
_REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

#: ``check(params, context)``: yields ``(parameter name, message)`` for each
#: problem, where the message says what is expected and what was given.
Check = Callable[[Mapping[str, Any], ValidationContext], Iterable[tuple[str, str]]]


@dataclass(frozen=True)
class Component:
    """A named thing a plugin contributes to one family.

    :param name: what the suite file writes (``plugin = "lstm"``); unique per family.
    :param factory: called with the resolved parameters as keyword arguments;
        returns the object implementing the family's contract (see docs/plugins.md).
    :param params: the parameters the factory accepts.
    :param doc: one-line description.
    :param metrics: for probes, the metrics it reports.
    :param source: filled in by the plugin manager: the module and distribution
        the component came from.
    :param default: this family's choice when a suite names none (at most one
        per family; see :meth:`harness.plugin.registry.Registry.default`).
    :param check: rules the :class:`Param` declarations cannot say (a relation
        between parameters, or to the rest of the suite): called by ``harness
        validate`` once the parameters resolve, with a :class:`ValidationContext`;
        each ``(parameter name, message)`` it yields is reported under that
        parameter's key path. The factory stays the last line of defence: share
        the rule with it rather than writing it twice.
    :param labels: for datasets, the labels its clips carry beside language and
        speaker (``Clip.labels``), such as ``("emotion", "gender")``; or a
        function of the resolved parameters returning them, for a dataset whose
        labels depend on its settings. A suite may classify or probe only these.
    :param tasks: for models, the target tasks it can learn (``[target] task``),
        its own objective first: ``"next_frame"``, ``"reconstruct"`` (the model's
        ``loss`` is the objective) or ``"classify"`` (the model returns logits and
        the core computes the cross-entropy); see docs/training.md.
    :param title: the name readers see in the report (legends, headings,
        prose), such as "convolutional autoencoder"; empty: ``name`` humanised.
    :param loss: for models, what the loss it returns measures, as an axis
        label, such as "MSE of the next frame"; empty: "loss".
    :param keeps_speech: for pretraining filters: False when what comes out no
        longer carries the speech itself (its sounds and words), only something
        matched to it, such as its spectrum. The report reads a condition with
        such a filter as a control of whether the language matters at all.
    :param limits: for datasets: what the data is and what it cannot show, in
        a sentence or two a reader of the report sees beside the answer, such as
        "speech synthesized by one formant synthesizer: ...". Empty: nothing said.
    :param groups: for models, the names of the parameter groups its object's
        ``parameter_groups(module)`` returns, such as ``("backbone", "head")``
        (:class:`harness.plugin.contracts.GroupedModel`): what ``[training] lr_groups``
        and ``freeze`` may name.
    :param response: for pretraining filters with a fixed frequency response:
        a function of the resolved parameters returning ``{"hz": [...],
        "gain_db": [...]}`` (the response on a grid), optionally with
        ``"cited": [(hz, gain_db), ...]`` (measured points it was built from)
        and ``"source"`` (their citation). ``harness run`` records it with the
        suite's design and the report's Methods draw it. None: not declared.
    :param alignments: for datasets, True when every clip carries a
        time-aligned phone tier (``Clip.phones``); for probes, True when the
        probe needs one (a suite pairing such a probe with a dataset without
        alignments is a validation error). A dataset whose tiers come from
        files the user names gives the name of that parameter instead: its
        clips carry tiers when the parameter is set (see :meth:`provides_alignments`).
    :param named_only: for extractors and probes: True when a suite that leaves
        out ``[[extractors]]`` or ``[[probes]]`` does not get it (every other
        installed one is implied): it is used only where a suite names it, since
        it measures one kind of model or costs more than the rest
        (``input_gradient``, ``temporal_integration``).
    :param along_training: for probes: False when the probe does not run along
        training (``[probing] probe_at``), only in the final probing: its number
        is no score to follow over training steps, or it costs more than a point
        of the curve is worth (``tsne``, a picture). A suite may narrow the probes
        along training further (``[probing] probe_at_probes``), never widen them.
    :param along_params: for probes that run along training: parameters that
        replace the suite's at the ``probe_at`` points, for what a point of the
        curve does not need (``ridge`` and ``linear_svc``: ``n_permutations = 0``,
        as the curve draws scores and tests nothing across steps); the final
        probing keeps the suite's.
    """

    name: str
    factory: Callable[..., Any] | FactoryRef
    doc: str
    params: Sequence[Param] = ()
    metrics: Sequence[Metric] = ()
    source: str = field(default="", compare=False)
    default: bool = False
    check: Check | None = None
    labels: Sequence[str] | Callable[[Mapping[str, Any]], Sequence[str]] = ()
    tasks: Sequence[str] = ()
    title: str = ""
    loss: str = ""
    keeps_speech: bool = True
    limits: str = ""
    groups: Sequence[str] = ()
    input: str = "features"
    response: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    alignments: bool | str = False
    named_only: bool = False
    along_training: bool = True
    along_params: Mapping[str, Any] = field(default_factory=dict)

    def provided_labels(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """Every label a dataset's clips carry with ``params``, language and speaker first."""
        extra = self.labels(params) if callable(self.labels) else self.labels
        return (*CLIP_LABELS, *extra)

    def provides_alignments(self, params: Mapping[str, Any]) -> bool:
        """Whether a dataset's clips carry phone tiers with ``params``."""
        if isinstance(self.alignments, str):
            return params.get(self.alignments) not in (None, "", False)
        return bool(self.alignments)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params if not p.required}

    def with_source(self, source: str) -> Component:
        return replace(self, source=source)

    def create(self, **params: Any) -> Any:
        """Build the component's object from resolved parameters (a factory
        named by reference is imported, and its signature checked, first)."""
        return built_factory(self)(**params)


def built_factory(component: Component) -> Callable[..., Any]:
    """The component's factory; one named by reference imported and checked
    against the declaration the first time (a ``TypeError`` naming both)."""
    if not isinstance(component.factory, str):
        return component.factory
    factory = _imported(component.factory)
    problems = _checked_reference(component.factory, tuple(p.name for p in component.params),
                                  bool(component.groups))  # fmt: skip
    if problems:
        raise TypeError(f"component {component.name!r}: " + "; ".join(problems))
    return factory


@functools.cache
def _imported(reference: str) -> Callable[..., Any]:
    module, _, qualname = reference.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


@functools.cache
def _checked_reference(reference: str, names: tuple[str, ...], grouped: bool) -> list[str]:
    return _built_problems(_imported(reference), names, grouped)


def _reference_problems(reference: str) -> list[str]:
    """A factory reference that cannot name anything, found without importing it."""
    if not _REFERENCE.match(reference):
        return [f"its factory reference {reference!r} is not of the form 'package.module:Name'"]
    module = reference.partition(":")[0]
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None:
        return [f"its factory reference {reference!r} names a module that cannot be found"]
    return []


def check_declaration(kind: str, component: Component) -> list[str]:
    """What is wrong with a component as declared, before any suite uses it:
    its name, each parameter's default against the parameter's own type and
    range, its metrics (a probe must declare some), and whether its factory
    accepts every declared parameter and needs no undeclared one."""
    problems = []
    if not isinstance(component.name, str) or not component.name:
        problems.append("the component has an empty name")
    names = [p.name for p in component.params]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        problems.append(f"parameters declared twice: {twice}")
    for p in component.params:
        if p.required:
            continue
        _, problem = p.check(p.default)
        if problem:
            problems.append(f"parameter {p.name!r}: its default does not fit it ({problem})")
    problems += check_metrics(component.metrics)
    if component.labels and kind != "dataset":
        problems.append("only a dataset declares labels")
    if component.tasks and kind != "model":
        problems.append("only a model declares tasks")
    if not isinstance(component.limits, str):
        problems.append(f"limits must be text, got {component.limits!r}")
    elif component.limits and kind != "dataset":
        problems.append("only a dataset declares its limits")
    if not callable(component.labels) and any(
        not isinstance(x, str) or not x or x in CLIP_LABELS for x in component.labels
    ):
        problems.append(
            f"labels must be non-empty names other than language and speaker, got "
            f"{list(component.labels)!r}"
        )
    if component.input not in INPUTS:
        problems.append(f"input must be one of {list(INPUTS)}, got {component.input!r}")
    elif component.input != "features" and kind != "model":
        problems.append("only a model declares its input")
    if any(not isinstance(t, str) or not t for t in component.tasks):
        problems.append(f"tasks must be non-empty names, got {list(component.tasks)!r}")
    if isinstance(component.alignments, str) and component.alignments not in names:
        problems.append(f"alignments names the parameter {component.alignments!r}, not declared")
    if not isinstance(component.along_training, bool):
        problems.append(f"along_training must be True or False, got {component.along_training!r}")
    elif not component.along_training and kind != "probe":
        problems.append("only a probe declares along_training")
    if component.along_params and (kind != "probe" or not component.along_training):
        problems.append("only a probe that runs along training declares along_params")
    elif unknown := sorted(set(component.along_params) - set(names)):
        problems.append(f"along_params names undeclared parameters {unknown}")
    if component.groups and kind != "model":
        problems.append("only a model declares parameter groups")
    if any(not isinstance(g, str) or not g for g in component.groups) or len(
        set(component.groups)
    ) != len(component.groups):
        problems.append(f"groups must be distinct non-empty names, got {list(component.groups)!r}")
    if kind == "probe" and not component.metrics:
        problems.append("a probe must declare the metrics it reports in Component.metrics")
    if isinstance(component.factory, str):
        # checked against the declaration when first built (built_factory)
        return problems + _reference_problems(component.factory)
    return problems + _built_problems(component.factory, names, bool(component.groups))


def _built_problems(factory: Callable[..., Any], names: Sequence[str], grouped: bool) -> list[str]:
    """What the factory itself gets wrong against the declaration."""
    problems = []
    if grouped and inspect.isclass(factory) and not hasattr(factory, "parameter_groups"):
        problems.append(
            f"it declares parameter groups but {_name_of(factory)} has no "
            "parameter_groups(module) method"
        )
    return problems + _factory_problems(factory, names)


def _factory_problems(factory: Callable[..., Any], declared: Sequence[str]) -> list[str]:
    """Declared parameters the factory cannot take, and factory arguments no
    parameter declares (every run would end in a bare TypeError)."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to compare
        return []
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    accepted = {n for n, p in signature.parameters.items() if p.kind in named}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    problems = []
    refused = [n for n in declared if n not in accepted]
    if refused and not takes_any:
        problems.append(
            f"its factory {_name_of(factory)} does not accept the declared parameter(s) "
            f"{', '.join(refused)} (it takes: {', '.join(sorted(accepted)) or 'nothing'})"
        )
    needed = [
        n
        for n, p in signature.parameters.items()
        if p.kind in named and p.default is inspect.Parameter.empty and n not in declared
    ]
    if needed:
        problems.append(
            f"its factory {_name_of(factory)} requires {', '.join(needed)}, which no Param declares"
        )
    return problems


def _name_of(factory: Callable[..., Any]) -> str:
    return getattr(factory, "__qualname__", None) or type(factory).__name__


__all__ = [
    "CLIP_LABELS",
    "INPUTS",
    "KINDS",
    "METRIC_ROLES",
    "REQUIRED",
    "Check",
    "Component",
    "FactoryRef",
    "Metric",
    "Param",
    "ValidationContext",
    "built_factory",
    "check_declaration",
    "check_metrics",
    "did_you_mean",
    "resolve_params",
]
