"""The option machinery of the suite's sections: a documented dataclass field
(:func:`option`), the :class:`Param` list read off a section dataclass
(:func:`section_params`) and :class:`Section`, the base whose
:meth:`~Section.problems` states the rules that relate a section's fields.
One definition so serves validation, ``harness validate``, the docs and the
typed config the core code reads.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator
from typing import Any

from harness.plugin.params import REQUIRED, Param


def option(
    default: Any,
    doc: str,
    *,
    choices: tuple[Any, ...] | None = None,
    min: float | None = None,
    max: float | None = None,
) -> Any:
    """A documented dataclass field (``REQUIRED`` for keys the suite must give)."""
    metadata = {"doc": doc, "choices": choices, "min": min, "max": max}
    if default is REQUIRED:
        return dataclasses.field(metadata=metadata)
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def section_params(cls: type) -> list[Param]:
    """The Param list of a config dataclass."""
    hints = typing.get_type_hints(cls)
    params = []
    for f in dataclasses.fields(cls):
        kind, item, optional = _unpack(hints[f.name])
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = REQUIRED
        params.append(
            Param(
                f.name,
                kind,
                default,
                f.metadata.get("doc", ""),
                choices=f.metadata.get("choices"),
                min=f.metadata.get("min"),
                max=f.metadata.get("max"),
                item=item,
                optional=optional,
            )
        )
    return params


def _unpack(hint: Any) -> tuple[type, type | None, bool]:
    optional = False
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        optional = True
        hint = next(a for a in args if a is not type(None))
        args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        return list, args[0] if args else str, optional
    if origin is dict:
        return dict, args[1] if args else str, optional
    return hint, None, optional


class Section:
    """Base of the section dataclasses: the rules that relate their fields."""

    def problems(self) -> Iterator[tuple[str, str]]:
        """``(field name, message)`` for each broken rule; the fields are each valid."""
        return iter(())
