"""The gru model: its contract on its own, then inside a real (tiny) suite."""

import torch
from harness.plugin.contracts import check_loss

from harness_gru_knn import gru, knn

torch.set_num_threads(1)


def test_build_and_loss_follow_the_model_contract():
    model = gru.GRUModel(hidden_size=6, num_layers=2)
    module = model.build(n_features=5, segment_frames=12)
    batch = torch.rand(3, 12, 5)
    loss = check_loss("gru", model.loss(module, batch))
    assert loss.dim() == 0 and loss.item() > 0
    loss.backward()
    assert all(p.grad is not None for p in module.parameters())


def test_final_state_is_one_row_per_clip():
    module = gru.GRUModel(hidden_size=6).build(n_features=5, segment_frames=12)
    states = module.final_state(torch.rand(4, 30, 5))
    assert set(states) == {"h"}
    assert states["h"].shape == (4, 6)


def test_training_lowers_the_loss_on_a_learnable_signal():
    torch.manual_seed(0)
    model = gru.GRUModel(hidden_size=16)
    module = model.build(n_features=4, segment_frames=20)
    t = torch.arange(20, dtype=torch.float32)
    # each band is a slow sine: the next frame is predictable from the past ones
    batch = torch.stack([torch.sin(t / 3 + k) for k in range(4)], dim=-1).expand(8, 20, 4)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.02)
    first = model.loss(module, batch).item()
    for _ in range(60):
        optimizer.zero_grad()
        model.loss(module, batch).backward()
        optimizer.step()
    assert model.loss(module, batch).item() < 0.2 * first


def test_gru_runs_in_a_tiny_suite_and_the_builtin_extractor_reads_it(harness_suite):
    results = harness_suite(
        models=[{"plugin": "gru", "hidden_size": 8}],
        probes=[{"plugin": "knn", "n_neighbors": 3, "n_permutations": 5}],
        extra_plugins=[gru, knn],
    )
    runs = results.runs
    assert len(runs) == 2  # two conditions x one model x one seed
    assert set(runs["model_plugin"]) == {"gru"}
    assert set(runs["status"]) <= {"reached", "censored"}
    assert (runs["initial_heldout_loss"] > 0).all()
    # lstm_state reads any module with final_state(x); bottleneck needs encode(x)
    spaces = set(results.probes["latent_space"])
    assert {"lstm_state/h", "feature_stats/mean_std"} <= spaces
    assert not any(space.startswith("bottleneck/") for space in spaces)
    run_id = runs["run_id"].iloc[0]
    assert results.latents(run_id)["lstm_state/h"].shape[1] == 8
