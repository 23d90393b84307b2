"""A plugin-based comparative benchmark harness for pretraining effects on
learning a language from audio.

Plugin authors need only what this module exports::

    from harness import Component, Metric, Param, hookimpl
"""

from importlib.metadata import PackageNotFoundError, version

from harness.plugin.components import REQUIRED, Component, Metric, Param, ValidationContext
from harness.plugin.markers import hookimpl

try:
    __version__ = version("speech-pretrain-harness")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "REQUIRED",
    "Component",
    "Metric",
    "Param",
    "ValidationContext",
    "__version__",
    "hookimpl",
]
