"""The report's shared number wording."""

import numpy as np

from harness.report.numbers import detectable_clause, fmt_detectable


def test_detectable_differences_are_worded_by_what_the_tests_could_see():
    assert detectable_clause([0.07, 0.02]) == "differences of ±0.020 to ±0.070 were detectable"
    assert detectable_clause([0.02, np.nan]) == "a difference of ±0.020 was detectable"
    # a test whose detectable difference exceeds the score's range (inf) sees nothing
    assert detectable_clause([np.inf]) == "no difference within the score's range was detectable"
    assert detectable_clause([0.02, np.inf, np.inf]) == (
        "a difference of ±0.020 was detectable; 2 tests could detect none within the score's range"
    )
    assert detectable_clause([np.nan]) == ""


def test_a_table_cell_says_when_no_difference_in_range_was_detectable():
    assert fmt_detectable(0.0312) == "±0.031"
    assert fmt_detectable(np.inf) == "none in range"
    assert fmt_detectable(np.nan) == "–"
