"""The ABX cells as arrays (plugins/probes/abx_cells.py, abx_score.py) against
plain loops over contexts, speakers, phones and items written from the
definition, on random item sets with uneven cells and given distances (ties
and undefined ones among them), so a wrong grouping, a triplet counted twice
or left out, or a pair computed that no triplet reads, fails here before it
hides in an average."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from harness_plugins.probes import abx_kernels
from harness_plugins.probes.abx_cells import Layout, across_units, blocks, right_answers
from harness_plugins.probes.abx_core import encode
from harness_plugins.probes.abx_score import average, key_shares, plan_cells, table


def uneven_items(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contexts, speakers and phones of ~200 items with skewed frequencies, and
    on purpose: a context with one phone (no cell), a context with one speaker
    (no across cell), a speaker with a single token of a phone (no within cell
    of that phone as A), a phone only one speaker says in a context (no X of it
    across) and a context of another group."""
    rng = np.random.default_rng(seed)
    n = 200
    context = rng.choice([f"g|c{k}" for k in range(5)], size=n, p=[0.4, 0.25, 0.15, 0.1, 0.1])
    speaker = rng.choice(
        [f"s{k}" for k in range(7)], size=n, p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.1, 0.05]
    )
    phone = rng.choice(["a", "e", "i", "k"], size=n, p=[0.4, 0.3, 0.2, 0.1])
    extra = [
        ("g|one_phone", "s0", "a"), ("g|one_phone", "s1", "a"), ("g|one_phone", "s0", "a"),
        ("g|one_speaker", "s2", "a"), ("g|one_speaker", "s2", "e"), ("g|one_speaker", "s2", "a"),
        ("g|lonely", "s0", "a"), ("g|lonely", "s0", "e"), ("g|lonely", "s0", "e"),
        ("g|lonely", "s1", "e"), ("g|lonely", "s1", "i"), ("g|lonely", "s1", "i"),
        ("h|c0", "t0", "a"), ("h|c0", "t0", "e"), ("h|c0", "t1", "a"), ("h|c0", "t1", "e"),
    ]  # fmt: skip
    columns = [
        np.concatenate([col, np.array(x)])
        for col, x in zip((context, speaker, phone), zip(*extra, strict=True), strict=True)
    ]
    return columns[0], columns[1], columns[2]


def random_distances(n: int, seed: int) -> np.ndarray:
    """A symmetric matrix of one-decimal distances (many ties), a few undefined."""
    rng = np.random.default_rng(seed)
    d = np.round(rng.random((n, n)), 1)
    d[rng.random((n, n)) < 0.01] = np.nan
    return np.triu(d, 1) + np.triu(d, 1).T


def loop_cells(context, speaker, phone, d, mode, min_items=1, max_x=None, seed=0):
    """Every cell of ``mode`` from the definition, with dicts and loops: the
    X speakers of each context's speaker s drawn (across, more than ``max_x``
    others) by ``rng.choice`` context by context and speaker by speaker, as
    the probe drew them before its draw was compiled."""
    rng = np.random.default_rng(seed)
    by_context = defaultdict(list)
    for i, c in enumerate(context):
        by_context[str(c)].append(i)
    cells, read = {}, set()
    for c in sorted(by_context):
        members = by_context[c]
        if len({phone[i] for i in members}) < 2:
            continue
        speakers = sorted({str(speaker[i]) for i in members})
        group = defaultdict(list)
        for i in members:
            group[(str(speaker[i]), str(phone[i]))].append(i)
        for s in speakers:
            if mode == "within":
                xs = [s]
            else:
                xs = [t for t in speakers if t != s]
                if max_x is not None and len(xs) > max_x:
                    xs = [xs[k] for k in rng.choice(len(xs), size=max_x, replace=False)]
            said = sorted({p for (who, p) in group if who == s})
            for a in said:
                for b in said:
                    for t in xs:
                        if a == b or (t, a) not in group:
                            continue
                        trio = group[(s, a)], group[(s, b)], group[(t, a)]
                        if min(len(g) for g in trio) < min_items:
                            continue
                        right = total = 0.0
                        for x in trio[2]:
                            for one in trio[0]:
                                if one == x:
                                    continue
                                for other in trio[1]:
                                    read |= {
                                        (min(one, x), max(one, x)),
                                        (min(other, x), max(other, x)),
                                    }
                                    to_a, to_b = d[one, x], d[other, x]
                                    if np.isnan(to_a) or np.isnan(to_b):
                                        continue
                                    total += 1
                                    right += 1.0 if to_a < to_b else 0.5 if to_a == to_b else 0.0
                        if total:
                            key = (s,) if mode == "within" else (s, t)
                            cells[(c, key, a, b)] = 1.0 - right / total
    return cells, read


