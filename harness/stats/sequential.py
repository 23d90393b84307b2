"""Sequential seeds: add seeds only to the comparisons still undecided, and
keep the error rates of the fixed design.

A sequential suite (``seeds = { min = 6, max = 40, step = 2 }``) looks at its
comparisons after ``min`` seeds, then after every ``step`` more, up to
``max`` (:class:`Schedule`). At look ``k`` each comparison still undecided is
tested on its first ``n_k`` seeds with the report's own tests (the exact
signed-rank test of the per-seed log time ratios and the two one-sided
signed-rank tests of equivalence within the suite's margin,
:mod:`harness.stats.signed_rank`, on the pairs
:func:`harness.stats.convergence.paired_log_ratios` gives). A comparison stops
when a difference is shown, when equivalence is shown, or at ``max``.

**Why it keeps its level.** The 5% of each family (the difference tests,
and separately the equivalence tests) holds over all the looks together.
The default, ``"joint-pocock"``, turns each look's nominal p into a repeated
p-value ``q`` (:mod:`harness.stats.sequential_joint`: ``P(q <= gamma at any
look) <= gamma`` under a comparison's null, from the exact joint null of the
signed-rank statistics at the looks) and runs Holm's procedure at 5% on
``q`` at every look. The other kinds split the 5% over the looks instead:
look ``k`` spends ``alpha_k`` with ``sum alpha_k = 0.05`` (:func:`spending`, a
Lan-DeMets spending function of the information fraction ``n_k / max``) and
Holm runs at ``alpha_k`` on the nominal p. Either way Holm runs over the
*whole* family, every comparison included: one already shown to differ
enters with p = 0, one stopped otherwise with p = 1 (:func:`decide`). A first
false claim at look ``k`` then needs some true null's p (or ``q``) on its
first ``n_k`` seeds to be at most ``level / (number of true nulls)``; each
true null does that at any look with probability at most ``0.05 / (number
of true nulls)`` (by ``q``'s validity, or by the union bound over the looks
when spending), so the family makes a false claim with probability at most
5%, whatever the dependence between comparisons and families.
``bench/bench_sequential.py`` measures the rates and how many runs each rule
saves (docs/report.md).

Everything here is a pure function of the runs' records: the same finished
runs give the same looks and decisions, which is what lets a killed
``harness run`` resume to identical results (:mod:`harness.running.sequential`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from harness.spec.suite_types import SPENDING as SUITE_SPENDING
from harness.spec.suite_types import SeedSchedule
from harness.stats.convergence import paired_log_ratios
from harness.stats.multiple import holm
from harness.stats.paired import censored_bounds
from harness.stats.sequential_joint import ONE_SIDED, TWO_SIDED, exact_upper_tail, repeated_p
from harness.stats.signed_rank import _DIGITS

ALPHA = 0.05
DIFFERS, EQUIVALENT, UNDECIDED = "differs", "equivalent", "undecided"
#: the rules compared by ``bench/bench_sequential.py``: Pocock's boundary on
#: the looks' joint null, then the spending functions (the share of alpha
#: spent by information fraction ``t``, Lan and DeMets 1983); the first is the
#: default, the one the bench chose (docs/report.md)
SPENDING = SUITE_SPENDING
DEFAULT_SPENDING = SPENDING[0]
JOINT = "joint-pocock"
Schedule = SeedSchedule
#: the share of alpha the interim looks of ``"haybittle-peto"`` spend
INTERIM_SHARE = 0.2


def spending(
    looks: Sequence[int], alpha: float = ALPHA, kind: str = "haybittle-peto"
) -> np.ndarray:
    """The level each look spends, ``alpha(t_k) - alpha(t_{k-1})`` with ``t_k =
    n_k / n_max``; they sum to ``alpha``. ``"haybittle-peto"``: the interim
    looks share a fifth of ``alpha`` on the O'Brien-Fleming shape and the last
    look keeps the rest, so a comparison that runs to the maximum is tested
    almost as the fixed design would (the union bound pays for every look, and
    the last looks, on nearly the same seeds, would otherwise get little);
    ``"obrien-fleming"``: ``2 - 2 Phi(z_{1 - alpha/2} / sqrt(t))`` (little early,
    most late); ``"pocock"``: ``alpha log(1 + (e - 1) t)`` (evenly)."""
    t = np.asarray(looks, dtype=float) / float(looks[-1])
    obrien_fleming = 2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - alpha / 2) / np.sqrt(t))
    if kind == "haybittle-peto":
        cumulative = INTERIM_SHARE * obrien_fleming
    elif kind == "obrien-fleming":
        cumulative = obrien_fleming
    elif kind == "pocock":
        cumulative = alpha * np.log(1 + (math.e - 1) * t)
    else:
        raise ValueError(f"unknown spending {kind!r}; expected one of {', '.join(SPENDING[1:])}")
    cumulative[-1] = alpha  # exact at the last look, whatever the rounding
    return np.diff(np.r_[0.0, cumulative])


def look_levels(
    looks: Sequence[int], alpha: float = ALPHA, kind: str = DEFAULT_SPENDING
) -> np.ndarray:
    """The level Holm runs at, look by look: ``alpha`` on the repeated
    p-values of ``"joint-pocock"``, the spent ``alpha_k`` otherwise."""
    if kind == JOINT:
        return np.full(len(looks), alpha)
    return spending(looks, alpha, kind)


def sequential_p(
    p: np.ndarray, p_eq: np.ndarray, looks: Sequence[int], kind: str = DEFAULT_SPENDING
) -> tuple[np.ndarray, np.ndarray]:
    """What Holm reads at a look: the repeated p-values of the nominal ones
    for ``"joint-pocock"`` (the equivalence p, the larger of two one-sided
    p, through the one-sided null), the nominal ones for spending."""
    if kind != JOINT:
        return p, p_eq
    looks = tuple(looks)
    return repeated_p(p, looks, TWO_SIDED), repeated_p(p_eq, looks, ONE_SIDED)


def look_pvalues(rows: Sequence[np.ndarray], margin: float) -> tuple[np.ndarray, np.ndarray]:
    """The report's two tests on each comparison's per-seed log ratios: the
    two-sided exact signed-rank p and the equivalence p (the larger of the two
    one-sided p against ``±margin``, a log ratio, each on the end of a censored
    pair's interval least favourable to it: a row may be 3 x n, the log ratios
    over their lower and upper ends, :func:`harness.stats.paired.censored_bounds`),
    as :func:`harness.stats.paired.paired_fields` computes them
    (:func:`~harness.stats.signed_rank.signed_rank_p` and
    :func:`~harness.stats.signed_rank.equivalence_p`), with the exact null of
    each pattern of ranks computed once (:class:`Nulls`)."""
    nulls = _NULLS
    p = np.full(len(rows), np.nan)
    p_eq = np.full(len(rows), np.nan)
    for i, row in enumerate(rows):
        values = np.asarray(row, dtype=float)
        # a row of three: the log ratios and the ends of their censoring intervals
        d, low, high = values if values.ndim == 2 else (values, values, values)
        if d.size == 0:
            continue
        s, tail = nulls.of(d)
        p[i] = 1.0 if s == 0 else min(2 * tail(abs(s)), 1.0)
        s_up, tail_up = nulls.of(low + margin)
        s_down, tail_down = nulls.of(high - margin)
        p_eq[i] = max(tail_up(s_up), tail_down(-s_down))
    return p, p_eq


class Nulls:
    """Exact signed-rank nulls by pattern of (doubled, tied) ranks, each
    computed once: a simulation meets the same patterns (no ties; a tie or two
    on the evaluation grid) thousands of times. The null of ``S = sum s_i a_i``
    over fair signs is built by adding one ``a_i`` at a time to the integer
    counts of the sign vectors (exact, and ten times faster than the
    characteristic function of :func:`harness.stats.signed_rank.upper_tails`
    at 40 pairs, with which ``tests/test_sequential.py`` checks it agrees)."""

    def __init__(self, limit: int = 20000) -> None:
        self.limit = limit
        self.tails: dict[bytes, np.ndarray] = {}

    def of(self, d: np.ndarray) -> tuple[float, Callable[[float], float]]:
        """The statistic of ``d`` and its exact upper tail ``P(S >= x)``."""
        statistic, pattern = signed_doubled_ranks(d)
        key = pattern.tobytes()
        upper = self.tails.get(key)
        if upper is None:
            if len(self.tails) >= self.limit:
                self.tails.clear()
            upper = self.tails[key] = exact_upper_tail(pattern)
        total = (upper.size - 1) // 2

        def tail(x: float) -> float:
            index = math.ceil(x - 1e-6) + total
            return float(min(upper[index], 1.0)) if 0 <= index <= 2 * total else float(index < 0)

        return statistic, tail


def signed_doubled_ranks(d: np.ndarray) -> tuple[float, np.ndarray]:
    """What :func:`harness.stats.signed_rank.doubled_ranks` gives one vector,
    in the form the nulls need: the statistic (the sum of the signed doubled
    mid-ranks) and the sorted doubled ranks of the nonzero entries. A sort
    and a pass over the tie groups: ten times faster than ``rankdata`` on the
    ~40 pairs of a look, which the calibration ranks millions of times."""
    d = np.round(np.asarray(d, dtype=float), _DIGITS)
    nonzero = d[d != 0]
    order = np.argsort(np.abs(nonzero), kind="stable")
    magnitude = np.abs(nonzero)[order]
    # (no pairs: one empty group)
    starts = np.flatnonzero(np.concatenate([[True], magnitude[1:] != magnitude[:-1]]))
    counts = np.diff(np.append(starts, magnitude.size))
    # positions first+1 .. first+count share the mid-rank first + (count + 1) / 2
    doubled = np.repeat(2 * starts + counts + 1, counts).astype(np.int64)
    return float(np.sum(np.sign(nonzero[order]) * doubled)), doubled


_NULLS = Nulls()


def decide(p: np.ndarray, p_eq: np.ndarray, state: Sequence[str], alpha_k: float) -> list[str]:
    """One look's decisions for one family: Holm at ``alpha_k`` over every
    comparison, those already decided entering at p = 0 (the claim they made)
    or 1 (the other claim), those undecided with the p of this look.
    A comparison shown to differ and equivalent at once (a clear difference
    smaller than the margin) is stated as a difference, as the report does."""
    state = list(state)
    decided_diff = np.array([s == DIFFERS for s in state])
    decided_eq = np.array([s == EQUIVALENT for s in state])
    open_ = ~(decided_diff | decided_eq)
    diff = np.where(decided_diff, 0.0, np.where(decided_eq, 1.0, p))
    eq = np.where(decided_eq, 0.0, np.where(decided_diff, 1.0, p_eq))
    # a test that cannot run (no pairs) never rejects, and stays in the family
    shows_diff = open_ & (np.nan_to_num(holm(np.nan_to_num(diff, nan=1.0)), nan=1.0) <= alpha_k)
    shows_eq = open_ & (np.nan_to_num(holm(np.nan_to_num(eq, nan=1.0)), nan=1.0) <= alpha_k)
    return [
        DIFFERS if shows_diff[i] else EQUIVALENT if shows_eq[i] else state[i]
        for i in range(len(state))
    ]


@dataclass(frozen=True)
class Comparison:
    """One comparison the rule decides: ``condition`` against ``other`` (the
    control, or another condition) for ``model``, in ``family``."""

    family: str
    model: str
    condition: str
    other: str


@dataclass
class Outcome:
    """Where each comparison stands after the looks that could be made."""

    #: per comparison: DIFFERS, EQUIVALENT or UNDECIDED
    state: dict[Comparison, str]
    #: per comparison: the seeds it was decided at (or has now)
    seeds: dict[Comparison, int]
    #: one entry per look made: its seeds, the level each family spent, and
    #: the comparisons it decided (``"model: condition vs other"`` -> decision)
    looks: list[dict[str, object]] = field(default_factory=list)
    #: the seeds of the next look, where comparisons remain undecided; None when done
    next_look: int | None = None

    def open(self) -> list[Comparison]:
        return [c for c, s in self.state.items() if s == UNDECIDED]


def name(c: Comparison) -> str:
    return f"{c.model}: {c.condition} vs {c.other}"


def replay(
    ratios: Mapping[Comparison, Mapping[int, np.ndarray]],
    schedule: Schedule,
    margin: float,
    alpha: float = ALPHA,
) -> Outcome:
    """The looks of a sequential suite, from each comparison's per-seed log
    ratios at each look it can be tested at (``ratios[c][n]``: the log ratios
    of its first ``n`` seeds; a look missing means its runs are not all
    finished yet, and the replay stops there). ``margin`` is the equivalence
    margin as a log ratio."""
    comparisons = list(ratios)
    state = dict.fromkeys(comparisons, UNDECIDED)
    seeds = dict.fromkeys(comparisons, 0)
    out = Outcome(state, seeds)
    families = list(dict.fromkeys(c.family for c in comparisons))
    levels = look_levels(schedule.looks, alpha, schedule.spending)
    for n, alpha_k in zip(schedule.looks, levels, strict=True):
        open_ = [c for c in comparisons if state[c] == UNDECIDED]
        if not open_:
            return out
        if any(n not in ratios[c] for c in open_):
            out.next_look = n
            return out
        decided: dict[str, str] = {}
        for family in families:
            members = [c for c in comparisons if c.family == family]
            rows = [ratios[c][n] if state[c] == UNDECIDED else np.zeros((3, 0)) for c in members]
            p, p_eq = sequential_p(*look_pvalues(rows, margin), schedule.looks, schedule.spending)
            new = decide(p, p_eq, [state[c] for c in members], float(alpha_k))
            for c, now in zip(members, new, strict=True):
                if state[c] == UNDECIDED:
                    seeds[c] = n
                    if now != UNDECIDED:
                        decided[f"{family}: {name(c)}"] = now
                state[c] = now
        still = [f"{c.family}: {name(c)}" for c in comparisons if state[c] == UNDECIDED]
        # the open ones are why the next look adds seeds
        out.looks.append({"seeds": n, "alpha": float(alpha_k), "decided": decided, "open": still})
    return out


def runs_used(outcome: Outcome, minimum: int = 0) -> int:
    """Runs a replay asked for: each (model, condition) cell runs the most
    seeds any of its comparisons reached (at least ``minimum``)."""
    need: dict[tuple[str, str], int] = {}
    for c, n in outcome.seeds.items():
        for cell in ((c.model, c.condition), (c.model, c.other)):
            need[cell] = max(need.get(cell, minimum), n)
    return int(sum(need.values()))


def log_ratios(
    runs: pd.DataFrame,
    comparisons: Sequence[Comparison],
    seeds: Sequence[int],
    looks: Sequence[int],
    present: set[tuple[str, str, int]] | None = None,
) -> dict[Comparison, dict[int, np.ndarray]]:
    """Each comparison's per-seed log ratios at each look its runs allow:
    ``runs`` has the analysable runs of one time measure (``model``,
    ``condition``, ``seed``, ``time``, ``event_``;
    :func:`harness.stats.survival.analysable`), ``present`` the (model,
    condition, seed) of every run with a record (a failed run has one and no
    time: its pair is left out, as the report leaves it out); default: the
    runs of ``runs``. A look is there when both cells have a record for each
    of its first ``n`` seeds."""
    if present is None:
        present = set(zip(runs["model"], runs["condition"], runs["seed"], strict=True))
    by_cell = {key: group for key, group in runs.groupby(["model", "condition"], sort=False)}
    empty = runs.iloc[0:0]
    out: dict[Comparison, dict[int, np.ndarray]] = {}
    for c in comparisons:
        cells = [(c.model, c.condition), (c.model, c.other)]
        ready = [n for n in looks
                 if all((m, k, s) in present for m, k in cells for s in seeds[:n])]  # fmt: skip
        out[c] = {}
        if not ready:
            continue
        a, b = (by_cell.get(cell, empty) for cell in cells)
        if (a["time"] > 0).all() and (b["time"] > 0).all():
            # no crossing at time 0, so no floor that depends on which runs
            # are in: one join serves every look
            pairs = paired_log_ratios(a, b)
            rank = {s: i for i, s in enumerate(seeds)}
            order = pairs["seed"].map(rank).to_numpy()
            bounded = _bounded(pairs)
            for n in ready:
                out[c][n] = bounded[:, order < n]
        else:
            for n in ready:
                first = set(seeds[:n])
                pairs = paired_log_ratios(a[a["seed"].isin(first)], b[b["seed"].isin(first)])
                out[c][n] = _bounded(pairs)
    return out


def _bounded(pairs: pd.DataFrame) -> np.ndarray:
    """3 x n: the pairs' log ratios over the ends of their censoring intervals."""
    low, high = censored_bounds(pairs)
    return np.vstack([pairs["d"].to_numpy(float), low, high])


