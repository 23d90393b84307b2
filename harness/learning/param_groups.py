"""A model's parameter groups in training: their own learning rates, and freezing.

A model component declares group names (``Component.groups``, such as
``("backbone", "head")``) and its object returns the parameters of each
(:class:`harness.plugin.contracts.GroupedModel`). ``[training] lr_groups`` gives a
group its own rate (the schedule multiplies every group's rate alike) and
``freeze`` leaves groups untrained in target training, for ``freeze_steps``
steps or throughout. Parameters in no group train at ``lr`` and are never
frozen. ``harness validate`` refuses a group name the model does not declare;
:func:`model_groups` checks the model's answer against the declaration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from harness.plugin.contracts import ContractError, check_parameter_groups
from harness.spec.config import TrainingConfig

Groups = dict[str, list[nn.Parameter]]


def model_groups(
    model: Any,
    module: nn.Module,
    training: TrainingConfig,
    name: str,
    declared: Sequence[str] | None = None,
) -> Groups | None:
    """The parameters of each group of ``module`` when ``[training]`` names any
    group (``lr_groups``, ``freeze``); None when it names none.

    ``declared`` is the component's ``groups``; None (a model used outside a
    registry) checks the names the suite uses only.

    :raises ContractError: the model has no ``parameter_groups``, returns
        other groups than it declares, or lacks a group the suite names.
    """
    if not training.groups:
        return None
    method = getattr(model, "parameter_groups", None)
    if not callable(method):
        raise ContractError(
            "model",
            name,
            f"[training] names the parameter groups {list(training.groups)}, but the model "
            "has no parameter_groups(module) method; it declares no groups",
        )
    value = method(module)
    names = list(value) if declared is None and isinstance(value, Mapping) else declared or ()
    groups = check_parameter_groups(name, value, module, names)
    missing = [g for g in training.groups if g not in groups]
    if missing:
        raise ContractError(
            "model",
            name,
            f"has no parameter group {missing[0]!r} ([training] lr_groups / freeze); "
            f"its groups: {', '.join(groups) or 'none'}",
        )
    return groups


def optimizer_params(
    module: nn.Module, groups: Groups | None, training: TrainingConfig
) -> list[nn.Parameter] | list[dict[str, Any]]:
    """What the optimiser receives: the trainable parameters, or with ``lr_groups``
    one torch parameter group per model group (its rate, or ``lr``) and one for
    the parameters in no group, each holding its trainable parameters."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    if groups is None or not training.lr_groups:
        return trainable
    wanted = {id(p) for p in trainable}
    out: list[dict[str, Any]] = []
    grouped: set[int] = set()
    for name, params in groups.items():
        chosen = [p for p in params if id(p) in wanted]
        grouped.update(id(p) for p in chosen)
        if chosen:
            out.append({"params": chosen, "lr": training.lr_groups.get(name, training.lr)})
    rest = [p for p in trainable if id(p) not in grouped]
    if rest:
        out.append({"params": rest, "lr": training.lr})
    return out


def frozen_params(
    module: nn.Module, groups: Groups | None, training: TrainingConfig, name: str
) -> list[nn.Parameter]:
    """The trainable parameters of the ``freeze`` groups.

    :raises ValueError: when freezing would leave nothing to train.
    """
    if groups is None or not training.freeze:
        return []
    frozen = {id(p): p for g in training.freeze for p in groups[g] if p.requires_grad}
    if not any(p.requires_grad and id(p) not in frozen for p in module.parameters()):
        raise ValueError(
            f"[training] freeze = {training.freeze} leaves no parameter of model {name!r} "
            f"to train; its groups: {', '.join(groups)}"
        )
    return list(frozen.values())


def set_trainable(params: Sequence[nn.Parameter], trainable: bool) -> None:
    """Turn gradients of ``params`` on or off (a frozen parameter gets no gradient,
    so the optimiser and gradient clipping pass it over)."""
    for p in params:
        p.requires_grad_(trainable)
