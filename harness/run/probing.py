"""Shared utilities for probes: speaker-grouped folds and speaker-level permutations.

Every clip of a speaker carries the same language, so two things go wrong easily:

* a random clip-level split puts clips of one speaker on both sides, and a probe
  scores by recognising the speaker, not the language;
* a permutation test that shuffles labels *within* speaker groups (what
  ``sklearn.model_selection.permutation_test_score(groups=...)`` does) shuffles
  identical labels, so its "null" is the observed score again.

The functions here make the right thing the easy thing: folds are built per speaker
and checked, and permutations reassign languages to whole speakers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from harness.hashing import content_hash

Fold = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class SpeakerTable:
    """One row per speaker: its id and its (single) label.

    ``inverse`` maps each clip to its speaker's row, so ``labels[inverse]``
    rebuilds clip labels from speaker labels.
    """

    speakers: np.ndarray
    labels: np.ndarray
    inverse: np.ndarray

    def counts(self) -> dict[object, int]:
        """Speakers per label."""
        values, counts = np.unique(self.labels, return_counts=True)
        return dict(zip(values.tolist(), counts.tolist(), strict=True))


def speaker_table(labels: np.ndarray, groups: np.ndarray) -> SpeakerTable:
    """Speakers and their labels; raise if a speaker has clips of two labels."""
    labels = np.asarray(labels)
    groups = np.asarray(groups)
    if labels.ndim != 1 or groups.shape != labels.shape:
        raise ValueError(
            f"labels and groups must be 1-D of equal length, got {labels.shape} and {groups.shape}"
        )
    speakers, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    speaker_labels = labels[first]
    mixed = speaker_labels[inverse] != labels
    if mixed.any():
        bad = str(groups[np.flatnonzero(mixed)[0]])
        found = sorted({str(v) for v in labels[groups == groups[np.flatnonzero(mixed)[0]]]})
        raise ValueError(
            f"speaker {bad!r} has clips labelled {found}; a speaker must have one label, "
            "or speaker-grouped CV and speaker-level permutations are meaningless"
        )
    return SpeakerTable(speakers=speakers, labels=speaker_labels, inverse=inverse)


def probe_inputs(
    latents: np.ndarray, labels: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, SpeakerTable]:
    """A probe's arguments as float64 latents, label and speaker arrays and their
    speaker table; a clear error if shapes disagree or a speaker has two labels."""
    x = np.asarray(latents, dtype=np.float64)
    labels = np.asarray(labels)
    groups = np.asarray(groups)
    if x.ndim != 2 or len(x) != len(labels):
        raise ValueError(f"latents must be (n, dim) with n = {len(labels)}, got {x.shape}")
    return x, labels, groups, speaker_table(labels, groups)


def _describe(label: object, names: dict[object, str] | None) -> str:
    if names is not None and label in names:
        return names[label]
    return f"language {str(label)!r}"


def check_grouped_cv(
    labels: np.ndarray,
    groups: np.ndarray,
    n_splits: int,
    what: str = "speaker-grouped CV",
    names: dict[object, str] | None = None,
) -> None:
    """Raise ValueError, before anything is fitted, if some class has too few speakers.

    Every test fold must hold at least one speaker of every class (otherwise
    balanced accuracy silently averages over fewer classes), so every class
    needs ``n_splits`` speakers. ``names`` renames classes in the message (such
    as the pooled non-target languages).
    """
    if n_splits < 2:
        raise ValueError(f"{what} needs at least 2 folds, got {n_splits}")
    table = speaker_table(labels, groups)
    counts = table.counts()
    if len(counts) < 2:
        only = ", ".join(_describe(c, names) for c in counts) or "nothing"
        raise ValueError(f"{what} needs at least 2 classes; the data hold only {only}")
    for label, count in sorted(counts.items(), key=lambda item: (item[1], str(item[0]))):
        if count < n_splits:
            noun = "speaker" if count == 1 else "speakers"
            raise ValueError(
                f"{_describe(label, names)} has {count} {noun}; {n_splits}-fold {what} "
                f"needs at least {n_splits}"
            )


def fewest_speakers(labels: np.ndarray, groups: np.ndarray) -> int:
    """Speakers in the class that has fewest (bounds the number of grouped folds)."""
    return min(speaker_table(labels, groups).counts().values())


def speaker_grouped_folds(
    labels: np.ndarray,
    groups: np.ndarray,
    n_splits: int,
    seed: int,
    what: str = "speaker-grouped CV",
    names: dict[object, str] | None = None,
) -> list[Fold]:
    """Stratified folds by speaker: no speaker on both sides, every class in every fold.

    Uses ``StratifiedGroupKFold`` (shuffled with ``seed``), then checks the
    folds, so a change in scikit-learn's heuristic cannot silently break the
    guarantee. The folds depend on nothing but the arguments, and every latent
    space of a run (and every run of a suite) probes the same clips, so they
    are kept per process for the same labels, speakers, ``n_splits`` and
    ``seed`` (each call gets its own copies): scikit-learn's search costs as
    much as a ridge probe's fit.
    """
    check_grouped_cv(labels, groups, n_splits, what, names)
    labels = np.asarray(labels)
    groups = np.asarray(groups)
    key = (content_hash([labels.tolist(), groups.tolist()]), n_splits, seed)
    folds = _FOLDS.get(key)
    if folds is None:
        # imported here: probe plugins declare their tasks from this module, and
        # listing or validating them must not import scikit-learn
        from sklearn.model_selection import StratifiedGroupKFold

        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        split = cv.split(np.zeros((len(labels), 1)), labels, groups)
        folds = list(split)
        check_folds(folds, labels, groups)
        if len(_FOLDS) >= _FOLDS_KEPT:
            _FOLDS.pop(next(iter(_FOLDS)))
        _FOLDS[key] = folds
    return [(train.copy(), test.copy()) for train, test in folds]


#: folds computed in this process, by content (oldest dropped first)
_FOLDS: dict[tuple[str, int, int], list[Fold]] = {}
_FOLDS_KEPT = 64


def check_folds(folds: Sequence[Fold], labels: np.ndarray, groups: np.ndarray) -> None:
    """Raise AssertionError if a fold shares a speaker or lacks a class on either side."""
    classes = set(np.unique(labels).tolist())
    for k, (train, test) in enumerate(folds):
        shared = set(np.asarray(groups)[train].tolist()) & set(np.asarray(groups)[test].tolist())
        if shared:
            raise AssertionError(f"fold {k}: speakers in both train and test: {sorted(shared)}")
        for side, index in (("train", train), ("test", test)):
            missing = classes - set(np.asarray(labels)[index].tolist())
            if missing:
                raise AssertionError(f"fold {k}: {side} side lacks classes {sorted(missing)}")


def permute_across_speakers(
    labels: np.ndarray, groups: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Clip labels after shuffling the speaker -> label assignment.

    Each speaker keeps one label and each label keeps its number of speakers;
    only which speakers carry which label changes. This is the null of "the
    latents carry no label information beyond speaker identity".
    """
    table = speaker_table(labels, groups)
    return rng.permutation(table.labels)[table.inverse]


