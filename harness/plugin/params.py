"""Declared parameters: :class:`Param` (one typed parameter of a component or
of a core suite section, with its default, range and documentation) and
:func:`resolve_params`, which checks a suite's values against a declaration
and lists every problem at once, each with its key path.
"""

from __future__ import annotations

import builtins
import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: Default value marking a parameter the suite must give.
REQUIRED: Any = _Required()

_TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
               dict: "table"}  # fmt: skip


@dataclass(frozen=True)
class Param:
    """One typed parameter of a component (or of a core suite section).

    :param name: key in the suite file.
    :param type: ``bool``, ``int``, ``float``, ``str``, ``list`` or ``dict`` (a
        TOML table with string keys; see ``item`` for both).
    :param default: value used when the suite omits the key; ``REQUIRED`` if it must be given.
    :param doc: one line shown by ``harness plugins`` and in the docs.
    :param choices: allowed values, if the set is closed.
    :param min: inclusive lower bound for numbers (or for list length, never).
    :param max: inclusive upper bound for numbers.
    :param item: element type when ``type`` is ``list``, value type when ``dict``.
    :param optional: ``None`` is an allowed value (written by omitting the key).
    """

    name: str
    type: type
    default: Any
    doc: str
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    item: builtins.type | None = None
    optional: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def type_name(self) -> str:
        name = _TYPE_NAMES.get(self.type, self.type.__name__)
        if self.type is list and self.item is not None:
            name = f"list of {_TYPE_NAMES.get(self.item, self.item.__name__)}"
        if self.type is dict and self.item is not None:
            name = f"table of {_TYPE_NAMES.get(self.item, self.item.__name__)}s"
        return name

    def describe(self) -> str:
        """Expected type and range, as a phrase for error messages and listings."""
        text = self.type_name()
        if self.choices is not None:
            text += " one of " + ", ".join(repr(c) for c in self.choices)
        if self.min is not None and self.max is not None:
            text += f" in [{self.min}, {self.max}]"
        elif self.min is not None:
            text += f" >= {self.min}"
        elif self.max is not None:
            text += f" <= {self.max}"
        return text

    def check(self, value: Any) -> tuple[Any, str | None]:
        """Coerce ``value`` to this parameter's type; return (value, problem or None)."""
        if value is None and self.optional:
            return None, None
        if self.type is dict:
            if not isinstance(value, dict):
                return value, f"expected {self.describe()}, got {value!r}"
            table = {}
            for key, element in value.items():
                coerced, problem = _check_scalar(self.item or str, element)
                too_low = self.min is not None and not problem and coerced < self.min
                if problem or too_low:
                    return value, f"expected {self.describe()}, got {key} = {element!r}"
                table[key] = coerced
            return table, None
        if self.type is list:
            if not isinstance(value, list):
                return value, f"expected {self.describe()}, got {value!r}"
            out = []
            for element in value:
                coerced, problem = _check_scalar(self.item or str, element)
                if problem:
                    return value, f"expected {self.describe()}, got element {element!r}"
                out.append(coerced)
            value = out
            if self.choices is not None:
                bad = [v for v in value if v not in self.choices]
                if bad:
                    return value, f"expected {self.describe()}, got {bad[0]!r}"
            return value, None
        coerced, problem = _check_scalar(self.type, value)
        if problem:
            return value, f"expected {self.describe()}, got {value!r}"
        if self.choices is not None and coerced not in self.choices:
            hint = did_you_mean(str(coerced), [str(c) for c in self.choices])
            return value, f"expected {self.describe()}, got {value!r}{hint}"
        too_low = self.min is not None and coerced < self.min
        too_high = self.max is not None and coerced > self.max
        if isinstance(coerced, (int, float)) and (too_low or too_high):
            return value, f"expected {self.describe()}, got {value!r}"
        return coerced, None


def _check_scalar(kind: type, value: Any) -> tuple[Any, str | None]:
    if kind is bool:
        return value, None if isinstance(value, bool) else "type"
    if isinstance(value, bool):  # TOML true is not the number 1
        return value, "type"
    if kind is float and isinstance(value, int):
        return float(value), None
    if isinstance(value, kind):
        return value, None
    return value, "type"


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` suffix, or an empty string."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def resolve_params(
    params: Sequence[Param],
    given: Mapping[str, Any],
    where: str,
    reserved: Iterable[str] = (),
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Check ``given`` against ``params``; fill defaults.

    Returns the resolved values and a list of ``(key path, message)`` problems,
    all of them, so a suite reports every error at once. ``reserved`` keys
    (such as ``plugin``) belong to the caller and are skipped.
    """
    resolved: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    known = {p.name: p for p in params}
    skip = set(reserved)
    for key, value in given.items():
        if key in skip:
            continue
        path = f"{where}.{key}" if where else key
        if key not in known:
            valid = sorted(known)
            hint = did_you_mean(key, valid)
            listing = ", ".join(valid) if valid else "none"
            problems.append((path, f"unknown key{hint}; valid keys: {listing}"))
            continue
        coerced, problem = known[key].check(value)
        if problem:
            problems.append((path, problem))
        resolved[key] = coerced
    for p in params:
        if p.name in resolved:
            continue
        if p.required:
            path = f"{where}.{p.name}" if where else p.name
            problems.append((path, f"missing required key ({p.describe()}): {p.doc}"))
        else:
            resolved[p.name] = p.default
    return resolved, problems
