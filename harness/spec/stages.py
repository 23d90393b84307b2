"""A condition's pretraining as the design records it: a tuple of stages.

A condition written with its own language, filter and epochs has one stage (a
language heard through a filter plugin with its resolved parameters, for some
epochs or steps, towards an objective); a curriculum (``[[conditions.stages]]``)
has one per table, heard in order. The rule "a condition pretrains" lives here
once (:func:`pretrains`): :class:`harness.spec.suite.Condition` and the design
rebuilt from run records both ask it. :meth:`Stage.attributes` flattens a
stage into the declared attributes two conditions are compared on
(:mod:`harness.stats.between`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from harness.spec.config import SELF_SUPERVISED, TASK_OBJECTIVE


def pretrains(language: str | None, epochs: int, steps: int) -> bool:
    """Whether a condition hears anything before the target: a language and a
    budget of epochs or steps."""
    return bool(language) and (epochs > 0 or steps > 0)


@dataclass(frozen=True)
class Stage:
    """One stretch of pretraining.

    :ivar filter_params: the filter's resolved parameters, defaults included;
        None where the folder did not record them (a manifest written before
        stages existed), so they are unknown rather than empty.
    """

    language: str | None
    filter: str | None
    filter_params: dict[str, Any] | None = None
    epochs: int = 0
    steps: int = 0
    objective: str = TASK_OBJECTIVE
    #: the stage starts a fresh optimiser instead of carrying on the one before
    reset_optimizer: bool = False

    @classmethod
    def from_condition(cls, condition: Mapping[str, Any]) -> Stage:
        """The stage of a condition as ``Condition.to_dict()`` (so a run record's
        ``spec["condition"]``) writes it: ``filter`` is the selection's dict with
        its ``params``."""
        selection = condition.get("filter") or {}
        params = selection.get("params")
        return cls(
            language=condition.get("language"),
            filter=selection.get("plugin"),
            filter_params=dict(params) if params is not None else None,
            epochs=int(condition.get("epochs") or 0),
            steps=int(condition.get("pretrain_steps") or 0),
            objective=str(condition.get("pretrain_objective") or TASK_OBJECTIVE),
            reset_optimizer=bool(condition.get("reset_optimizer")),
        )

    @classmethod
    def of_condition(cls, condition: Mapping[str, Any]) -> tuple[Stage, ...]:
        """Every stage of a condition as ``Condition.to_dict()`` writes it: a
        curriculum's ``stages`` in order, else its own keys' one stage where it
        pretrains; () for a condition that hears nothing first."""
        if condition.get("stages"):
            return tuple(cls.from_condition(s) for s in condition["stages"])
        stage = cls.from_condition(condition)
        return (stage,) if stage.pretrains else ()

    @property
    def pretrains(self) -> bool:
        return pretrains(self.language, self.epochs, self.steps)

    def attributes(self, prefix: str = "") -> dict[str, Any]:
        """``{attribute: value}`` a pair of conditions may differ in: language,
        filter, ``filter.<param>`` for each recorded parameter, epochs, steps,
        objective; ``prefix`` names a later stage of a curriculum."""
        out: dict[str, Any] = {f"{prefix}language": self.language, f"{prefix}filter": self.filter}
        for key, value in sorted((self.filter_params or {}).items()):
            out[f"{prefix}filter.{key}"] = value
        out[f"{prefix}epochs"] = self.epochs
        out[f"{prefix}steps"] = self.steps
        out[f"{prefix}objective"] = self.objective
        out[f"{prefix}reset_optimizer"] = self.reset_optimizer
        return out

    def summary(self) -> str:
        """The stage in one plain line: ``en, lowpass(cutoff_hz=500, order=4), 2 epochs``."""
        params = ", ".join(f"{k}={v}" for k, v in sorted((self.filter_params or {}).items()))
        flt = f"{self.filter}({params})" if params else str(self.filter)
        amount = f"{self.steps} steps" if self.steps else f"{self.epochs} epochs"
        if amount == "1 epochs":
            amount = "1 epoch"
        notes = [amount]
        if self.objective == SELF_SUPERVISED:
            notes.append("self-supervised")
        if self.reset_optimizer:
            notes.append("fresh optimiser")
        return f"{self.language}, {flt}, {', '.join(notes)}"

    def same_exposure(self, other: Stage) -> bool:
        """The same stage, where each side's unknown filter parameters count as equal."""
        known = self.filter_params is not None and other.filter_params is not None
        mine = self if known else replace(self, filter_params=None)
        theirs = other if known else replace(other, filter_params=None)
        return mine == theirs

    def to_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "filter": self.filter,
            "filter_params": self.filter_params,
            "epochs": self.epochs,
            "steps": self.steps,
            "objective": self.objective,
            **({"reset_optimizer": True} if self.reset_optimizer else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stage:
        params = data.get("filter_params")
        return cls(
            language=data.get("language"),
            filter=data.get("filter"),
            filter_params=dict(params) if params is not None else None,
            epochs=int(data.get("epochs") or 0),
            steps=int(data.get("steps") or 0),
            objective=str(data.get("objective") or TASK_OBJECTIVE),
            reset_optimizer=bool(data.get("reset_optimizer")),
        )
