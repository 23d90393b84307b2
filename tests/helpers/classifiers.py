"""Two small classifiers for testing the classify task's core (the built-in
ones are plugins/models/): one decides per segment, one per frame with
streaming ``step``."""

from __future__ import annotations

import torch
from torch import nn

from harness import Component, Param, hookimpl


class MeanLinear(nn.Module):
    """Linear classes of the mean frame: one decision per segment."""

    def __init__(self, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.head = nn.Linear(n_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.mean(1))


class RunningMean(nn.Module):
    """Per-frame classes of the running mean of the frames so far (causal), with ``step``."""

    def __init__(self, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.head = nn.Linear(n_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts = torch.arange(1, x.shape[1] + 1, device=x.device).view(1, -1, 1)
        return self.head(x.cumsum(1) / counts)

    def step(self, frame: torch.Tensor, state: tuple[torch.Tensor, int] | None = None):
        total, count = state if state is not None else (torch.zeros_like(frame), 0)
        total, count = total + frame, count + 1
        return self.head(total / count), (total, count)


class Classifier:
    def __init__(self, per_frame: bool = False) -> None:
        self.per_frame = per_frame

    def build(self, n_features: int, segment_frames: int, n_classes: int) -> nn.Module:
        return (RunningMean if self.per_frame else MeanLinear)(n_features, n_classes)

    def logits(self, module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return module(batch)


@hookimpl
def harness_models() -> list[Component]:
    return [
        Component(
            "toy_classifier",
            Classifier,
            "linear classes of the (running) mean frame",
            [Param("per_frame", bool, False, "decide per frame, with streaming")],
            tasks=("classify",),
        )
    ]
