"""The torch device a run computes on, and a clock that waits for it.

``[training] device`` (and a probe's ``device`` parameter) names a device or
``auto``; :func:`resolve_device` turns it into a ``torch.device`` and refuses
CUDA where torch sees none, so a suite asking for a GPU never silently runs on
the CPU. CUDA work is asynchronous, so :func:`timed` waits for the device
before reading the clock.
"""

from __future__ import annotations

import time

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` is cuda when available; asking for cuda without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("training.device = 'cuda' but torch sees no CUDA device")
    return torch.device(name)


def timed(device: torch.device) -> float:
    """``time.perf_counter()`` once the work queued on ``device`` is done."""
    # CUDA work is asynchronous: wait for it so the clock measures the work
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()