def stopped_sentence(row: Mapping[str, object], equivalence_ratio: float) -> str:
    """One comparison of the design's sequential section as the Methods say
    it: "stopped at 12 seeds: equivalent within ±10%"."""
    what = {
        DIFFERS: "a difference shown",
        EQUIVALENT: f"equivalent within ±{100 * equivalence_ratio:g}%",
        UNDECIDED: "undecided at the maximum",
    }.get(str(row["decision"]), "still open (the suite has not finished its looks)")
    return f"stopped at {row['seeds']} seeds: {what}"


def methods_lines(section: Mapping[str, object]) -> list[str]:
    """The Methods' account of a sequential suite: the rule, then one line per
    comparison ("m4: ja vs none (vs control): stopped at 12 seeds: ...")."""
    schedule = section.get("schedule") or {}
    assert isinstance(schedule, Mapping)
    margin = float(section.get("equivalence_ratio") or 0.1)  # type: ignore[arg-type]
    looks = section.get("looks") or []
    assert isinstance(looks, list)
    kind = str(schedule.get("spending") or DEFAULT_SPENDING)
    if kind == JOINT:
        level = (
            "Each family (differences; equivalences) keeps its 5% over all the looks: each "
            "look's exact signed-rank p becomes a repeated p-value, the chance under the "
            "comparison's null that the smallest p over all the looks is that small (Pocock's "
            "boundary on the looks' joint null, drawn once per schedule), and Holm runs at 5% "
            "on these over the whole family"
        )
    else:
        level = (
            "The 5% of each family (differences; equivalences) is spent over the looks "
            f"({kind} spending, Holm at each look's level over the whole family)"
        )
    head = (
        f"Sequential seeds: looks after {schedule.get('min')} seeds and every "
        f"{schedule.get('step')} more up to {schedule.get('max')} "
        f"({len(looks)} made); at each look every comparison still open is tested on its "
        "first n seeds, and stops when a difference or equivalence within "
        f"±{100 * margin:g}% is shown. {level}, a comparison already decided entering at "
        "p = 0 for its claim and 1 for the other, so each family keeps its 5% family-wise "
        "whatever the looks did (a censored pair counts against equivalence by the end of "
        "its interval least favourable to it). The answer states the decisions below, "
        "which the looks made; the tables' p-values are the fixed design's on every seed "
        "both conditions ran, shown for reference (seeds added by looking void their error "
        "rates)."
    )
    rows = section.get("comparisons") or []
    assert isinstance(rows, list)
    lines = [
        f"{r['model']}: {r['condition']} vs {r['other']} ({r['family']}): "
        + stopped_sentence(r, margin)
        for r in rows
    ]
    return [head, *lines]
