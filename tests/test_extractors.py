"""Latent extractors: which modules they read, shapes, values, clip order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from harness.plugin.contracts import check_latents
from harness.plugin.registry import build_plugin_manager, collect, load_registry
from harness_plugins import extractors
from harness_plugins.models.conv_autoencoder_model import ConvAutoencoderModel
from harness_plugins.models.lstm_model import LSTMModel

torch.set_num_threads(1)

N_FEATURES = 5


def make(name: str):
    registry = collect(build_plugin_manager([extractors], autoload=False, builtins=False))
    return registry.get("latent_extractor", name).create()


def clips(lengths: list[int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((n, N_FEATURES), dtype=np.float32) for n in lengths]


@pytest.fixture
def lstm_module() -> nn.Module:
    torch.manual_seed(0)
    return LSTMModel(hidden_size=6, num_layers=2).build(N_FEATURES, 8)


@pytest.fixture
def ae_module() -> nn.Module:
    torch.manual_seed(0)
    return ConvAutoencoderModel(channels=[4], bottleneck=3).build(N_FEATURES, 8)


def test_builtin_extractors_register_through_entry_points():
    names = set(load_registry(autoload=False).names("latent_extractor"))
    assert {"lstm_state", "bottleneck", "feature_stats"} <= names


def test_extractors_recognise_modules_by_protocol(lstm_module, ae_module):
    state, code, stats = make("lstm_state"), make("bottleneck"), make("feature_stats")
    assert state.supports(lstm_module) and not state.supports(ae_module)
    assert code.supports(ae_module) and not code.supports(lstm_module)
    assert not state.supports(None) and not code.supports(None)
    assert stats.needs_model is False and stats.supports(None)


def test_a_third_party_recurrent_model_gets_lstm_state():
    class GRUModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(N_FEATURES, 4, batch_first=True)

        def final_state(self, x):
            return {"h": self.gru(x)[1][-1]}

    state = make("lstm_state")
    module = GRUModel()
    assert state.supports(module)
    spaces = state.extract(module, clips([9, 9, 4]), "cpu")
    assert set(spaces) == {"h"} and spaces["h"].shape == (3, 4)


def test_lstm_state_rows_follow_clip_order_whatever_the_lengths(lstm_module):
    features = clips([12, 7, 12, 3, 7])
    spaces = make("lstm_state").extract(lstm_module, features, "cpu")
    # a two-layer module: every layer is a latent space
    assert set(spaces) == {"layer1.h", "layer1.c", "h", "c"}
    for name, value in spaces.items():
        check_latents("lstm_state", name, value, len(features))
        assert value.shape == (5, 6)
    # batched extraction equals reading each clip alone
    with torch.no_grad():
        for i, clip in enumerate(features):
            alone = lstm_module.final_state(torch.from_numpy(clip)[None])
            np.testing.assert_allclose(spaces["h"][i], alone["h"][0].numpy(), atol=1e-6)
            np.testing.assert_allclose(spaces["c"][i], alone["c"][0].numpy(), atol=1e-6)
    assert not np.allclose(spaces["h"][0], spaces["h"][2])


def test_extraction_restores_the_module_mode(lstm_module):
    lstm_module.train()
    make("lstm_state").extract(lstm_module, clips([8]), "cpu")
    assert lstm_module.training


def test_bottleneck_averages_segment_codes_and_pads_short_clips(ae_module):
    features = clips([17, 5, 8])
    spaces = make("bottleneck").extract(ae_module, features, "cpu")
    assert set(spaces) == {"code"}
    check_latents("bottleneck", "code", spaces["code"], 3)
    with torch.no_grad():
        long = torch.from_numpy(features[0][:16].reshape(2, 8, N_FEATURES))
        expected = ae_module.encode(long).mean(0).numpy()
        np.testing.assert_allclose(spaces["code"][0], expected, atol=1e-6)
        # the 5-frame clip is extended by repeating its last frame
        short = np.concatenate([features[1], np.repeat(features[1][-1:], 3, axis=0)])
        alone = ae_module.encode(torch.from_numpy(short)[None])[0].numpy()
        np.testing.assert_allclose(spaces["code"][1], alone, atol=1e-6)


def test_feature_stats_are_mean_and_std_per_band():
    features = clips([10, 4])
    spaces = make("feature_stats").extract(None, features, "cpu")
    value = check_latents("feature_stats", "mean_std", spaces["mean_std"], 2)
    assert value.shape == (2, 2 * N_FEATURES)
    np.testing.assert_allclose(value[1, :N_FEATURES], features[1].mean(0), rtol=1e-6)
    np.testing.assert_allclose(value[1, N_FEATURES:], features[1].std(0), rtol=1e-6)


def test_model_extractors_refuse_a_missing_module():
    with pytest.raises(ValueError, match="module"):
        make("lstm_state").extract(None, clips([8]), "cpu")
