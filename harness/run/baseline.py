"""The classical baseline: an SVM on clip-level MFCC statistics.

What researchers compare a classifier of speech against: each clip becomes
one vector of statistics of its MFCC frames (:func:`clip_statistics`), and a
support-vector machine (standardised inputs, ``sklearn.svm.SVC``) is tuned by
a grid search over kernel, C and gamma with speaker-grouped cross-validation
on the training speakers, scored by balanced accuracy, refitted on all of
them with the best setting, and scored once on the held-out speakers' clips.

Folds: ``StratifiedGroupKFold`` over the training speakers, shuffled with the
seed, as many folds as the class with fewest speakers allows, at most
:data:`MAX_FOLDS`. A speaker is never on both sides of a fold, and every fold
must have every class on both sides (checked after splitting), so the chosen
setting is the one that generalises to unseen speakers, as the held-out score
asks. Fewer than two speakers in some class leaves no such folds: that is a
:class:`~harness.plugin.contracts.DataError` naming the class, not a silent
fallback to an untuned SVM.

The result is the same for the same inputs and seed on any machine (libsvm
is deterministic without probability estimates); it can be cached on disk,
keyed by a hash of the statistics, labels, speakers, seed, grid and class
weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import finite_or_none, write_json
from harness.hashing import content_hash
from harness.plugin.contracts import DataError
from harness.spec.config import FeatureConfig

NAME = "MFCC statistics + SVM"
#: Bump when the statistics, the folds or the fitting change (the cache keys on it).
BASELINE_VERSION = 1
#: MFCC coefficients of the baseline's features (librosa's default), at most n_mels.
N_MFCC = 20
#: Most cross-validation folds; fewer when a class has fewer training speakers.
MAX_FOLDS = 5
#: Frames on each side of the regression that gives the deltas (HTK's usual 2).
DELTA_WIDTH = 2
#: The default search: both kernels, C over four decades, gamma for the RBF kernel.
DEFAULT_GRID: tuple[dict[str, list[Any]], ...] = (
    {"kernel": ["linear"], "C": [0.01, 0.1, 1.0, 10.0]},
    {"kernel": ["rbf"], "C": [0.1, 1.0, 10.0, 100.0], "gamma": ["scale", 0.001, 0.01, 0.1]},
)
GRID_KEYS = ("kernel", "C", "gamma")
KERNELS = ("linear", "rbf", "poly", "sigmoid")


def baseline_feature_config(features: FeatureConfig) -> FeatureConfig:
    """The features the baseline's statistics are taken from: the suite's front end
    (sample rate, window, hop, mel bands and edges, trimming) as unnormalised
    MFCC in dB, :data:`N_MFCC` coefficients (fewer when there are fewer mel bands).

    Silent frames are removed whenever the suite does anything about silence
    (``remove``, ``mask`` or ``label``): the statistics then describe speech, as
    the model's decisions do; with ``keep`` they cover every frame.
    """
    return dataclasses.replace(
        features,
        kind="mfcc",
        n_mfcc=min(N_MFCC, features.n_mels),
        log="db",
        normalize="none",
        silence="keep" if features.silence == "keep" else "remove",
    )


def deltas(frames: np.ndarray, width: int = DELTA_WIDTH) -> np.ndarray:
    """Regression deltas over ``width`` frames on each side, edges repeated
    (the HTK formula; one frame gives zeros)."""
    padded = np.pad(frames, ((width, width), (0, 0)), mode="edge")
    n = len(frames)
    out = np.zeros_like(frames)
    for k in range(1, width + 1):
        out += k * (padded[width + k : width + k + n] - padded[width - k : width - k + n])
    return out / (2.0 * sum(k * k for k in range(1, width + 1)))


def clip_statistics(frames_list: Sequence[np.ndarray]) -> np.ndarray:
    """One row per clip: the mean and standard deviation over frames of each
    coefficient, then of each coefficient's delta, ``(n_clips, 4 * n_coefficients)``.

    :raises ValueError: on an array that is not (frames >= 1, coefficients), on
        clips with different numbers of coefficients, or on non-finite values.
    """
    if len(frames_list) == 0:
        raise ValueError("clip_statistics needs at least one clip")
    rows = []
    width = None
    for i, frames in enumerate(frames_list):
        x = np.asarray(frames, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"clip {i}: expected a (frames, coefficients) array, got {x.shape}")
        if width is not None and x.shape[1] != width:
            raise ValueError(f"clip {i}: {x.shape[1]} coefficients, the first clip has {width}")
        if not np.isfinite(x).all():
            raise ValueError(f"clip {i}: features have NaN or infinite values")
        width = x.shape[1]
        d = deltas(x)
        rows.append(np.concatenate([x.mean(0), x.std(0), d.mean(0), d.std(0)]))
    return np.stack(rows)


@dataclass(frozen=True)
class BaselineResult:
    """The baseline's scores on the held-out clips and how it was chosen.

    :ivar classes: class names; the order of ``confusion`` and of ``recall``.
    :ivar recall: per class, held-out recall (None for a class no held-out clip has).
    :ivar confusion: counts, rows the true class, columns the predicted one.
    :ivar params: the chosen setting (kernel, C, gamma as given in the grid).
    :ivar cv_balanced_accuracy: the chosen setting's mean over the folds.
    :ivar cv_scores: every candidate with its mean and standard deviation over folds.
    """

    classes: list[str]
    accuracy: float
    balanced_accuracy: float
    recall: dict[str, float | None]
    confusion: list[list[int]]
    params: dict[str, Any]
    cv_balanced_accuracy: float
    cv_folds: int
    cv_scores: list[dict[str, Any]]
    n_train: int
    n_heldout: int
    train_speakers: int
    n_statistics: int
    seed: int
    class_weight: str | dict[str, float] | None
    name: str = NAME

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers as None), read back by :meth:`from_dict`."""
        out = dataclasses.asdict(self)
        for key in ("accuracy", "balanced_accuracy", "cv_balanced_accuracy"):
            out[key] = finite_or_none(out[key])
        out["recall"] = {k: finite_or_none(v) for k, v in self.recall.items()}
        return json.loads(json.dumps(out))

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> BaselineResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in value.items() if k in names})


