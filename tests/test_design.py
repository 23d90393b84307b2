"""The resolved design: written into manifest.json by `harness run`, read back by
the analysis instead of the suite file."""

from pathlib import Path

from harness.output.store import Store
from harness.spec.design import Design
from harness.spec.expand import expand
from harness.spec.suite import load_suite
from harness.tables.results import load_results

SUITES = Path(__file__).parent.parent / "suites"


def test_the_manifest_records_the_resolved_suite(tmp_path):
    suite = load_suite(SUITES / "pretrain.toml", output=tmp_path / "out")
    manifest = Store(suite.output).write_suite(suite, expand(suite))
    design = Store(suite.output).manifest().design
    assert design == manifest.design == Design.from_suite(suite)
    assert design.control == "none"
    assert design.condition_names[:2] == ["none", "es-lp500"]
    assert design.condition("ja-lp500").label == "Japanese, low-pass 500 Hz"
    assert design.condition("ja-lp500").pretrains and not design.condition("none").pretrains
    # [[models]] entries override the [target] threshold: each model keeps its own
    lstm, autoencoder = design.models
    assert (lstm.label, lstm.threshold, lstm.threshold_mode) == ("lstm", 0.06, "relative")
    assert (autoencoder.label, autoencoder.threshold) == ("conv_autoencoder", 0.125)
    assert design.seeds == tuple(range(10)) and design.n_runs == 120 == len(manifest.run_ids)
    # an output folder with a manifest and no runs yet: every run is missing
    results = load_results(suite.output)
    assert results.design == design and results.expected_count == 120
    assert results.conditions == design.condition_names and results.models == [
        "lstm",
        "conv_autoencoder",
    ]


def test_a_design_survives_json():
    suite = load_suite(SUITES / "quick.toml")
    design = Design.from_suite(suite)
    assert Design.from_dict(design.to_dict()) == design
