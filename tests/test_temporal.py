"""The temporal-integration measure: the input_gradient extractor's profiles and
the temporal_integration probe's window, checked on models whose window is
known (a W-frame convolution; an exponential memory), the refusals of models
without per-frame outputs, and a run of the built-in GRU classifier."""

from __future__ import annotations

import contextlib
import io
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from harness.testing import run_tiny_suite
from harness_plugins.extractors_temporal_gradient import InputGradient, TemporalIntegrationError
from harness_plugins.models.conv_autoencoder_model import ConvAutoencoder
from harness_plugins.models.mel_cnn_model import MelCNN
from harness_plugins.models.rnn_classifier_model import RNNClassifier
from harness_plugins.probes.temporal_probe import TemporalIntegrationProbe, window

torch.set_num_threads(1)

N_FEATURES = 6
DOCS = Path(__file__).parent.parent / "docs" / "probes.md"


class FixedWindow(nn.Module):
    """Output frame t reads input frames t - W + 1 .. t (causal) or the W frames
    centred on t: a window of exactly W frames by construction."""

    def __init__(self, width: int, causal: bool = True, uniform: bool = True) -> None:
        super().__init__()
        self.width, self.causal = width, causal
        self.conv = nn.Conv1d(N_FEATURES, 3, width, bias=False)
        with torch.no_grad():
            if uniform:
                self.conv.weight.fill_(0.1)
            else:
                self.conv.weight.uniform_(0.05, 1.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        left = self.width - 1 if self.causal else (self.width - 1) // 2
        padded = nn.functional.pad(x.transpose(1, 2), (left, self.width - 1 - left))
        return self.conv(padded).transpose(1, 2), None


class Decay(nn.Module):
    """y_t = sum_k a^k x_{t-k}: the share of gradient mass within n frames is
    1 - a^n, so the window holding q of it is ceil(log(1 - q) / log a)."""

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = a
        self.read = nn.Linear(N_FEATURES, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state = torch.zeros_like(x[:, 0])
        out = []
        for t in range(x.shape[1]):
            state = self.a * state + x[:, t]
            out.append(self.read(state))
        return torch.stack(out, 1)


class Pooled(nn.Module):
    """A clip-level classifier: the mean over frames, then logits (batch, classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(N_FEATURES, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.mean(1))


def clips(n: int = 6, frames: int = 160, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((frames, N_FEATURES)).astype(np.float32) for _ in range(n)]


def measure(module: nn.Module, mass: float = 0.9, max_lag: int = 40, **kw: int) -> dict:
    profile = InputGradient(max_lag=max_lag, **kw).extract(module, clips(), "cpu")["profile"]
    speakers = np.array(["a", "a", "b", "b", "c", "c"])
    result = TemporalIntegrationProbe(mass=mass).run(profile, speakers, speakers, "en", 0)
    return {"profile": profile, **result.metrics, **result.details}


@pytest.mark.parametrize("width", [1, 5, 20])
@pytest.mark.parametrize("causal", [True, False])
def test_a_fixed_window_of_w_frames_measures_w_frames(width: int, causal: bool) -> None:
    torch.manual_seed(0)
    whole = measure(FixedWindow(width, causal), mass=1.0)
    assert whole["integration_frames"] == width
    # equal weights: 90% of the mass is in ceil(0.9 W) of the W frames
    assert measure(FixedWindow(width, causal), mass=0.9)["integration_frames"] == math.ceil(
        0.9 * width
    )
    assert whole["capped_share"] == 0.0
    centre = whole["speaker_centre_lag_frames"][0]
    left = width - 1 if causal else (width - 1) // 2
    assert centre == pytest.approx((width - 1) / 2 - left, abs=1e-4)


def test_a_window_of_unequal_weights_is_never_wider_than_w() -> None:
    torch.manual_seed(1)
    module = FixedWindow(12, causal=True, uniform=False)
    assert measure(module, mass=1.0)["integration_frames"] == 12
    assert 6 <= measure(module, mass=0.9)["integration_frames"] <= 12


@pytest.mark.parametrize("a", [0.5, 0.8, 0.9])
def test_an_exponential_memory_measures_its_analytic_window(a: float) -> None:
    torch.manual_seed(0)
    expected = math.ceil(math.log(1 - 0.9) / math.log(a))
    found = measure(Decay(a), mass=0.9, max_lag=60)["integration_frames"]
    # the mass before the clip's first frame is missing (a^t at t >= 60): within a frame
    assert abs(found - expected) <= 1


def test_a_window_longer_than_max_lag_is_a_lower_bound_and_counted() -> None:
    torch.manual_seed(0)
    found = measure(FixedWindow(30), mass=0.9, max_lag=10)
    assert found["integration_frames"] == 21  # every measured lag
    assert found["capped_share"] == 1.0


def test_profiles_sum_to_one_and_repeat_exactly() -> None:
    torch.manual_seed(0)
    module = RNNClassifier(N_FEATURES, 3, "gru", 16, 1, 0.0, False)
    first = InputGradient(max_lag=30).extract(module, clips(), "cpu")["profile"]
    again = InputGradient(max_lag=30).extract(module, clips(), "cpu")["profile"]
    assert first.shape == (6, 62)
    assert np.allclose(first.sum(1), 1.0, atol=1e-4)
    assert np.array_equal(first, again)
    # a causal recurrent layer: no mass on future frames (lags > 0)
    assert first[:, 31:-1].max() < 1e-6


def test_the_window_is_a_mean_over_speakers_not_over_clips() -> None:
    row = np.zeros(12)
    wide, narrow = row.copy(), row.copy()
    wide[:10] = 0.1
    narrow[5] = 1.0
    profile = np.stack([wide, narrow, narrow, narrow])
    speakers = np.array(["s1", "s2", "s2", "s2"])
    result = TemporalIntegrationProbe(mass=1.0).run(profile, speakers, speakers, "en", 0)
    assert result.details["speaker_integration_frames"] == [10.0, 1.0]
    assert result.metrics["integration_frames"] == 5.5


def test_window_finds_the_shortest_interval_wherever_it_lies() -> None:
    row = np.array([0.05, 0.0, 0.4, 0.5, 0.0, 0.05, 0.0])
    assert window(row, 0.9) == (2, False)
    assert window(row, 1.0) == (6, False)
    assert window(np.array([0.2, 0.2, 0.2, 0.4]), 0.9) == (3, True)


def test_a_space_that_is_not_a_profile_is_skipped_with_the_reason() -> None:
    states = np.random.default_rng(0).standard_normal((6, 16)).astype(np.float32)
    groups = np.array(list("aabbcc"))
    result = TemporalIntegrationProbe().run(states, groups, groups, "en", 0)
    assert not result.metrics
    assert "input_gradient" in result.skipped


def test_a_model_that_pools_the_clip_is_refused_with_what_it_returned() -> None:
    with pytest.raises(TemporalIntegrationError, match=r"Pooled\(x\) gave \(1, 3\).*pools"):
        InputGradient(max_lag=10).extract(Pooled(), clips(), "cpu")


def test_a_model_of_fixed_segments_is_refused() -> None:
    module = ConvAutoencoder(N_FEATURES, 160, [4, 8], 8)
    with pytest.raises(TemporalIntegrationError, match="fixed-length segments"):
        InputGradient(max_lag=10).extract(module, clips(frames=160), "cpu")


def test_clips_shorter_than_the_lag_range_name_the_parameter() -> None:
    with pytest.raises(TemporalIntegrationError, match=r"2 \* max_lag \+ 1 = 101.*max_lag"):
        InputGradient(max_lag=50).extract(FixedWindow(3), clips(frames=80), "cpu")


def test_waveform_input_is_refused() -> None:
    waves = [np.zeros(16000, np.float32)]
    with pytest.raises(TemporalIntegrationError, match="waveform"):
        InputGradient().extract(FixedWindow(3), waves, "cpu")


@pytest.mark.slow
def test_a_run_of_the_gru_classifier_records_the_window(tmp_path) -> None:
    results = run_tiny_suite(
        tmp_path,
        models=[{"plugin": "rnn_classifier", "hidden_size": 16}],
        extractors=[{"plugin": "input_gradient", "max_lag": 20}, {"plugin": "feature_stats"}],
        probes=[{"plugin": "temporal_integration"}],
        dataset={"plugin": "espeak", "clips_per_speaker": 4, "clip_seconds": 1.5,
                 "prosody": ["sad", "angry"]},
        target={"task": "classify", "label": "emotion", "threshold": 0.9, "max_steps": 4},
        conditions=[{"name": "none"}],
    )  # fmt: skip
    rows = results.probes
    measured = rows[rows["metric"] == "integration_frames"]
    assert set(measured["latent_space"]) == {"input_gradient/profile"}
    assert ((measured["value"] >= 1) & (measured["value"] <= 41)).all()
    skipped = [r for rec in results.records.values() for r in rec["probes_skipped"]]
    assert {s["latent_space"] for s in skipped} == {"feature_stats/mean_std"}


def test_the_docs_snippet_prints_what_the_docs_say() -> None:
    section = DOCS.read_text().split("## Temporal integration", 1)[1].split("\n## ", 1)[0]
    code, expected = re.search(
        r"```python\n(.*?)```\n\nprints\n\n```text\n(.*?)```", section, re.S
    ).groups()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOCS), "exec"), {"__name__": "snippet"})
    assert out.getvalue() == expected


def test_the_built_in_clip_classifier_is_refused() -> None:
    module = MelCNN(N_FEATURES, 40, 3, [4], 3, 0.0, "max", 8)
    with pytest.raises(TemporalIntegrationError, match=r"MelCNN cannot read .*fixed-length"):
        InputGradient(max_lag=10).extract(module, clips(frames=160), "cpu")


def test_a_suite_that_leaves_out_extractors_and_probes_does_not_get_the_measure(tmp_path) -> None:
    from harness.spec.suite import load_suite
    from harness.testing import tiny_registry, write_tiny_suite

    path = write_tiny_suite(tmp_path)
    text = path.read_text(encoding="utf-8")
    # the tiny suite names its probe; leave both arrays out, so every installed one is implied
    path.write_text(text.split("[[probes]]")[0], encoding="utf-8")
    suite = load_suite(path, tiny_registry())
    assert suite.extractors and "input_gradient" not in {e.plugin for e in suite.extractors}
    assert suite.probes and "temporal_integration" not in {p.plugin for p in suite.probes}