def svm_baseline(
    train_features: Sequence[np.ndarray],
    train_labels: Sequence[str],
    train_groups: Sequence[str],
    heldout_features: Sequence[np.ndarray],
    heldout_labels: Sequence[str],
    *,
    seed: int,
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]] | None = None,
    class_weight: str | Mapping[str, float] | None = "balanced",
    cache_dir: Path | None = None,
) -> BaselineResult:
    """Fit the baseline on the training clips and score it on the held-out clips.

    :param train_features: each training clip's MFCC frames (frames, coefficients),
        from :func:`baseline_feature_config`'s features.
    :param train_labels: each training clip's class.
    :param train_groups: each training clip's speaker: the folds never split one.
    :param heldout_features: the held-out speakers' clips, as ``train_features``.
    :param heldout_labels: their classes.
    :param seed: shuffles the folds.
    :param grid: the search as ``{"kernel": [...], "C": [...], "gamma": [...]}``
        or a list of such dicts; default :data:`DEFAULT_GRID`.
    :param class_weight: ``"balanced"`` (each class weighted by n / (k * n_c)),
        None, or a weight per class name.
    :param cache_dir: the cache root; results go to ``<cache_dir>/baseline/``.
    :raises DataError: too few classes or speakers for the grouped folds.
    :raises ValueError: inconsistent inputs or an unknown grid key or kernel.
    """
    problem = _Problem.of(
        train_features, train_labels, train_groups, heldout_features, heldout_labels
    )
    search = _grid(grid)
    weights = _class_weight(class_weight, problem.train_y)
    path = None
    if cache_dir is not None:
        key = content_hash(problem.identity(seed, search, weights))
        path = Path(cache_dir) / "baseline" / f"{key}.json"
        cached = _read(path)
        if cached is not None:
            return cached
    result = _fit(problem, seed, search, weights)
    if path is not None:
        write_json(path, result.to_dict())
    return result


