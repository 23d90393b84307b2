"""What a model component builds and returns: the :class:`Model` and
:class:`Classifier` protocols, the optional checkpoint loading and parameter
groups, and the boundary checks of a loss, a checkpoint report and parameter
groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

from harness.plugin.contract_errors import ContractError


class Model(Protocol):
    def build(self, n_features: int, segment_frames: int) -> torch.nn.Module:
        """Return a fresh module; the core has seeded torch already."""
        ...

    def loss(self, module: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        """Scalar training loss for ``batch`` of shape (batch, frames, n_features)."""
        ...


class Classifier(Protocol):
    """A model of the ``classify`` task (its component declares ``tasks=("classify",)``).

    The core computes the cross-entropy, the class weights, masked frames and
    every held-out measure; the model only scores the classes.
    """

    def build(self, n_features: int, segment_frames: int, n_classes: int) -> torch.nn.Module:
        """Return a fresh module for ``n_classes`` classes; the core has seeded torch."""
        ...

    def logits(self, module: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        """Unnormalised class scores for ``batch`` (batch, frames, n_features): per
        segment (batch, n_classes) or per frame (batch, frames, n_classes).

        A per-frame module may also offer streaming, ``module.step(frame, state)
        -> (logits (batch, n_classes), state)`` with ``state=None`` starting a
        sequence; the core then records its accuracy after the first k frames.
        """
        ...


class LoadsCheckpoint(Protocol):
    """A model (:class:`Model` or :class:`Classifier`) that loads a checkpoint
    itself, such as one whose tensor names differ from its module's (a Hugging
    Face checkpoint under another prefix). Optional: without it the core loads
    the tensors whose names and shapes match (harness.spec.checkpoints.load_matching).
    """

    def load_checkpoint(
        self, module: torch.nn.Module, state: dict[str, torch.Tensor]
    ) -> Mapping[str, Sequence[str]]:
        """Load ``state`` (tensor name -> CPU tensor, read without running code)
        into ``module``, just built and seeded, before any training; return the
        tensor names ``loaded``, ``missing`` (the module's, left at their
        initial values) and ``unexpected`` (the checkpoint's, unused). Raise
        ``ValueError`` naming the tensors when it does not fit.
        """
        ...


class GroupedModel(Protocol):
    """A model whose parameters fall into named groups, which ``[training]``
    may give their own learning rates (``lr_groups``) or freeze (``freeze``).

    Its component declares the names in ``Component.groups``, so a suite is
    checked before any run; ``parameter_groups`` returns exactly those names.
    """

    def parameter_groups(
        self, module: torch.nn.Module
    ) -> Mapping[str, Iterable[torch.nn.Parameter]]:
        """The parameters of ``module`` (as :meth:`build` returned it) in each group,
        such as ``{"backbone": module.rnn.parameters(), "head": module.head.parameters()}``;
        no parameter in two groups. Parameters in no group train at ``[training] lr``."""
        ...


CHECKPOINT_REPORT_KEYS = ("loaded", "missing", "unexpected")


def check_checkpoint_report(component: str, value: Any) -> dict[str, list[str]]:
    """A model's ``load_checkpoint`` answer: ``loaded``, ``missing`` and
    ``unexpected``, each a list of tensor names, at least one loaded."""
    if not isinstance(value, Mapping) or set(value) != set(CHECKPOINT_REPORT_KEYS):
        got = sorted(value) if isinstance(value, Mapping) else type(value).__name__
        raise ContractError(
            "model",
            component,
            "load_checkpoint() must return a mapping with "
            f"the keys {list(CHECKPOINT_REPORT_KEYS)}, got {got}",
        )
    out = {}
    for key in CHECKPOINT_REPORT_KEYS:
        names = value[key]
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise ContractError(
                "model",
                component,
                f"load_checkpoint()[{key!r}] must be a list of tensor names, got {names!r}",
            )
        out[key] = sorted(names)
    if not out["loaded"]:
        raise ContractError(
            "model",
            component,
            "load_checkpoint() loaded no tensor; raise ValueError naming what does not fit instead",
        )
    return out


def check_loss(component: str, value: Any) -> torch.Tensor:
    """A model's loss is a scalar tensor."""
    import torch

    if not isinstance(value, torch.Tensor) or value.dim() != 0:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ContractError("model", component, f"loss() must return a scalar tensor, got {shape}")
    return value


def check_parameter_groups(
    component: str, value: Any, module: torch.nn.Module, declared: Sequence[str]
) -> dict[str, list[torch.nn.Parameter]]:
    """A model's parameter groups: the declared names (``Component.groups``) exactly,
    each a collection of the module's own parameters, no parameter in two groups."""
    if not isinstance(value, Mapping):
        raise ContractError(
            "model",
            component,
            "parameter_groups() must return a mapping of "
            f"group name to parameters, got {type(value).__name__}",
        )
    if set(value) != set(declared):
        raise ContractError(
            "model",
            component,
            f"parameter_groups() returned the groups "
            f"{sorted(value)}; the component declares {sorted(declared)}",
        )
    own = {id(p) for p in module.parameters()}
    seen: dict[int, str] = {}
    groups: dict[str, list[torch.nn.Parameter]] = {}
    for name, params in value.items():
        groups[name] = []
        for p in params:
            if id(p) not in own:
                raise ContractError(
                    "model",
                    component,
                    f"parameter group {name!r} holds a "
                    "tensor that is not a parameter of the built module",
                )
            if id(p) in seen and seen[id(p)] != name:
                raise ContractError(
                    "model",
                    component,
                    f"a parameter is in both groups {seen[id(p)]!r} and {name!r}",
                )
            if id(p) not in seen:
                groups[name].append(p)
                seen[id(p)] = name
    return groups
