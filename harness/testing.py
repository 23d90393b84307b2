"""Test helpers for plugin authors, in the spirit of pytest's ``pytester``.

Run a plugin through the real harness (suite validation, runner, execute,
store, tables) on a tiny embedded corpus, on the CPU, in this process::

    from harness.testing import run_tiny_suite
    import my_plugin

    def test_gru_trains_and_is_probed(tmp_path):
        results = run_tiny_suite(
            tmp_path, models=[{"plugin": "gru", "hidden_size": 8}], extra_plugins=[my_plugin]
        )
        assert set(results.runs["status"]) <= {"reached", "censored"}
        assert "lstm_state/h" in set(results.probes["latent_space"])

or through the ``harness_suite`` fixture, which shares one corpus cache per
test session; pytest loads it from :mod:`harness.pytest_plugin` (a ``pytest11``
entry point) wherever the harness is installed::

    def test_knn(harness_suite):
        results = harness_suite(probes=[{"plugin": "knn"}], extra_plugins=[my_plugin])

Plugins passed in ``extra_plugins`` need not be installed: the suite runs
in this process (the ``local`` executor with ``in_process = true``) with a
registry holding them. The tiny suite's defaults are in :func:`tiny_suite`;
any suite key can be overridden (docs/plugins.md, "Testing a plugin").
This module does not import pytest, so it works without the ``test`` extra.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.plugin.registry import Registry, build_plugin_manager, collect
from harness.spec.suite import load_suite
from harness.tables.results import Results, load_results

#: A component selection as the suite file writes it: a name, or a table with ``plugin``.
SelectionLike = str | Mapping[str, Any]

__all__ = [
    "TinySuiteFailed",
    "run_tiny_suite",
    "tiny_registry",
    "tiny_suite",
    "to_toml",
    "write_tiny_suite",
]


class TinySuiteFailed(AssertionError):
    """Some run of the tiny suite failed; the message holds every run's error and traceback."""


def tiny_suite(**overrides: Any) -> dict[str, Any]:
    """The tiny suite as a dict (the TOML's tables), with ``overrides`` applied.

    Defaults: synthesized Spanish (target) and Italian, 3 clips of 1.5 s per
    speaker, 16 log-mel bands, two conditions (``none``, the control, and
    ``it-lp500``: one epoch of Italian low-passed at 500 Hz), one ``lstm`` of
    8 units, one seed, 30 steps of training at most, the ``linear_svc`` probe
    with a fixed C and no permutations, CPU only.

    A dict override is merged into the table of the same name
    (``target={"max_steps": 60}`` keeps the other ``[target]`` keys), unless
    it names another plugin (``dataset={"plugin": "folder", "root": "..."}``),
    which replaces the table; any other value replaces the key (``seeds=2``,
    ``conditions=[...]``).
    """
    suite: dict[str, Any] = {
        "name": "tiny",
        "seeds": [0],
        "dataset": {
            "plugin": "espeak",
            "clips_per_speaker": 3,
            "clip_seconds": 1.5,
            "word_list_size": 500,
        },
        "features": {"n_mels": 16},
        "splits": {
            "probe_languages": ["es", "it"],
            "pretrain_speakers": 1,
            "train_speakers": 1,
            "heldout_speakers": 1,
            "probe_speakers": 2,
        },
        "target": {"language": "es", "threshold": 0.9, "max_steps": 30, "eval_every": 10},
        "training": {"lr": 0.003, "batch_size": 4, "segment_frames": 20, "device": "cpu"},
        "conditions": [
            {"name": "none"},
            {
                "name": "it-lp500",
                "language": "it",
                "filter": {"plugin": "lowpass", "cutoff_hz": 500.0},
                "epochs": 1,
            },
        ],
        "models": [{"plugin": "lstm", "hidden_size": 8}],
        "probes": [{"plugin": "linear_svc", "C": 1.0, "n_permutations": 0}],
        # in this process, so plugins that are not installed reach the runs
        "executor": {"plugin": "local", "workers": 1, "in_process": True},
    }
    for key, value in overrides.items():
        default = suite.get(key)
        if (
            isinstance(value, Mapping)
            and isinstance(default, dict)
            and value.get("plugin", default.get("plugin")) == default.get("plugin")
        ):
            suite[key] = {**default, **value}
        else:
            suite[key] = value
    return suite


def _selections(given: Sequence[SelectionLike] | None) -> list[dict[str, Any]] | None:
    if given is None:
        return None
    return [{"plugin": s} if isinstance(s, str) else dict(s) for s in given]


