"""Parameters the built-in models declare alike: channel lists, stacked layers, dropout.

Each model still says in its own words what the parameter does there (the doc)
and picks its default; the type, the range and the rule on a list of channel
sizes (which the :class:`~harness.Param` schema cannot bound) are written once here.
"""

from __future__ import annotations

from harness import Param


def channels_param(default: list[int], doc: str) -> Param:
    """``channels``: output channels of each convolution (check with :func:`channels_problem`)."""
    return Param("channels", list, default, doc, item=int)


def channels_problem(channels: list[int]) -> str | None:
    """What is wrong with a list of channel sizes, or None: it must be non-empty and positive."""
    if channels and min(channels) >= 1:
        return None
    return f"expected a non-empty list of positive sizes, got {channels}"


def num_layers_param(doc: str) -> Param:
    """``num_layers``: stacked recurrent layers, 1 to 8."""
    return Param("num_layers", int, 1, doc, min=1, max=8)


def dropout_param(default: float, doc: str) -> Param:
    """``dropout``: a probability, at most 0.9."""
    return Param("dropout", float, default, doc, min=0.0, max=0.9)
