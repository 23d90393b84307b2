"""Between-condition pairs of curricula: one stage's one attribute, the order
of the same stages, or one extra stage is one thing; any other difference in
the number of stages is not."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from harness.report.pairs import attribute_name, differs, pair_words
from harness.spec.design import ConditionInfo, Design
from harness.spec.stages import Stage
from harness.stats.between import EXTRA_STAGE, STAGE_ORDER, contrast, contrast_pairs


def lowpass(cutoff: float, epochs: int = 2) -> Stage:
    return Stage("en", "lowpass", {"cutoff_hz": cutoff, "order": 4}, epochs)


FULL = Stage("en", "full", {}, 1)


def design(*conditions: tuple[str, tuple[Stage, ...]], **overrides: dict) -> Design:
    infos = [ConditionInfo("none", "none")]
    for name, stages in conditions:
        infos.append(
            ConditionInfo(
                name, name, pretrains=True, stages=stages, overrides=overrides.get(name, {})
            )
        )
    return Design("curricula", control="none", conditions=tuple(infos))


def row(found: Design, a: str, b: str) -> pd.Series:
    attribute, value_a, value_b = contrast(found, a, b)
    return pd.Series(
        {"condition_a": a, "condition_b": b, "differs_in": attribute, "value_a": value_a,
         "value_b": value_b}
    )  # fmt: skip


READER = SimpleNamespace(condition_label=lambda name: name, design=SimpleNamespace(facts=None))


def test_one_stage_s_one_attribute_is_named_with_its_stage():
    found = design(("womb400", (lowpass(400), FULL)), ("womb500", (lowpass(500), FULL)))
    assert contrast(found, "womb400", "womb500") == ("stage1.filter.cutoff_hz", 400, 500)
    assert contrast_pairs(found) == [("womb400", "womb500", "stage1.filter.cutoff_hz")]
    pair = row(found, "womb400", "womb500")
    assert differs(READER, pair) == "stage 1's cutoff: 400 vs 500 Hz"
    assert "differs in stage 1's cutoff: 400 vs 500 Hz and nothing else" in pair_words(READER, pair)


def test_a_later_stage_s_budget_is_one_attribute():
    found = design(("a", (lowpass(500), FULL)), ("b", (lowpass(500), Stage("en", "full", {}, 3))))
    assert contrast(found, "a", "b") == ("stage2.epochs", 1, 3)
    assert attribute_name(READER, row(found, "a", "b")) == "stage 2's pretraining epochs"


def test_the_same_stages_in_another_order_are_one_thing():
    found = design(("womb_then_air", (lowpass(500), FULL)), ("air_then_womb", (FULL, lowpass(500))))
    attribute, value_a, value_b = contrast(found, "womb_then_air", "air_then_womb")
    assert attribute == STAGE_ORDER
    assert value_a == "en, lowpass(cutoff_hz=500, order=4), 2 epochs, then en, full, 1 epoch"
    assert value_b == "en, full, 1 epoch, then en, lowpass(cutoff_hz=500, order=4), 2 epochs"
    assert "the same stages in another order" in pair_words(
        READER, row(found, "womb_then_air", "air_then_womb")
    )
    assert (
        attribute_name(READER, row(found, "womb_then_air", "air_then_womb"))
        == "the order of the stages"
    )


def test_one_extra_stage_is_one_thing_and_named():
    found = design(("womb_then_air", (lowpass(500), FULL)), ("air", (FULL,)))
    assert contrast(found, "womb_then_air", "air") == (
        EXTRA_STAGE, "stage 1 (en, lowpass(cutoff_hz=500, order=4), 2 epochs)", "none",
    )  # fmt: skip
    assert contrast(found, "air", "womb_then_air")[1:] == (
        "none", "stage 1 (en, lowpass(cutoff_hz=500, order=4), 2 epochs)",
    )  # fmt: skip
    words = pair_words(READER, row(found, "womb_then_air", "air"))
    assert "only “womb_then_air” hears stage 1 (en, lowpass" in words
    # a stage added at the end
    later = design(("womb", (lowpass(500),)), ("womb_then_air", (lowpass(500), FULL)))
    assert contrast(later, "womb", "womb_then_air")[2] == "stage 2 (en, full, 1 epoch)"


def test_other_differences_in_the_number_of_stages_make_no_pair():
    found = design(
        ("two", (lowpass(500), FULL)),
        ("other", (lowpass(400),)),  # one stage fewer and another cutoff
        ("three", (lowpass(300), lowpass(500), FULL)),
        ("one", (FULL,)),
    )
    assert contrast(found, "two", "other") is None
    assert contrast(found, "three", "one") is None  # two extra stages
    assert contrast(found, "two", "one")[0] == EXTRA_STAGE
    assert contrast(found, "three", "two")[0] == EXTRA_STAGE
    assert {(a, b) for a, b, _ in contrast_pairs(found)} == {("two", "three"), ("two", "one")}


def test_an_extra_stage_with_another_setting_changed_makes_no_pair():
    found = design(
        ("womb_then_air", (lowpass(500), FULL)), ("air", (FULL,)),
        womb_then_air={"training": {"lr": 0.01}}, air={"training": {"lr": 0.001}},
    )  # fmt: skip
    assert contrast(found, "womb_then_air", "air") is None


def test_curricula_differing_in_two_stages_make_no_pair():
    found = design(("a", (lowpass(400), FULL)), ("b", (lowpass(500), Stage("en", "full", {}, 2))))
    assert contrast(found, "a", "b") is None


def test_one_stage_conditions_pair_as_before():
    es = Stage("es", "lowpass", {"cutoff_hz": 500, "order": 4}, 1)
    it = Stage("it", "lowpass", {"cutoff_hz": 500, "order": 4}, 1)
    found = design(("es", (es,)), ("it", (it,)))
    assert contrast_pairs(found) == [("es", "it", "language")]
    # Spanish at 500 Hz and Italian at 1000 Hz differ in two attributes
    it1000 = Stage("it", "lowpass", {"cutoff_hz": 1000, "order": 4}, 1)
    assert contrast_pairs(design(("es", (es,)), ("it", (it1000,)))) == []


def test_a_curriculum_s_attributes_are_named_by_stage():
    found = design(("womb_then_air", (lowpass(500), FULL)), ("air", (FULL,)))
    attributes = found.attributes("womb_then_air")
    assert attributes["stages"] == 2
    assert attributes["stage1.filter.cutoff_hz"] == 500 and attributes["stage2.filter"] == "full"
    assert "language" not in attributes
    # a one-stage condition keeps the names it always had
    assert found.attributes("air")[
        "language"
    ] == "en" and "stage1.language" not in found.attributes("air")