@dataclass(frozen=True)
class _Problem:
    """The baseline's inputs, checked: each clip's statistics and label, and
    each training clip's speaker."""

    train_x: np.ndarray
    train_y: np.ndarray
    groups: np.ndarray
    heldout_x: np.ndarray
    heldout_y: np.ndarray

    @classmethod
    def of(
        cls,
        train_features: Sequence[np.ndarray],
        train_labels: Sequence[str],
        train_groups: Sequence[str],
        heldout_features: Sequence[np.ndarray],
        heldout_labels: Sequence[str],
    ) -> _Problem:
        train_y = _labels(train_labels, len(train_features), "train_labels")
        groups = _labels(train_groups, len(train_features), "train_groups")
        heldout_y = _labels(heldout_labels, len(heldout_features), "heldout_labels")
        train_x = clip_statistics(train_features)
        heldout_x = clip_statistics(heldout_features)
        if heldout_x.shape[1] != train_x.shape[1]:
            raise ValueError(
                f"held-out clips have {heldout_x.shape[1] // 4} coefficients, "
                f"training clips {train_x.shape[1] // 4}"
            )
        return cls(train_x, train_y, groups, heldout_x, heldout_y)

    def identity(
        self, seed: int, search: list[dict[str, list[Any]]], weights: str | dict[str, float] | None
    ) -> dict[str, Any]:
        """Everything the result depends on: what the cache keys on."""
        return {
            "version": BASELINE_VERSION,
            "sklearn": _sklearn_version(),
            "train": _digest(self.train_x),
            "heldout": _digest(self.heldout_x),
            "train_labels": self.train_y.tolist(),
            "groups": self.groups.tolist(),
            "heldout_labels": self.heldout_y.tolist(),
            "seed": seed,
            "grid": search,
            "class_weight": weights,
        }