def write_tiny_suite(
    directory: str | Path,
    *,
    models: Sequence[SelectionLike] | None = None,
    extractors: Sequence[SelectionLike] | None = None,
    probes: Sequence[SelectionLike] | None = None,
    **overrides: Any,
) -> Path:
    """Write the tiny suite to ``<directory>/suite.toml`` with results in ``<directory>/out``.

    ``models``, ``extractors`` and ``probes`` are lists of plugin names or
    tables (``{"plugin": "knn", "n_neighbors": 3}``); left out, the defaults of
    :func:`tiny_suite` apply (every installed extractor that supports the model).
    The file runs with ``harness run`` too.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for key, given in (("models", models), ("extractors", extractors), ("probes", probes)):
        chosen = _selections(given)
        if chosen is not None:
            overrides[key] = chosen
    overrides.setdefault("output", str(directory / "out"))
    path = directory / "suite.toml"
    path.write_text(to_toml(tiny_suite(**overrides)), encoding="utf-8")
    return path


def tiny_registry(extra_plugins: Iterable[object] = (), autoload: bool | None = None) -> Registry:
    """Every plugin the harness would load, plus ``extra_plugins`` (modules or objects).

    A plugin that is also installed (so already loaded through its entry
    point) is registered once. ``autoload`` as in
    :func:`harness.plugin.registry.build_plugin_manager`.
    """
    installed = build_plugin_manager((), autoload=autoload)
    extra = [p for p in extra_plugins if not installed.is_registered(p)]
    return collect(build_plugin_manager(extra, autoload=autoload))


def run_tiny_suite(
    tmp_path: str | Path,
    *,
    models: Sequence[SelectionLike] | None = None,
    extractors: Sequence[SelectionLike] | None = None,
    probes: Sequence[SelectionLike] | None = None,
    extra_plugins: Iterable[object] = (),
    cache_dir: str | Path | None = None,
    allow_failed: bool = False,
    **overrides: Any,
) -> Results:
    """Write the tiny suite into ``tmp_path``, run it in this process, return its tables.

    :param models, extractors, probes: as in :func:`write_tiny_suite`.
    :param extra_plugins: plugin modules (or objects with ``@hookimpl`` methods)
        to use besides the installed ones; they need not be installed.
    :param cache_dir: corpus and feature cache (the suite's ``cache``; ``$HARNESS_CACHE``
        overrides it); default ``<tmp_path>/cache``. Share one between tests, so the
        corpus is generated once.
    :param allow_failed: return the tables even when runs failed (their
        ``status`` is ``"failed"`` and ``error_type``/``error_message`` say why);
        by default a failed run raises :class:`TinySuiteFailed` with its traceback.
    :param overrides: any suite key, as in :func:`tiny_suite`.
    :return: :class:`harness.tables.results.Results`: ``.runs``, ``.curves``, ``.probes``,
        ``.records``, ``.latents(run_id)``.
    """
    tmp_path = Path(tmp_path)
    registry = tiny_registry(extra_plugins)
    overrides.setdefault("cache", str(cache_dir if cache_dir is not None else tmp_path / "cache"))
    path = write_tiny_suite(
        tmp_path, models=models, extractors=extractors, probes=probes, **overrides
    )
    suite = load_suite(path, registry)
    # imported here: harness.run.execute imports torch, which writing a suite does not need
    from harness.run.execute import execute
    from harness.running.runner import run_suite

    outcome = run_suite(
        suite,
        execute=functools.partial(execute, registry=registry),
        registry=registry,
        progress=False,
    )
    only_failures = not outcome.missing and not outcome.interrupted
    if not (outcome.ok or (allow_failed and only_failures)):
        raise TinySuiteFailed(outcome.summary(tracebacks=len(outcome.failures)))
    return load_results(outcome.output)


# ---------------------------------------------------------------- TOML writing


def to_toml(data: Mapping[str, Any]) -> str:
    """A suite dict as TOML: scalars first, then ``[tables]`` and ``[[arrays of tables]]``."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    arrays: list[tuple[str, Sequence[Mapping[str, Any]]]] = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        elif _is_table_array(value):
            arrays.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, table in tables:
        lines += ["", f"[{_key(key)}]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    for key, items in arrays:
        for item in items:
            lines += ["", f"[[{_key(key)}]]"]
            lines += [f"{_key(k)} = {_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def _is_table_array(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and bool(value)
        and all(isinstance(v, Mapping) for v in value)
    )


def _key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str | Path):
        # a JSON string is a valid TOML basic string
        return json.dumps(str(value))
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as TOML")
