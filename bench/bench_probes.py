"""Benchmark of the probes: cost per latent space, and what makes ``ridge`` cheap.

For speaker-clustered synthetic latents (4 languages, a centre per language, an
offset per speaker, noise per clip) of 96, 640 and 2000 clips:

1. ``ridge`` (defaults: 3 alphas chosen per fold and relabelling, both tasks)
   with 30 and 1000 permutations;
2. ``linear_svc`` (defaults: C chosen by inner CV, both tasks) with 30
   permutations; its cost grows linearly with permutations (every permutation
   reruns the nested CV), so the 1000-permutation cost is extrapolated from the
   measured cost per permutation and marked so;
3. the reference: sklearn ``RidgeClassifier`` (StandardScaler per fold, one
   alpha) refitted for every permutation on the same folds, against ``ridge`` with
   the same single alpha: the ratio of their costs per permutation, and a check
   that ridge's un-permuted out-of-fold predictions equal RidgeClassifier's;
4. ``tsne`` at 640 and 2000 clips.

Wall and CPU time (this process) of each, torch and BLAS on one thread (what the
local executor gives each worker), so ratios are comparable within one run.

    python bench/bench_probes.py
    python bench/bench_probes.py --sizes 96 640 --skip-svc-above 96
    python bench/bench_probes.py --sizes 96 640 --svc-solver liblinear

A benchmark, not a test: it asserts nothing; minutes on an idle machine.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.linear_model import RidgeClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from timing import timed

from harness.hashing import stable_seed
from harness.run.probing import (
    fold_of_speakers,
    probe_inputs,
    relabel_within_folds,
    speaker_grouped_folds,
)
from harness_plugins.probes.linear_svc_probe import LinearSVCProbe
from harness_plugins.probes.ridge_probe import RidgeProbe
from harness_plugins.probes.tsne_probe import TSNEProbe

LANGUAGES = ("es", "ja", "it", "en")
#: clips -> (speakers per language, clips per speaker, dims)
DESIGNS = {96: (3, 8, (64,)), 640: (20, 8, (64, 256)), 2000: (50, 10, (256,))}


def latents(speakers: int, clips: int, dim: int, seed: int = 0):
    """Speaker-clustered latents with a weak language signal."""
    rng = np.random.default_rng(seed)
    rows, labels, groups = [], [], []
    for language in LANGUAGES:
        centre = 0.3 * rng.normal(size=dim)
        for s in range(speakers):
            offset = rng.normal(size=dim)
            rows.append(centre + offset + rng.normal(size=(clips, dim)))
            labels += [language] * clips
            groups += [f"{language}-{s}"] * clips
    return np.concatenate(rows), np.array(labels), np.array(groups)


def reference(x, labels, groups, n_permutations: int, alpha: float):
    """RidgeClassifier refitted per relabelling on ridge's folds and relabellings."""
    _, _, _, table = probe_inputs(x, labels, groups)
    speakers = table.speakers.tolist()
    n_splits = min(5, min(table.counts().values()))
    folds = speaker_grouped_folds(
        labels, groups, n_splits, stable_seed("ridge folds", 0, *speakers) % 2**32
    )
    languages = np.unique(labels)
    codes = relabel_within_folds(
        np.searchsorted(languages, table.labels),
        fold_of_speakers(folds, table),
        n_permutations,
        stable_seed("speaker permutations", 0, *speakers),
    )
    predictions = []
    for row in codes:
        y = row[table.inverse]
        predicted = np.empty(len(y), dtype=int)
        for train, test in folds:
            scaler = StandardScaler().fit(x[train])
            model = RidgeClassifier(alpha=alpha).fit(scaler.transform(x[train]), y[train])
            predicted[test] = model.predict(scaler.transform(x[test]))
        predictions.append(predicted)
    return predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DESIGNS))
    parser.add_argument("--skip-svc-above", type=int, default=2000)
    parser.add_argument("--svc-solver", choices=("libsvm", "liblinear"), default="libsvm")
    parser.add_argument("--reference-permutations", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    line = "{:>6} {:>5} {:<34} {:>9} {:>9}"
    print(line.format("clips", "dim", "probe", "wall s", "cpu s"))
    with threadpool_limits(limits=1):
        for n in args.sizes:
            speakers, clips, dims = DESIGNS[n]
            for dim in dims:
                x, labels, groups = latents(speakers, clips, dim)

                def show(what: str, wall: float, cpu: float) -> None:
                    print(line.format(n, dim, what, f"{wall:.2f}", f"{cpu:.2f}"), flush=True)  # noqa: B023

                for k in (30, 1000):
                    probe = RidgeProbe(n_permutations=k)
                    _, wall, cpu = timed(lambda: probe.run(x, labels, groups, "ja", 0))  # noqa: B023
                    show(f"ridge, {k} permutations", wall, cpu)
                if n <= args.skip_svc_above:
                    svc = LinearSVCProbe(n_permutations=30, solver=args.svc_solver)
                    _, wall, cpu = timed(lambda: svc.run(x, labels, groups, "ja", 0))  # noqa: B023
                    show(f"linear_svc ({args.svc_solver}), 30 permutations", wall, cpu)
                    scale = 1001 / 31
                    show("linear_svc, 1000 (extrapolated)", wall * scale, cpu * scale)
                # the reference against ridge with the same single alpha, one task
                k, alpha = args.reference_permutations, 10.0
                fixed = RidgeProbe(
                    task="multiclass", alphas=[alpha], n_permutations=k, decision="argmax"
                )
                result, wall, cpu = timed(lambda: fixed.run(x, labels, groups, "ja", 0))  # noqa: B023
                show(f"ridge, 1 alpha, multiclass, {k} perm.", wall, cpu)
                ref, r_wall, r_cpu = timed(
                    lambda: reference(x, labels, groups, k, alpha)  # noqa: B023
                )
                show(f"RidgeClassifier refits, {k} perm.", r_wall, r_cpu)
                ours = np.array(result.details["oof_prediction_multiclass"], dtype=int)
                equal = np.array_equal(ours, ref[0])
                print(
                    f"{'':>13}reference / ridge: wall x{r_wall / wall:.0f}, cpu x{r_cpu / cpu:.0f}; "
                    f"un-permuted out-of-fold predictions equal: {equal}"
                )
            if n >= 640:
                x, labels, groups = latents(speakers, clips, 64)
                tsne = TSNEProbe()
                _, wall, cpu = timed(lambda: tsne.run(x, labels, groups, "ja", 0))  # noqa: B023
                print(
                    line.format(n, 64, "tsne (defaults)", f"{wall:.2f}", f"{cpu:.2f}"), flush=True
                )


if __name__ == "__main__":
    main()
