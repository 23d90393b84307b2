"""The project name that ties hook specifications to hook implementations."""

import pluggy

NAME = "harness"

#: Decorator for hook implementations: ``from harness import hookimpl``.
hookimpl = pluggy.HookimplMarker(NAME)
