"""The abx probe in a run: frame-level latents with their times, phone tiers
from a test-only dataset that declares alignments, the record's rows and
per-speaker details, and the suite checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.plugin.alignments import PhoneInterval
from harness.plugin.contracts import ContractError
from harness.plugin.probe_contracts import FrameClock, FrameInput, FrameLatents, check_frames
from harness.plugin.registry import build_plugin_manager, collect
from harness.run.execute import execute
from harness.spec.expand import expand
from harness.spec.suite import SuiteError, load_suite
from harness_plugins import extractors
from harness_plugins.extractor_classes import FeatureStats, LSTMState
from harness_plugins.models import lstm
from harness_plugins.models.lstm_model import NextFrameLSTM
from harness_plugins.probes import abx
from harness_plugins.probes.abx_probe import ABXProbe

torch.set_num_threads(1)

from helpers.abx_suite import SUITE, Plugins, registry  # noqa: E402


def suite(tmp_path: Path, silence: str = "keep"):
    path = tmp_path / "abx.toml"
    path.write_text(SUITE.format(silence=silence))
    return load_suite(path, registry(), output=tmp_path / "out")


def test_a_run_measures_abx_on_the_frames_of_each_space_that_has_them(tmp_path):
    spec = expand(suite(tmp_path), registry())[0]
    (tmp_path / "run").mkdir()
    record = execute(spec, tmp_path / "run", registry())
    rows = {(r["latent_space"], r["metric"]): r for r in record["probes"]}
    raw = rows[("feature_stats/mean_std", "abx_within")]
    assert raw["higher_is_better"] is False and raw["chance"] == "abx_chance"
    # tones of three frequencies are told apart by their mel frames
    assert raw["value"] < 15
    assert rows[("feature_stats/mean_std", "abx_across")]["value"] < 15
    assert rows[("feature_stats/mean_std", "abx_chance")]["value"] == 50
    assert ("lstm_state/h", "abx_within") in rows
    # the cell state has no frames: skipped, not a fault
    skipped = {s["latent_space"]: s["reason"] for s in record["probes_skipped"]}
    assert "no frames" in skipped["lstm_state/c"]
    assert record["probe_errors"] == []
    details = {(d["latent_space"], d["name"]): d["values"] for d in record["probe_details"]}
    for space in ("feature_stats/mean_std", "lstm_state/h"):
        for mode in ("within", "across"):
            parts = details[(space, f"abx_{mode}/speakers")]
            assert len(parts) == 4  # two probe speakers of each of two languages, sorted
            assert sum(parts) == pytest.approx(rows[(space, f"abx_{mode}")]["value"])
    assert rows[("lstm_state/h", "abx_across")]["value"] > 0


def test_same_seed_gives_the_same_abx(tmp_path):
    spec = expand(suite(tmp_path), registry())[0]
    values = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        record = execute(spec, tmp_path / name, registry())
        values.append([r["value"] for r in record["probes"]])
    assert values[0] == values[1]


def test_removing_silent_frames_is_refused_where_abx_runs(tmp_path):
    with pytest.raises(SuiteError) as caught:
        suite(tmp_path, silence="remove")
    assert "probes[0]" in str(caught.value)
    assert "silence = 'remove' drops frames" in str(caught.value)


def test_unknown_modes_are_a_located_error(tmp_path):
    path = tmp_path / "abx.toml"
    path.write_text(SUITE.format(silence="keep") + 'modes = ["within", "sideways"]\n')
    with pytest.raises(SuiteError, match=r"probes\[0\]\.modes"):
        load_suite(path, registry(), output=tmp_path / "out")


def test_feature_frames_are_timed_by_the_hop_and_refused_when_frames_were_dropped():
    clock = FrameClock(16000, 160)
    assert clock.feature_times(3).tolist() == [0.0, 0.01, 0.02]
    # wav2vec2's encoder: 320-sample stride, 400-sample window: centres at 12.5 ms + 20 ms k
    assert clock.strided_times(2, 320, 400).tolist() == pytest.approx([0.0125, 0.0325])
    with pytest.raises(ValueError, match="silence = 'remove'"):
        FrameClock(16000, 160, exact=False).feature_times(3)


def test_extractors_give_one_frame_per_feature_frame():
    clock = FrameClock(8000, 80)
    features = [np.random.default_rng(i).normal(size=(n, 6)).astype(np.float32)
                for i, n in enumerate((7, 7, 11))]  # fmt: skip
    raw = FeatureStats().frames(None, features, "cpu", clock)["mean_std"]
    assert [f.shape for f in raw.frames] == [(7, 6), (7, 6), (11, 6)]
    module = NextFrameLSTM(6, 5, num_layers=2, dropout=0.0)
    framed = LSTMState().frames(module, features, "cpu", clock)
    assert set(framed) == {"h"}
    h = framed["h"]
    assert [f.shape for f in h.frames] == [(7, 5), (7, 5), (11, 5)]
    assert h.times[2][-1] == pytest.approx(10 * 80 / 8000)
    # the last frame's state is the final state the pooled space holds
    pooled = LSTMState().extract(module, features, "cpu")["h"]
    np.testing.assert_allclose(h.frames[2][-1], pooled[2], atol=1e-6)


def test_frame_latents_that_break_the_contract_are_refused():
    good = np.zeros((3, 2))
    with pytest.raises(ContractError, match="one array of frames and of times per clip"):
        check_frames("x", "h", FrameLatents((good,), (np.arange(3.0),)), 2)
    with pytest.raises(ContractError, match="times not increasing"):
        check_frames("x", "h", FrameLatents((good,), (np.zeros(3),)), 1)


def test_languages_outside_the_probe_languages_are_a_located_error(tmp_path):
    path = tmp_path / "abx.toml"
    path.write_text(SUITE.format(silence="keep") + 'languages = ["zz"]\n')
    with pytest.raises(SuiteError, match=r"probes\[0\]\.languages: must name probe languages"):
        load_suite(path, registry(), output=tmp_path / "out")


def test_a_probe_of_one_language_reports_its_speakers_only():
    rng = np.random.default_rng(0)
    tiers, frames, times = [], [], []
    for _ in range(8):
        phones = rng.choice(list("iau"), size=12)
        tier = tuple(PhoneInterval(k * 0.05, (k + 1) * 0.05, str(p)) for k, p in enumerate(phones))
        tiers.append(tier)
        times.append(np.arange(0.0, 0.6, 0.01))
        frames.append(rng.normal(size=(60, 4)).astype(np.float32))
    given = FrameInput(
        FrameLatents(tuple(frames), tuple(times)),
        tuple(tiers),
        np.array(["a1", "a1", "a2", "a2", "b1", "b1", "b2", "b2"]),
        np.array(["aa"] * 4 + ["bb"] * 4),
        0,
    )
    both = ABXProbe().run_frames(given)
    only = ABXProbe(languages=["bb"]).run_frames(given)
    assert len(both.details["abx_within/speakers"]) == 4
    # the statistics need a part for every probe speaker of the run: none is given
    assert "abx_within/speakers" not in only.details and "abx_within/cells" in only.details
    assert only.metrics["abx_within"] != both.metrics["abx_within"]
    # one speaker: no across-speaker cell, so no abx_across, and no NaN
    alone = ABXProbe(languages=["bb"]).run_frames(
        FrameInput(given.latents, given.phones, np.array(["x"] * 8), given.languages, 0)
    )
    assert "abx_across" not in alone.metrics and "abx_within" in alone.metrics


def test_the_documented_abx_selection_builds_a_probe_that_runs():
    import re
    import tomllib

    from harness.plugin.params import resolve_params

    text = (Path(__file__).parent.parent / "docs" / "probes.md").read_text()
    section = text.split("## `abx`: phone discrimination", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```toml\n(.*?)```", section, re.S)
    selection = dict(tomllib.loads(block)["probes"][0])
    assert selection.pop("plugin") == "abx"
    component = registry().get("probe", "abx")
    params, problems = resolve_params(component.params, selection, "probes[0]")
    assert problems == []
    rng = np.random.default_rng(1)
    tiers = [
        tuple(PhoneInterval(k * 0.05, (k + 1) * 0.05, str(p)) for k, p in enumerate(phones))
        for phones in rng.choice(list("iau"), size=(6, 12))
    ]
    means = {p: rng.normal(size=4) for p in "iau"}
    frames = [
        np.stack([means[t[int(k // 5)].phone] + 0.3 * rng.normal(size=4) for k in range(60)])
        for t in tiers
    ]
    given = FrameInput(
        FrameLatents(tuple(f.astype(np.float32) for f in frames), (np.arange(60) * 0.01,) * 6),
        tuple(tiers),
        np.array(["s1", "s1", "s2", "s2", "s3", "s3"]),
        np.array(["es"] * 6),
        0,
    )
    result = component.create(**params).run_frames(given)
    assert result.metrics["abx_within"] < 20 and result.metrics["abx_across"] < 20


def test_wav2vec2_gives_every_layer_frame_by_frame_at_its_encoder_stride():
    pytest.importorskip("transformers")
    from harness_plugins.extractor_classes import LayerStates
    from harness_plugins.models.wav2vec2.model import Wav2Vec2Model

    tiny = dict(conv_dim=[8, 8, 8], conv_kernel=[10, 4, 4], conv_stride=[5, 4, 4],
                hidden_size=16, num_layers=2, num_heads=2, intermediate_size=16,
                pos_conv_kernel=4, pos_conv_groups=2, codevectors_per_group=8,
                codevector_dim=16, proj_codevector_dim=16, num_negatives=4,
                mask_length=2)  # fmt: skip
    torch.manual_seed(0)
    module = Wav2Vec2Model(**tiny).build(1, 1600)
    assert (module.frame_stride, module.frame_window) == (80, 10 + 3 * 5 + 3 * 20)
    clips = [np.linspace(-1, 1, 1800).astype(np.float32), np.zeros(2000, np.float32) + 0.1]
    framed = LayerStates().frames(module, clips, "cpu", FrameClock(8000, 80))
    assert list(framed) == ["encoder", "layer1", "layer2"]
    n = [module.frames(len(c)) for c in clips]
    assert [f.shape for f in framed["layer2"].frames] == [(n[0], 16), (n[1], 16)]
    # frame k sees samples 80k .. 80k + 85: its centre is at (80k + 42.5) / 8000 s
    assert framed["encoder"].times[0][:2].tolist() == pytest.approx([42.5 / 8000, 122.5 / 8000])
    pooled = LayerStates().extract(module, clips, "cpu")["layer2"]
    np.testing.assert_allclose(framed["layer2"].frames[0].mean(0), pooled[0], atol=1e-5)


def test_the_report_compares_abx_between_conditions_with_speakers_as_sampled(tmp_path):
    from harness.running.runner import run_suite
    from harness.stats.separability import separability_vs_control
    from harness.tables.results import load_results

    text = SUITE.format(silence="keep").replace("seeds = [0]", "seeds = [0, 1]")
    text = text.replace(
        '[[conditions]]\nname = "control"\n',
        '[[conditions]]\nname = "control"\n[[conditions]]\nname = "bb-first"\n'
        'language = "bb"\nepochs = 1\n',
    )
    text = text.replace("[splits]\n", "[splits]\npretrain_speakers = 1\n")
    path = tmp_path / "abx.toml"
    path.write_text(text)
    loaded = load_suite(path, registry(), output=tmp_path / "out")
    plugins = registry()
    outcome = run_suite(
        loaded,
        registry=plugins,
        progress=False,
        execute=lambda spec, folder: execute(spec, folder, plugins),
    )
    assert outcome.failed == 0
    results = load_results(tmp_path / "out")
    vs = separability_vs_control(results, "control")
    row = vs[(vs["metric"] == "abx_within") & (vs["latent_space"] == "lstm_state/h")].iloc[0]
    assert row["condition"] == "bb-first" and row["higher_is_better"] == False  # noqa: E712
    assert row["inference"] == "seeds x speakers" and row["n_pairs"] == 2
    assert row["n_speakers"] == 4 and np.isfinite(row["p_value"])


def test_a_suite_that_leaves_out_probes_gets_every_probe_but_abx(tmp_path):
    from harness_plugins.probes import linear_svc

    registry = collect(
        build_plugin_manager(
            [Plugins(), lstm, extractors, abx, linear_svc], autoload=False, builtins=False
        )
    )
    path = tmp_path / "noprobes.toml"
    text = SUITE.format(silence="keep").split("[[probes]]")[0]
    path.write_text(text)
    loaded = load_suite(path, registry, output=tmp_path / "out")
    assert [p.plugin for p in loaded.probes] == ["linear_svc"]
    # named, it runs
    assert [p.plugin for p in suite(tmp_path).probes] == ["abx"]