def fold_of_speakers(folds: Sequence[Fold], table: SpeakerTable) -> np.ndarray:
    """For each speaker of ``table`` (in its order), the fold whose test part holds it."""
    fold = np.full(len(table.speakers), -1)
    for k, (_, test) in enumerate(folds):
        fold[table.inverse[test]] = k
    if (fold < 0).any():
        raise ValueError("every speaker must be in the test part of exactly one fold")
    return fold


def relabel_within_folds(
    speaker_labels: np.ndarray, fold: np.ndarray, n_permutations: int, seed: int
) -> np.ndarray:
    """Speaker-level relabellings that keep each fold's labels: row 0 is the real
    labelling, row ``i`` permutation ``i``, shape ``(1 + n_permutations, speakers)``.

    Each permutation shuffles the labels among the speakers of each test fold, so
    every fold keeps exactly the classes (and class counts) the stratified folds
    gave the real labels. With folds fixed across permutations that is what keeps
    the null honest: a free relabelling would leave some folds unstratified, and
    unstratified folds score below chance under the null (the training part
    over-represents what the test part lacks), which would make p-values too small.
    The same ``seed``, labels and folds give the same relabellings on every machine.
    """
    speaker_labels = np.asarray(speaker_labels)
    fold = np.asarray(fold)
    rng = np.random.default_rng(seed)
    grouped = np.argsort(fold, kind="stable")  # speaker positions, fold by fold
    # sorting (fold + uniform) orders each row fold by fold, randomly within a fold
    shuffled = np.argsort(fold[None, :] + rng.random((n_permutations, len(fold))), axis=1)
    out = np.empty((1 + n_permutations, len(fold)), dtype=speaker_labels.dtype)
    out[0] = speaker_labels
    out[1:, grouped] = speaker_labels[shuffled]
    return out


def permutation_p_value(observed: float, null: Sequence[float] | np.ndarray) -> float:
    """``(1 + #{null >= observed}) / (1 + n)``: never 0, valid for any n.

    A tiny tolerance counts ties as "as extreme", which keeps the test
    conservative when fold scores take few distinct values.
    """
    null = np.asarray(null, dtype=float)
    if null.size == 0:
        return float("nan")
    return float((1 + np.count_nonzero(null >= observed - 1e-12)) / (1 + null.size))


@dataclass(frozen=True)
class PermutationTest:
    """The observed score, the null distribution and the p-value."""

    observed: float
    null: np.ndarray
    p_value: float


def speaker_permutation_test(
    score: Callable[[np.ndarray, int], float],
    labels: np.ndarray,
    groups: np.ndarray,
    n_permutations: int,
    seed: int,
) -> PermutationTest:
    """Run ``score(labels, seed)`` on the real labels and on speaker-level permutations.

    The real labels are scored with ``seed``; each permutation gets its own seed.

    ``score`` must rerun the whole procedure (folds, model selection, fitting)
    for the labels it is given, so the null reflects everything the observed
    score went through.
    """
    # The real labels are scored with ``seed`` itself, so a caller can check those
    # folds beforehand; the permutations draw their own seeds from it.
    observed = float(score(np.asarray(labels), seed))
    seeds = np.random.SeedSequence(seed).generate_state(n_permutations + 1)
    rng = np.random.default_rng(int(seeds[0]))
    null = np.array(
        [
            score(permute_across_speakers(labels, groups, rng), int(seeds[1 + i]))
            for i in range(n_permutations)
        ],
        dtype=float,
    )
    return PermutationTest(observed, null, permutation_p_value(observed, null))


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the classes present in ``y_true``.

    The same number as ``sklearn.metrics.balanced_accuracy_score`` (a test checks
    it), without its input validation, which costs milliseconds per call and is
    called thousands of times by a permutation test.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    classes, index = np.unique(y_true, return_inverse=True)
    hits = np.bincount(index, weights=(y_pred == y_true), minlength=len(classes))
    return float(np.mean(hits / np.bincount(index, minlength=len(classes))))


def chance_balanced_accuracy(labels: np.ndarray) -> float:
    """Balanced accuracy of any predictor that ignores the input: 1 / number of classes."""
    return 1.0 / len(np.unique(labels))


def majority_rate(labels: np.ndarray) -> float:
    """Plain accuracy of always answering the most frequent class."""
    _, counts = np.unique(labels, return_counts=True)
    return float(counts.max() / counts.sum())
