"""The plugin manager and the registry of components it collects.

Built-in and third-party plugins take one path: entry points in the group
``harness``. The built-ins are simply the entry points of this distribution.
Set ``HARNESS_DISABLE_PLUGIN_AUTOLOAD=1`` to load the built-ins only (hermetic
tests), or ``HARNESS_DISABLE_PLUGINS=name1,name2`` to skip the entry points of
those names; plugin objects can also be passed in directly.

An entry-point plugin is isolated: one that fails to import, whose hook
raises, or whose declarations are wrong is set aside as a :class:`BrokenPlugin`
(named with its entry point and distribution, and how to disable it), and
every other plugin keeps working. Plugin objects passed in directly (tests,
``harness.testing``) fail loudly with :class:`PluginError` instead.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

import pluggy

from harness.plugin import hookspecs
from harness.plugin.components import KINDS, Component, check_declaration, did_you_mean
from harness.plugin.markers import NAME
from harness.plugin.selection import Selection

DISTRIBUTION = "speech-pretrain-harness"
AUTOLOAD_ENV = "HARNESS_DISABLE_PLUGIN_AUTOLOAD"
#: comma-separated entry-point names not to load (``harness --disable-plugin`` sets it)
DISABLE_ENV = "HARNESS_DISABLE_PLUGINS"

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


@dataclass(frozen=True)
class BrokenPlugin:
    """An entry-point plugin set aside: what failed, where, and how to disable it.

    :param name: the entry point's name (what ``HARNESS_DISABLE_PLUGINS`` takes).
    :param value: the entry point's target, such as ``pkg.module``.
    :param distribution: the package that installed it, with its version.
    :param stage: what failed: ``import``, ``hook harness_models``, ``declaration``.
    :param error: the error, as one line.
    :param traceback: the full traceback, for a bug report ("" for declaration mistakes).
    """

    name: str
    value: str
    distribution: str
    stage: str
    error: str
    traceback: str = ""

    def describe(self) -> str:
        return (
            f"plugin {self.name!r} (entry point {self.name} = {self.value}, from "
            f"{self.distribution}) is broken: {self.stage} failed: {self.error}"
        )

    def hint(self) -> str:
        return (
            f"disable it with {DISABLE_ENV}={self.name} (or `harness --disable-plugin "
            f"{self.name} ...`), or fix or uninstall {self.distribution.split()[0]}"
        )


class UnknownComponent(KeyError):
    def __init__(
        self, kind: str, name: str, known: Iterable[str], broken: Iterable[BrokenPlugin] = ()
    ) -> None:
        known = sorted(known)
        hint = did_you_mean(name, known)
        self.message = (
            f"unknown {kind} plugin {name!r}{hint}; available: {', '.join(known) or 'none'}"
        )
        for plugin in broken:
            self.message += f"; it may come from a {plugin.describe()}; {plugin.hint()}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Registry:
    """Components by family and name, each with the source it came from."""

    components: Mapping[str, Mapping[str, Component]]
    #: entry-point plugins set aside, in load order; their components are absent
    broken: tuple[BrokenPlugin, ...] = ()

    def get(self, kind: str, name: str) -> Component:
        family = self.components[kind]
        if name not in family:
            raise UnknownComponent(kind, name, family, self.broken)
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
    """A pluggy manager that remembers which distribution each plugin came from,
    which entry point loaded it, and the entry-point plugins it set aside."""

    def __init__(self) -> None:
        super().__init__(NAME)
        self.sources: dict[int, str] = {}
        #: id(plugin) -> its entry point: plugins loaded this way are isolated
        self.entry_points: dict[int, tuple[md.EntryPoint, str]] = {}
        self.broken: list[BrokenPlugin] = []

    def set_aside(self, plugin: object, stage: str, error: str, trace: str = "") -> bool:
        """Unregister an entry-point ``plugin`` as broken; False if it was passed
        in directly (the caller then raises)."""
        found = self.entry_points.get(id(plugin))
        if found is None:
            return False
        ep, dist = found
        if self.is_registered(plugin):
            self.unregister(plugin)
        self.broken.append(BrokenPlugin(ep.name, ep.value, dist, stage, error, trace))
        return True

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
    if autoload or builtins:
        _load_entrypoints(pm, builtins_only=not autoload)
    try:
        for plugin in extra_plugins:
            pm.register(plugin)
        _set_aside_pending(pm)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"invalid plugin {exc.plugin!r}: {exc}") from exc
    return pm


def disabled_plugins() -> set[str]:
    """Entry-point names ``HARNESS_DISABLE_PLUGINS`` switches off."""
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


def entry_point_names() -> set[str]:
    """Names of every installed plugin entry point (what the disable switch takes)."""
    return {ep.name for ep in md.entry_points(group=NAME)}


def _load_entrypoints(pm: HarnessPluginManager, builtins_only: bool) -> None:
    """Load and register each entry point of the group on its own: one that
    fails to import or to register is set aside, the others load."""
    if builtins_only:
        try:
            dists = [md.distribution(DISTRIBUTION)]
        except md.PackageNotFoundError as exc:
            raise PluginError(
                f"{DISTRIBUTION} is not installed, so its built-in plugins cannot be found; "
                "install it with `pip install -e .`"
            ) from exc
    else:
        dists = list(md.distributions())
    skip = disabled_plugins()
    seen: set[str] = set()
    for dist in dists:
        source = f"{dist.metadata['Name']} {dist.version}"
        for ep in dist.entry_points:
            if ep.group != NAME or ep.name in skip or ep.name in seen:
                continue
            seen.add(ep.name)
            if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
                continue
            stage = "import"
            try:
                module = ep.load()
                stage = "registration"
                pm.register(module, name=ep.name)
            except Exception as exc:
                pm.broken.append(
                    BrokenPlugin(
                        ep.name, ep.value, source, stage, _one_line(exc), traceback.format_exc()
                    )
                )
                continue
            pm.sources[id(module)] = source
            pm.entry_points[id(module)] = (ep, source)


def _set_aside_pending(pm: HarnessPluginManager) -> None:
    """Set aside entry-point plugins implementing a hook no spec declares
    (a misspelt hook); ``check_pending`` then reports those passed in directly."""
    for name in list(vars(pm.hook)):
        if name.startswith("_"):
            continue
        hook = getattr(pm.hook, name)
        if hook.has_spec():
            continue
        for impl in hook.get_hookimpls():
            if not impl.optionalhook:
                pm.set_aside(
                    impl.plugin, "registration", f"{name} is not a harness hook (misspelt?)"
                )


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def collect(pm: HarnessPluginManager) -> Registry:
    """Ask every plugin for its components; check each declaration.

    A plugin whose hook raises or returns a wrong declaration is set aside
    whole (none of its components stay) if it came from an entry point, and
    raises :class:`PluginError` if it was passed in directly. Two components
    with one name in a family are an error naming both sources.
    """
    answers: dict[int, list[tuple[str, Component, str]]] = {}
    plugins: dict[int, object] = {}
    failed: set[int] = set()
    for kind, hook_name in HOOKS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            key = id(impl.plugin)
            plugins[key] = impl.plugin
            if key in failed:
                continue
            source = pm.describe(impl.plugin)
            try:
                found = _answer(kind, hook_name, impl.function, source)
            except PluginError as exc:
                if not pm.set_aside(impl.plugin, "declaration", str(exc)):
                    raise
                failed.add(key)
                continue
            except Exception as exc:
                if not pm.set_aside(
                    impl.plugin, f"hook {hook_name}", _one_line(exc), traceback.format_exc()
                ):
                    raise PluginError(f"{hook_name} in {source} raised {_one_line(exc)}") from exc
                failed.add(key)
                continue
            answers.setdefault(key, []).extend((kind, c, source) for c in found)
    components: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}
    for key, declared in answers.items():
        if key in failed:
            continue
        staged = {kind: dict(family) for kind, family in components.items()}
        clash = []
        for kind, component, source in declared:
            family = staged[kind]
            if component.name in family:
                clash.append(
                    f"two {kind} components are named {component.name!r}: one from "
                    f"{family[component.name].source}, one from {source}"
                )
            family[component.name] = component.with_source(source)
        if clash:
            if not pm.set_aside(plugins[key], "declaration", "; ".join(clash)):
                raise PluginError(clash[0])
            continue
        components = staged
    return Registry(components, tuple(pm.broken))


def _answer(kind: str, hook_name: str, hook: Any, source: str) -> list[Component]:
    """One hook implementation's components, each declaration checked."""
    answer: Any = hook()
    if answer is None:
        return []
    if isinstance(answer, Component) or not isinstance(answer, Iterable):
        raise PluginError(f"{hook_name} in {source} must return a list of Component")
    found = []
    for component in answer:
        if not isinstance(component, Component):
            raise PluginError(
                f"{hook_name} in {source} returned {component!r}, not a harness.Component"
            )
        problems = check_declaration(kind, component)
        if problems:
            raise PluginError(
                f"{kind} component {component.name!r} from {source}: " + "; ".join(problems)
            )
        found.append(component)
    return found


def load_registry(
    extra_plugins: Iterable[ModuleType | object] = (),
    autoload: bool | None = None,
    builtins: bool = True,
) -> Registry:
    """Build the plugin manager and collect every component (see build_plugin_manager)."""
    extra = tuple(extra_plugins)
    if not extra and autoload is None and builtins:
        disabled = tuple(sorted(disabled_plugins()))
        return _default_registry(bool(os.environ.get(AUTOLOAD_ENV)), disabled)
    return collect(build_plugin_manager(extra, autoload, builtins))


@cache
def _default_registry(autoload_disabled: bool, disabled: tuple[str, ...]) -> Registry:
    # ``disabled`` is read from the environment again; it is part of the cache key
    return collect(build_plugin_manager((), not autoload_disabled))
