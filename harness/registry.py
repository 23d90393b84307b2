"""The plugin manager and the registry of components it collects.

Built-in and third-party plugins take one path: entry points in the group
``harness``. The built-ins are simply the entry points of this distribution.
Set ``HARNESS_DISABLE_PLUGIN_AUTOLOAD=1`` to load the built-ins only (hermetic
tests); plugin objects can also be passed in directly.
"""

from __future__ import annotations

import importlib.metadata as md
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

import pluggy

from harness import hookspecs
from harness.components import KINDS, Component, check_metrics, did_you_mean
from harness.markers import NAME
from harness.selection import Selection

DISTRIBUTION = "speech-pretrain-harness"
AUTOLOAD_ENV = "HARNESS_DISABLE_PLUGIN_AUTOLOAD"

#: family -> the hook that contributes its components
HOOKS = {
    "dataset": "harness_datasets",
    "pretrain_filter": "harness_pretrain_filters",
    "model": "harness_models",
    "latent_extractor": "harness_latent_extractors",
    "probe": "harness_probes",
    "executor": "harness_executors",
}
assert tuple(HOOKS) == KINDS


class PluginError(Exception):
    """A plugin could not be loaded or registers something invalid."""


class UnknownComponent(KeyError):
    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        hint = did_you_mean(name, known)
        self.message = (
            f"unknown {kind} plugin {name!r}{hint}; available: {', '.join(known) or 'none'}"
        )
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Registry:
    """Components by family and name, each with the source it came from."""

    components: Mapping[str, Mapping[str, Component]]

    def get(self, kind: str, name: str) -> Component:
        family = self.components[kind]
        if name not in family:
            raise UnknownComponent(kind, name, family)
        return family[name]

    def create(self, selection: Selection) -> Any:
        """The object of the component a suite chose, built from its resolved parameters.

        Raises :class:`UnknownComponent` if no plugin of that kind has the name.
        """
        return self.get(selection.kind, selection.plugin).create(**selection.params)

    def names(self, kind: str) -> list[str]:
        return sorted(self.components[kind])

    def default(self, kind: str) -> str:
        """The component of ``kind`` a suite gets when it names none: the one
        declared with ``Component(default=True)``; :class:`PluginError` unless
        exactly one is."""
        family = self.components[kind]
        marked = [name for name in sorted(family) if family[name].default]
        if len(marked) == 1:
            return marked[0]
        if marked:
            which = "; ".join(f"{name} from {family[name].source}" for name in marked)
            raise PluginError(
                f"several {kind} plugins are declared the default ({which}); name one"
            )
        available = ", ".join(sorted(family)) or "none installed"
        raise PluginError(f"no {kind} plugin is declared the default; name one ({available})")

    def all(self, kind: str | None = None) -> list[tuple[str, Component]]:
        kinds = [kind] if kind else list(KINDS)
        return [(k, self.components[k][n]) for k in kinds for n in self.names(k)]


class HarnessPluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers which distribution each plugin came from."""

    def __init__(self) -> None:
        super().__init__(NAME)
        self.sources: dict[int, str] = {}

    def describe(self, plugin: object) -> str:
        """Module and distribution of a plugin, as shown to users."""
        module = getattr(plugin, "__name__", type(plugin).__name__)
        if id(plugin) in self.sources:
            return f"{module} ({self.sources[id(plugin)]})"
        for registered, dist in self.list_plugin_distinfo():
            if registered is plugin:
                return f"{module} ({dist.project_name} {dist.version})"
        return module


def build_plugin_manager(
    extra_plugins: Iterable[object] = (), autoload: bool | None = None, builtins: bool = True
) -> HarnessPluginManager:
    """Load every plugin; ``check_pending`` makes a misspelt hook fail loudly.

    :param extra_plugins: plugin objects (modules) to register besides entry points.
    :param autoload: load third-party entry points; default: unless
        ``HARNESS_DISABLE_PLUGIN_AUTOLOAD`` is set.
    :param builtins: load this distribution's own entry points (off only for
        tests that need a registry of exactly ``extra_plugins``).
    """
    pm = HarnessPluginManager()
    pm.add_hookspecs(hookspecs)
    if autoload is None:
        autoload = not os.environ.get(AUTOLOAD_ENV)
    try:
        if autoload:
            pm.load_setuptools_entrypoints(NAME)
        elif builtins:
            _load_builtin_entrypoints(pm)
        for plugin in extra_plugins:
            pm.register(plugin)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"invalid plugin {exc.plugin!r}: {exc}") from exc
    return pm


def _load_builtin_entrypoints(pm: HarnessPluginManager) -> None:
    """Load only this distribution's entry points (what autoload-off keeps)."""
    try:
        dist = md.distribution(DISTRIBUTION)
    except md.PackageNotFoundError as exc:
        raise PluginError(
            f"{DISTRIBUTION} is not installed, so its built-in plugins cannot be found; "
            "install it with `pip install -e .`"
        ) from exc
    for ep in dist.entry_points:
        if ep.group != NAME or pm.get_plugin(ep.name) is not None:
            continue
        module = ep.load()
        pm.register(module, name=ep.name)
        pm.sources[id(module)] = f"{dist.metadata['Name']} {dist.version}"


def collect(pm: HarnessPluginManager) -> Registry:
    """Ask every plugin for its components; reject duplicates naming both sources."""
    components: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}
    for kind, hook_name in HOOKS.items():
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            source = pm.describe(impl.plugin)
            answer: Any = impl.function()
            if answer is None:
                continue
            if isinstance(answer, Component) or not isinstance(answer, Iterable):
                raise PluginError(f"{hook_name} in {source} must return a list of Component")
            for component in answer:
                if not isinstance(component, Component):
                    raise PluginError(
                        f"{hook_name} in {source} returned {component!r}, not a harness.Component"
                    )
                declared = check_metrics(component.metrics)
                if declared:
                    raise PluginError(
                        f"{kind} component {component.name!r} from {source}: " + "; ".join(declared)
                    )
                family = components[kind]
                if component.name in family:
                    raise PluginError(
                        f"two {kind} components are named {component.name!r}: "
                        f"one from {family[component.name].source}, one from {source}"
                    )
                family[component.name] = component.with_source(source)
    return Registry(components)


def load_registry(
    extra_plugins: Iterable[ModuleType | object] = (),
    autoload: bool | None = None,
    builtins: bool = True,
) -> Registry:
    """Build the plugin manager and collect every component (see build_plugin_manager)."""
    extra = tuple(extra_plugins)
    if not extra and autoload is None and builtins:
        return _default_registry(bool(os.environ.get(AUTOLOAD_ENV)))
    return collect(build_plugin_manager(extra, autoload, builtins))


@cache
def _default_registry(autoload_disabled: bool) -> Registry:
    return collect(build_plugin_manager((), not autoload_disabled))