def loop_average(cells):
    """Contexts, then speaker keys, then ordered phone pairs; each speaker's part."""
    by_key = defaultdict(list)
    for (_, key, a, b), error in cells.items():
        by_key[(key, a, b)].append(error)
    by_pair = defaultdict(dict)
    for (key, a, b), errors in by_key.items():
        by_pair[(a, b)][key] = sum(errors) / len(errors)
    parts, shares = defaultdict(float), defaultdict(float)
    for keys in by_pair.values():
        for key, error in keys.items():
            shares[key] += 100 * error / (len(by_pair) * len(keys))
            for s in key:
                parts[s] += 100 * error / (len(by_pair) * len(keys) * len(key))
    means = [sum(k.values()) / len(k) for k in by_pair.values()]
    return 100 * sum(means) / len(means), dict(parts), dict(shares)


def layout_of(context, speaker, phone) -> Layout:
    (contexts, c), (speakers, s), (phones, p) = (encode(x) for x in (context, speaker, phone))
    return Layout.of(c, s, p, (contexts, speakers, phones))


def fast_cells(context, speaker, phone, d, mode, min_items=1, max_x=None, seed=0):
    layout = layout_of(context, speaker, phone)
    planned = plan_cells(layout, [mode], min_items, max_x, seed)
    found = blocks(layout, list(planned.values()))
    distances = d[found.pairs[:, 0], found.pairs[:, 1]]
    cells = planned[mode]
    return table(layout, cells, *right_answers(layout, cells, found, distances)), found


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("mode", ["within", "across"])
@pytest.mark.parametrize(("min_items", "max_x"), [(1, None), (2, None), (1, 2), (1, 1)])
def test_array_cells_equal_the_loops(seed, mode, min_items, max_x):
    context, speaker, phone = uneven_items(seed)
    d = random_distances(len(context), seed)
    found, pairs = fast_cells(context, speaker, phone, d, mode, min_items, max_x, seed)
    expected, read = loop_cells(context, speaker, phone, d, mode, min_items, max_x, seed)
    got = found.as_dict()
    assert got.keys() == expected.keys()
    for key, error in expected.items():
        assert got[key] == pytest.approx(error, abs=1e-12), key
    # the pairs computed are exactly those some triplet reads, each once
    assert {tuple(p) for p in pairs.pairs.tolist()} == read
    assert len(pairs.pairs) == len(read)
    error, parts, shares = loop_average(expected)
    score = average(found)
    assert score.error == pytest.approx(error, abs=1e-9)
    assert score.n_cells == len(expected)
    assert score.contributions.keys() == parts.keys()
    for s, part in parts.items():
        assert score.contributions[s] == pytest.approx(part, abs=1e-9)
    assert key_shares(found) == pytest.approx(shares, abs=1e-9)


def test_the_uneven_cases_are_there():
    """The item sets hold what the test above means to exercise."""
    context, speaker, phone = uneven_items(0)
    d = random_distances(len(context), 0)
    within, _ = loop_cells(context, speaker, phone, d, "within")
    across, _ = loop_cells(context, speaker, phone, d, "across")
    assert not any(c == "g|one_phone" for c, *_ in within | across)
    assert any(c == "g|one_speaker" for c, *_ in within)
    assert not any(c == "g|one_speaker" for c, *_ in across)
    # s0 says "a" once in g|lonely: no within cell with A of "a"; s1 never says "a" there
    assert ("g|lonely", ("s0",), "e", "a") in within
    assert ("g|lonely", ("s0",), "a", "e") not in within
    assert ("g|lonely", ("s1", "s0"), "e", "i") in across
    assert ("g|lonely", ("s0", "s1"), "a", "e") not in across
    assert any(c == "h|c0" for c, *_ in across)


def test_the_compiled_draw_makes_the_draws_of_choice():
    """Speakers of X drawn as numpy's ``rng.choice(k - 1, max_x, replace=False)``
    draws them, context by context, leaving the generator where it would."""
    count = np.random.default_rng(9).integers(2, 30, size=200)
    first = np.cumsum(count) - count
    for max_x in (1, 2, 5, 12):
        many = count - 1 > max_x
        drawn = np.empty((int(count[many].sum()) * max_x, 2), np.int64)
        compiled = np.random.default_rng(max_x)
        abx_kernels.draw_others(compiled, first[many], count[many], max_x, drawn)
        plain = np.random.default_rng(max_x)
        expected = [
            (f + s, f + c + (c >= s))
            for f, k in zip(first[many], count[many], strict=True)
            for s in range(k)
            for c in plain.choice(k - 1, size=max_x, replace=False)
        ]
        np.testing.assert_array_equal(drawn, np.array(expected))
        assert compiled.random() == plain.random()


def test_across_units_keep_every_other_speaker_under_the_cap():
    context, speaker, phone = uneven_items(1)
    layout = layout_of(context, speaker, phone)
    every = across_units(layout, None, np.random.default_rng(0))
    assert np.array_equal(across_units(layout, 100, np.random.default_rng(0)), every)
    one = across_units(layout, 1, np.random.default_rng(0))
    # each unit of a context with other speakers keeps exactly one
    assert np.bincount(one[:, 0]).max() == 1
    assert set(map(tuple, one.tolist())) <= set(map(tuple, every.tolist()))
    assert (layout.context[one[:, 0]] == layout.context[one[:, 1]]).all()
