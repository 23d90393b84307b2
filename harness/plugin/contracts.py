"""What the objects built by each plugin family receive and must return.

The hook specs (:mod:`harness.plugin.hookspecs`) say how components are registered;
this module says what a component's object must do once the suite selected it.
The core checks every answer at the boundary with the ``check_*`` functions,
so a broken plugin fails with a message naming the plugin, the component and
what was expected, not deep inside numpy. Each family's contract has its own module (:mod:`harness.plugin.data_contracts`,
:mod:`harness.plugin.model_contracts`, :mod:`harness.plugin.probe_contracts`); every name is
importable from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar, runtime_checkable

from harness.plugin.contract_errors import ContractError, DataError, DataWarning
from harness.plugin.data_contracts import (
    Clip,
    DataRequest,
    Dataset,
    PretrainFilter,
    ProgressCallback,
    check_clip,
    check_filtered,
)
from harness.plugin.model_contracts import (
    CHECKPOINT_REPORT_KEYS,
    Classifier,
    GroupedModel,
    LoadsCheckpoint,
    Model,
    check_checkpoint_report,
    check_loss,
    check_parameter_groups,
)
from harness.plugin.probe_contracts import (
    LatentExtractor,
    Probe,
    ProbeResult,
    check_latents,
    check_layers,
    check_probe_result,
)

T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class Executor(Protocol):
    """Runs a suite's runs. An executor that knows how many runs it runs at
    once may say so in an int attribute ``workers``; the runner's estimate of
    the time left divides the finished runs' mean wall time by it."""

    def map(
        self, fn: Callable[[T], R], items: Iterable[T]
    ) -> Iterator[tuple[T, R | BaseException]]:
        """Run ``fn`` on every item; yield ``(item, result)`` as each finishes.

        A worker that dies yields ``(item, exception)`` instead of hanging.
        """
        ...

    def close(self) -> None: ...


__all__ = [
    "CHECKPOINT_REPORT_KEYS",
    "Classifier",
    "Clip",
    "ContractError",
    "DataError",
    "DataRequest",
    "DataWarning",
    "Dataset",
    "Executor",
    "GroupedModel",
    "LatentExtractor",
    "LoadsCheckpoint",
    "Model",
    "PretrainFilter",
    "Probe",
    "ProbeResult",
    "ProgressCallback",
    "check_checkpoint_report",
    "check_clip",
    "check_filtered",
    "check_latents",
    "check_layers",
    "check_loss",
    "check_parameter_groups",
    "check_probe_result",
]
