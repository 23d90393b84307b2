"""The errors of the plugin contracts: a component's answer that breaks its
family's contract (:class:`ContractError`), data that cannot support a suite
(:class:`DataError`) and a skipped clip or file (:class:`DataWarning`).
"""

from __future__ import annotations


class ContractError(Exception):
    """A plugin returned something that breaks its family's contract."""

    def __init__(self, kind: str, component: str, message: str) -> None:
        self.kind = kind
        self.component = component
        super().__init__(f"{kind} plugin {component!r}: {message}")


class DataWarning(UserWarning):
    """A clip or file was skipped; the message names it and says why.

    :class:`harness.data.audio.SkipLog` also sets ``dataset``, ``language``, ``file``,
    ``reason`` (one of ``harness.data.audio.SKIP_REASONS``) and ``detail``, which the
    run record keeps; a warning without them is recorded with reason ``other``.
    """

    dataset: str
    language: str
    file: str
    reason: str
    detail: str


class DataError(Exception):
    """The data cannot support the suite (too few clips or speakers, no files)."""
