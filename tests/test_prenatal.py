"""The ``womb`` filter: its realised response, measured on noise through the
real filter, against the points cited from the in-utero measurements."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from harness.plugin.components import resolve_params
from harness.plugin.contracts import check_filtered
from harness.plugin.registry import load_registry
from harness_plugins import filters_prenatal
from harness_plugins.filters_prenatal import MEASUREMENTS, response

#: how far the realised response may be from the cited points (dB): the FIR's
#: finite length rounds the corner of the curve at its lowest point by ~0.3 dB
TOLERANCE_DB = 0.5


def _build(**given):
    (component,) = filters_prenatal.harness_pretrain_filters()
    params, problems = resolve_params(component.params, given, "womb")
    assert not problems
    return component.create(**params)


def _realised_db(study: str, rate: int, freqs: np.ndarray) -> np.ndarray:
    """Output over input power (dB) of 30 s of white noise through the filter."""
    rng = np.random.default_rng(7)
    noise = rng.standard_normal(30 * rate).astype(np.float32)
    out = _build(study=study)(noise, rate, rng)
    grid, before = welch(noise.astype(np.float64), rate, nperseg=8192)
    _, after = welch(np.asarray(out, np.float64), rate, nperseg=8192)
    return 10 * np.log10(np.interp(freqs, grid, after / before))


@pytest.mark.parametrize("study", sorted(MEASUREMENTS))
@pytest.mark.parametrize("rate", [16000, 22050, 8000])
def test_the_realised_response_passes_through_the_cited_points(study, rate):
    points = [p for p in MEASUREMENTS[study].points if p.hz < rate / 2]
    freqs = np.array([p.hz for p in points])
    measured = _realised_db(study, rate, freqs)
    cited = -np.array([p.attenuation_db for p in points])
    np.testing.assert_allclose(measured, cited, atol=TOLERANCE_DB)


@pytest.mark.parametrize("study", sorted(MEASUREMENTS))
def test_between_and_beyond_the_points_the_response_is_the_declared_interpolation(study):
    freqs = np.array([60.0, 180.0, 354.0, 707.0, 1414.0, 2828.0, 6000.0])
    measured = _realised_db(study, 16000, freqs)
    np.testing.assert_allclose(measured, response(freqs, study), atol=TOLERANCE_DB)


def test_the_declared_response_is_the_cited_sources_numbers():
    human, sheep = MEASUREMENTS["human"], MEASUREMENTS["sheep"]
    assert response([125.0, 4000.0], "human") == pytest.approx([3.7, -10.0])
    assert "Richards" in human.citation and "80(2):186-190" in human.citation
    # sheep: 6 dB per octave above 250 Hz, 20 dB at 4 kHz, a 2-5 dB gain below 250 Hz
    octaves = np.log2(np.array([500.0, 1000.0, 2000.0]) / 250.0)
    assert response([500.0, 1000.0, 2000.0], "sheep") == pytest.approx(4.0 - 6.0 * octaves)
    assert response([4000.0], "sheep") == pytest.approx([-20.0])
    assert 2.0 <= response([100.0], "sheep")[0] <= 5.0
    assert "Gerhardt" in sheep.citation and "162(1):282-287" in sheep.citation
    # outside the measured range the end values hold: nothing is extrapolated
    assert response([20.0, 7900.0], "human") == pytest.approx([3.7, -10.0])


def test_the_filter_moves_nothing_in_time_and_keeps_the_contract():
    rate = 16000
    click = np.zeros(rate, np.float32)
    click[rate // 2] = 1.0
    out = _build()(click, rate, np.random.default_rng(0))
    assert int(np.argmax(np.abs(out))) == rate // 2  # zero phase: the peak stays put
    half = 2000  # the impulse response is symmetric about the click
    np.testing.assert_allclose(
        out[rate // 2 - half : rate // 2][::-1],
        out[rate // 2 + 1 : rate // 2 + 1 + half],
        atol=1e-7,
    )
    for length in (0, 5, 700, 3000):
        audio = np.random.default_rng(length).standard_normal(length).astype(np.float32)
        checked = check_filtered("womb", audio, _build(study="sheep")(audio, rate, None))
        assert checked.shape == audio.shape and checked.dtype == np.float32


def test_womb_is_a_registered_filter_whose_listing_imports_no_scipy_code():
    component = load_registry().get("pretrain_filter", "womb")
    assert component.factory == "harness_plugins.filters_prenatal:Womb"
    assert component.param("study").choices == ("human", "sheep")
    with pytest.raises(ValueError, match="study: expected one of"):
        filters_prenatal.Womb("cow")


def test_a_suite_pretrains_and_probes_through_the_womb(tmp_path):
    from harness.spec.suite import SuiteError, load_suite
    from harness.testing import tiny_suite, to_toml

    conditions = [{"name": "none"}, {"name": "womb", "language": "it", "filter": "womb"}]
    path = tmp_path / "suite.toml"
    given = tiny_suite(conditions=conditions, probing={"filter": {"plugin": "womb"}})
    path.write_text(to_toml(given), encoding="utf-8")
    suite = load_suite(path)
    assert suite.condition("womb").filter.params == {"study": "human"}
    assert suite.probing.filter.plugin == "womb"
    given["probing"] = {"filter": {"plugin": "womb", "study": "cow"}}
    path.write_text(to_toml(given), encoding="utf-8")
    with pytest.raises(
        SuiteError, match=r"probing\.filter\.study: expected string one of 'human', 'sheep'"
    ):
        load_suite(path)


def test_the_design_records_the_declared_response_and_the_methods_draw_it(tmp_path):
    """What the Methods draw comes from the manifest, captured when the suite
    ran, never from the installed plugin."""
    from harness.plugin.registry import load_registry
    from harness.report.response_figure import section
    from harness.spec.design import Design
    from harness.spec.suite import load_suite
    from harness.tables.results import Results
    from harness.testing import tiny_suite, to_toml

    conditions = [
        {"name": "none"},
        {"name": "womb", "language": "it", "filter": "womb"},
        {"name": "sheep", "language": "it", "filter": {"plugin": "womb", "study": "sheep"}},
    ]
    path = tmp_path / "suite.toml"
    path.write_text(to_toml(tiny_suite(conditions=conditions)), encoding="utf-8")
    registry = load_registry()
    design = Design.from_dict(Design.from_suite(load_suite(path, registry), registry).to_dict())
    found = {r.params: r for r in design.facts.responses}
    assert set(found) == {"study=human", "study=sheep"}
    human = found["study=human"]
    assert human.cited == ((125.0, 3.7), (4000.0, -10.0))
    assert "Richards" in human.source
    assert np.interp(1000.0, human.hz, human.gain_db) == pytest.approx(
        float(response(np.array([1000.0]), "human")[0]), abs=0.05
    )
    html = section(Results.from_records([], design=design))
    assert "<img" in html and "Richards DS" in html and "Gerhardt KJ" in html
    assert (
        section(
            Results.from_records([], design=Design.from_dict({**design.to_dict(), "facts": None}))
        )
        == ""
    )