def grouped_folds(
    labels: np.ndarray, groups: np.ndarray, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The cross-validation folds: speaker-disjoint, every class on both sides.

    A speaker may have clips of several classes (an actor's emotions) or of one
    (a speaker's language); a class counts the speakers who have it.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    classes = sorted(set(labels.tolist()))
    if len(classes) < 2:
        raise DataError(
            f"the SVM baseline needs at least 2 classes; the training clips hold {classes}"
        )
    speakers = {c: sorted(set(groups[labels == c].tolist())) for c in classes}
    n_splits = min(MAX_FOLDS, min(len(v) for v in speakers.values()), len(set(groups.tolist())))
    if n_splits < 2:
        lacking = "; ".join(
            f"class {c!r} has {len(v)} ({', '.join(v)})" for c, v in speakers.items() if len(v) < 2
        )
        raise DataError(
            "the SVM baseline's speaker-grouped cross-validation needs at least 2 training "
            f"speakers in every class: {lacking}; give the split more training speakers"
        )
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed % 2**32)
    folds = list(cv.split(np.zeros((len(labels), 1)), labels, groups))
    for k, (train, test) in enumerate(folds):
        shared = set(groups[train].tolist()) & set(groups[test].tolist())
        if shared:  # StratifiedGroupKFold promises this; checked so a change cannot pass
            raise AssertionError(f"fold {k}: speakers on both sides: {sorted(shared)}")
        for side, index in (("training", train), ("validation", test)):
            missing = sorted(set(classes) - set(labels[index].tolist()))
            if missing:
                raise DataError(
                    f"the SVM baseline's {n_splits}-fold speaker-grouped cross-validation "
                    f"left no {side} clip of class(es) {missing} in fold {k}; the classes' "
                    f"training speakers: " + ", ".join(f"{c} {len(speakers[c])}" for c in classes)
                )
    return folds


def _fit(
    problem: _Problem,
    seed: int,
    search: list[dict[str, list[Any]]],
    weights: str | dict[str, float] | None,
) -> BaselineResult:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    train_y, heldout_y = problem.train_y, problem.heldout_y
    folds = grouped_folds(train_y, problem.groups, seed)
    pipeline = Pipeline([("scale", StandardScaler()), ("svm", SVC(class_weight=weights))])
    grid = [{f"svm__{k}": v for k, v in part.items()} for part in search]
    tuned = GridSearchCV(pipeline, grid, scoring="balanced_accuracy", cv=folds, error_score="raise")
    with warnings.catch_warnings():
        # a validation fold may be predicted as a class it lacks; the score is still defined
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        tuned.fit(problem.train_x, train_y)
        predicted = tuned.predict(problem.heldout_x)
    classes = sorted(set(train_y.tolist()) | set(heldout_y.tolist()))
    confusion = confusion_matrix(heldout_y, predicted, labels=classes)
    return BaselineResult(
        classes=classes,
        accuracy=float(accuracy_score(heldout_y, predicted)),
        balanced_accuracy=float(balanced_accuracy_score(heldout_y, predicted)),
        recall=_recall(confusion, classes),
        confusion=confusion.astype(int).tolist(),
        params=_plain(tuned.best_params_),
        cv_balanced_accuracy=float(tuned.best_score_),
        cv_folds=len(folds),
        cv_scores=_cv_scores(tuned.cv_results_),
        n_train=len(train_y),
        n_heldout=len(heldout_y),
        train_speakers=len(set(problem.groups.tolist())),
        n_statistics=int(problem.train_x.shape[1]),
        seed=seed,
        class_weight=weights,
    )


def _recall(confusion: np.ndarray, classes: Sequence[str]) -> dict[str, float | None]:
    """Per class, held-out recall (None for a class no held-out clip has)."""
    totals = confusion.sum(axis=1)
    return {
        c: (float(confusion[i, i] / totals[i]) if totals[i] else None)
        for i, c in enumerate(classes)
    }


def _cv_scores(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every candidate of the search with its mean and standard deviation over folds."""
    return [
        {
            "params": _plain(params),
            "balanced_accuracy": float(mean),
            "std": float(std),
        }
        for params, mean, std in zip(
            results["params"],
            results["mean_test_score"],
            results["std_test_score"],
            strict=True,
        )
    ]


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """Grid parameters without the pipeline prefix, as JSON values."""
    out = {}
    for key, value in params.items():
        out[key.removeprefix("svm__")] = value.item() if isinstance(value, np.generic) else value
    return out


def _labels(values: Sequence[str], n: int, name: str) -> np.ndarray:
    array = np.asarray([str(v) for v in values], dtype=object)
    if len(array) != n:
        raise ValueError(f"{name}: {len(array)} values for {n} clips")
    return array


def _grid(
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]] | None,
) -> list[dict[str, list[Any]]]:
    parts = DEFAULT_GRID if grid is None else [grid] if isinstance(grid, Mapping) else grid
    out = []
    for i, part in enumerate(parts):
        unknown = sorted(set(part) - set(GRID_KEYS))
        if unknown:
            raise ValueError(f"grid[{i}]: unknown keys {unknown}; valid: {list(GRID_KEYS)}")
        if "kernel" not in part:
            raise ValueError(f"grid[{i}]: give the kernels to try ('kernel': {list(KERNELS)})")
        entry = {}
        for key in GRID_KEYS:
            if key not in part:
                continue
            values = list(part[key]) if not isinstance(part[key], str) else [part[key]]
            if not values:
                raise ValueError(f"grid[{i}].{key}: no values to try")
            entry[key] = values
        bad = [k for k in entry["kernel"] if k not in KERNELS]
        if bad:
            raise ValueError(f"grid[{i}].kernel: unknown {bad}; valid: {list(KERNELS)}")
        out.append(entry)
    if not out:
        raise ValueError("grid: no settings to try")
    return out


def _class_weight(
    value: str | Mapping[str, float] | None, labels: np.ndarray
) -> str | dict[str, float] | None:
    if value is None or value == "balanced":
        return value
    if isinstance(value, str):
        raise ValueError(
            f"class_weight: expected 'balanced', None or a weight per class, got {value!r}"
        )
    weights = {str(k): float(v) for k, v in value.items()}
    missing = sorted(set(labels.tolist()) - set(weights))
    if missing:
        raise ValueError(f"class_weight: no weight for class(es) {missing}")
    return weights


def _digest(x: np.ndarray) -> str:
    array = np.ascontiguousarray(x, dtype=np.float64)
    return hashlib.blake2b(array.tobytes() + str(array.shape).encode(), digest_size=16).hexdigest()


def _read(path: Path) -> BaselineResult | None:
    if not path.exists():
        return None
    try:
        return BaselineResult.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None  # a damaged entry is fitted and written again


def _sklearn_version() -> str:
    from importlib.metadata import version

    return version("scikit-learn")
