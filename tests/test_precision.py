"""Where and in what number format training runs: CPU by default (the same
suite and seed give the same numbers), `auto` for CUDA when present, and
bf16 autocast on request (`[training] precision`)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.learning.training import Pretraining, train
from harness.spec.config import TargetConfig, TrainingConfig
from harness.spec.suite import SuiteError, load_suite
from harness.testing import tiny_registry, write_tiny_suite
from harness_plugins.models.lstm_model import LSTMModel

from helpers.sines import FEATURES, FRAMES, data

torch.set_num_threads(1)


def _train(precision: str, model=None, seed: int = 0):
    training = TrainingConfig(lr=1e-2, batch_size=8, segment_frames=FRAMES, precision=precision)
    target = TargetConfig(language="en", threshold=0.0, threshold_mode="absolute", max_steps=12,
                          eval_every=4)  # fmt: skip
    return train(model or LSTMModel(hidden_size=8), FEATURES, data(), target=target,
                 training=training, pretraining=Pretraining.single(epochs=0), seed=seed, name="test")  # fmt: skip


def _losses(result) -> list[float]:
    _, outcome = result
    return list(outcome.curve.heldout_loss) + list(outcome.curve.train_loss)


def test_the_default_device_is_the_cpu_and_the_default_format_fp32():
    assert TrainingConfig().device == "cpu"
    assert TrainingConfig().precision == "fp32"


def test_bf16_trains_in_bfloat16_deterministically_and_differs_from_fp32():
    seen: list[torch.dtype] = []

    class Spy(LSTMModel):
        def build(self, n_features, segment_frames):
            module = super().build(n_features, segment_frames)
            for layer in module.modules():
                if isinstance(layer, nn.Linear):
                    layer.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
            return module

    bf16 = _losses(_train("bf16", Spy(hidden_size=8)))
    assert torch.bfloat16 in seen, "the training steps' linear layers ran in bfloat16"
    assert all(x == x for x in bf16), "bf16 losses are finite numbers"
    assert _losses(_train("bf16")) == _losses(_train("bf16")), "bf16 on the CPU is deterministic"
    fp32 = _losses(_train("fp32"))
    assert fp32 != bf16
    # held-out evaluation stays in float32: the untrained model's held-out loss is the same
    assert fp32[0] == bf16[0]
    assert bf16[-1] == pytest.approx(fp32[-1], rel=0.2)


def test_an_unknown_precision_is_a_located_error(tmp_path):
    path = write_tiny_suite(tmp_path, training={"precision": "fp16"})
    with pytest.raises(SuiteError) as info:
        load_suite(path, tiny_registry())
    ((where, message),) = info.value.problems
    assert where == "training.precision"
    assert "'fp32'" in message and "'bf16'" in message
