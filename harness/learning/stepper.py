"""One optimiser step, shared by every phase of the training loop.

:func:`make_optimizer` builds the optimiser ``[training]`` names;
:class:`Stepper` takes one step of it on a batch (with its learning-rate
schedule, gradient clipping and frozen parameters), and :class:`Learner` holds
what every phase of one run steps with: the module, the training settings, the
seed its batch streams come from, the model's name and parameter groups.
Losses stay on the device; :func:`first_bad` finds a non-finite one in a
window of them once the phase reads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from harness.data.batches import Segments, generator
from harness.learning.objectives import Objective
from harness.learning.param_groups import Groups, optimizer_params, set_trainable
from harness.learning.schedules import make_schedule
from harness.plugin.contracts import check_loss
from harness.spec.config import TrainingConfig

#: random streams of one run (see :func:`harness.data.batches.generator`)
PRETRAIN_STREAM, TARGET_STREAM = 1, 2


def make_optimizer(
    params: Iterable[nn.Parameter] | Iterable[dict[str, Any]], config: TrainingConfig
) -> torch.optim.Optimizer:
    """The optimiser of ``[training]`` (plain SGD has no momentum); ``params`` may be
    torch parameter groups with their own ``lr`` (:func:`harness.learning.param_groups.optimizer_params`)."""
    kinds = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    return kinds[config.optimizer](params, lr=config.lr, weight_decay=config.weight_decay)


def first_bad(window: torch.Tensor) -> int:
    """Index of the first non-finite loss in ``window``, or -1."""
    bad = (~torch.isfinite(window)).nonzero()
    return int(bad[0, 0]) if bad.numel() else -1


class Stepper:
    """One optimiser step; shared by pretraining and target training.

    ``steps`` is the phase's length, which its learning-rate schedule spans
    (:mod:`harness.learning.schedules`). ``frozen`` parameters get no gradient until
    ``unfreeze_at`` steps are done (None: throughout). With clipping and
    ``record_norms``, the gradient norms before clipping are kept for
    :meth:`gradient_norms`.
    """

    def __init__(
        self,
        objective: Objective,
        module: nn.Module,
        config: TrainingConfig,
        steps: int,
        name: str,
        groups: Groups | None = None,
        frozen: list[nn.Parameter] | None = None,
        unfreeze_at: int | None = None,
        record_norms: bool = False,
    ) -> None:
        self.objective = objective
        self.module = module
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(optimizer_params(module, groups, config), config)
        self.schedule = make_schedule(self.optimizer, config, steps)
        self.clip = config.grad_clip
        self.bf16 = config.precision == "bf16"
        self.name = name
        self.checked = False
        self.frozen = frozen or []
        self.unfreeze_at = unfreeze_at if self.frozen else None
        self.done = 0
        #: gradient norms before clipping since :meth:`gradient_norms` last read them;
        #: None: not recorded (pretraining)
        self.norms: list[torch.Tensor] | None = [] if record_norms else None
        set_trainable(self.frozen, False)

    def retarget(self, objective: Objective) -> None:
        """Go on stepping the same optimiser and schedule towards ``objective``
        (a curriculum's next stage), its first loss checked again."""
        self.objective = objective
        self.checked = False

    def gradient_norms(self) -> dict[str, float | None]:
        """Mean and largest gradient norm (before clipping) of the steps since the
        last call (None before any); empty without clipping (the norm is a
        by-product of clipping)."""
        if self.clip is None or self.norms is None:
            return {}
        if not self.norms:
            return {"grad_norm": None, "grad_norm_max": None}
        norms = torch.stack(self.norms)
        self.norms = []
        return {"grad_norm": float(norms.mean()), "grad_norm_max": float(norms.max())}

    def __call__(self, batch: Segments) -> torch.Tensor:
        if self.done == self.unfreeze_at:
            set_trainable(self.frozen, True)
        self.done += 1
        with torch.autocast(batch.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            loss = self.objective.loss(self.module, batch)
        if not self.checked:
            check_loss(self.name, loss)
            self.checked = True
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip is not None:
            norm = nn.utils.clip_grad_norm_(self.params, self.clip)
            if self.norms is not None:
                self.norms.append(norm)
        self.optimizer.step()
        if self.schedule is not None:
            self.schedule.step()
        return loss.detach()


@dataclass(frozen=True)
class Learner:
    """What every phase of one run steps with: the built module, ``[training]``,
    the run seed (each phase draws its batches from its own stream of it), the
    model component's name (for contract errors) and its parameter groups."""

    module: nn.Module
    training: TrainingConfig
    seed: int
    name: str
    groups: Groups | None = None

    def rng(self, stream: int) -> torch.Generator:
        """The phase's batch generator (:func:`harness.data.batches.generator`)."""
        return generator(self.seed, stream)

    def stepper(
        self,
        objective: Objective,
        steps: int,
        frozen: list[nn.Parameter] | None = None,
        record_norms: bool = False,
    ) -> Stepper:
        """A :class:`Stepper` of ``objective`` whose schedule spans ``steps``;
        ``frozen`` parameters sit out ``[training] freeze_steps``."""
        return Stepper(
            objective,
            self.module,
            self.training,
            steps,
            self.name,
            self.groups,
            frozen,
            self.training.freeze_steps,
            record_norms,
        )
