"""The built-in model plugins: shapes, streaming, odd sizes, and that they learn."""

from __future__ import annotations

import pytest
import torch

from harness.plugin.components import resolve_params
from harness.plugin.registry import build_plugin_manager, collect, load_registry
from harness_plugins.models import conv_autoencoder, lstm

torch.set_num_threads(1)


def only(*modules: object):
    """A registry holding just these plugin modules (hermetic, no entry points)."""
    return collect(build_plugin_manager(modules, autoload=False, builtins=False))


def create(name: str, **given):
    component = only(lstm, conv_autoencoder).get("model", name)
    params, problems = resolve_params(component.params, given, name)
    assert not problems
    return component.create(**params)


def fit(model, module, batch, steps=60, lr=1e-2) -> tuple[float, float]:
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    with torch.no_grad():
        first = float(model.loss(module, batch))
    for _ in range(steps):
        loss = model.loss(module, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return first, float(model.loss(module, batch))


def test_builtin_models_register_through_entry_points():
    registry = load_registry(autoload=False)
    assert {"lstm", "conv_autoencoder"} <= set(registry.names("model"))
    assert registry.get("model", "lstm").param("hidden_size").default == 128


def test_lstm_streaming_equals_full_sequence():
    torch.manual_seed(0)
    model = create("lstm", hidden_size=16, num_layers=2)
    module = model.build(n_features=5, segment_frames=12).eval()
    x = torch.randn(3, 12, 5)
    with torch.no_grad():
        full, (h_full, c_full) = module(x)
        state = None
        steps = []
        for t in range(x.shape[1]):
            out, state = module.step(x[:, t], state)
            steps.append(out)
    torch.testing.assert_close(torch.stack(steps, dim=1), full)
    torch.testing.assert_close(state[0], h_full)
    torch.testing.assert_close(state[1], c_full)


def test_lstm_final_state_gives_every_layer():
    torch.manual_seed(0)
    module = create("lstm", hidden_size=7, num_layers=2).build(4, 10).eval()
    x = torch.randn(2, 10, 4)
    with torch.no_grad():
        _, (h, c) = module(x)
        state = module.final_state(x)
    # the last layer keeps the plain names; each layer below it is a space too
    assert set(state) == {"layer1.h", "layer1.c", "h", "c"}
    assert state["h"].shape == (2, 7)
    torch.testing.assert_close(state["h"], h[-1])
    torch.testing.assert_close(state["c"], c[-1])
    torch.testing.assert_close(state["layer1.h"], h[0])
    torch.testing.assert_close(state["layer1.c"], c[0])
    one_layer = create("lstm", hidden_size=7).build(4, 10).eval()
    with torch.no_grad():
        assert set(one_layer.final_state(x)) == {"h", "c"}


def test_lstm_learns_a_predictable_sequence():
    torch.manual_seed(0)
    model = create("lstm", hidden_size=16)
    module = model.build(3, 20)
    t = torch.arange(20, dtype=torch.float32)
    # each band is a sinusoid: the next frame follows from the past ones
    batch = torch.stack([torch.sin(0.5 * t + k) for k in range(3)], dim=-1).unsqueeze(0)
    batch = batch.repeat(4, 1, 1)
    first, last = fit(model, module, batch)
    assert model.loss(module, batch).dim() == 0
    assert last < 0.2 * first


@pytest.mark.parametrize(
    ("frames", "features", "channels"), [(37, 13, [4, 8]), (16, 8, [4]), (5, 3, [2, 4, 4])]
)
def test_autoencoder_handles_sizes_not_divisible_by_strides(frames, features, channels):
    torch.manual_seed(0)
    model = create("conv_autoencoder", channels=channels, bottleneck=6)
    module = model.build(features, frames)
    x = torch.rand(2, frames, features)
    assert module(x).shape == x.shape
    assert module.encode(x).shape == (2, 6)
    assert module.segment_frames == frames
    loss = model.loss(module, x)
    loss.backward()
    assert loss.dim() == 0
    assert all(p.grad is not None for p in module.parameters())


def test_autoencoder_rejects_other_segment_sizes():
    module = create("conv_autoencoder", channels=[4]).build(8, 10)
    with pytest.raises(ValueError, match=r"\(10, 8\)"):
        module.encode(torch.rand(1, 11, 8))


def test_autoencoder_rejects_empty_channels():
    with pytest.raises(ValueError, match="channels"):
        create("conv_autoencoder", channels=[])


def test_autoencoder_learns_to_reconstruct():
    torch.manual_seed(0)
    model = create("conv_autoencoder", channels=[8, 8], bottleneck=8)
    module = model.build(10, 12)
    batch = torch.rand(8, 12, 10)
    first, last = fit(model, module, batch, steps=80)
    assert last < 0.5 * first


def test_model_params_are_validated():
    component = only(lstm).get("model", "lstm")
    _, problems = resolve_params(component.params, {"hidden_size": 0, "layers": 2}, "models[0]")
    assert {where for where, _ in problems} == {"models[0].hidden_size", "models[0].layers"}
