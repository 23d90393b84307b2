"""ABX error written straight from its definition (Schatz 2016; Libri-light's
averaging), with plain loops and a numpy DTW: the reference the batched probe
(harness_plugins.probes.abx_core / abx_score) must agree with.

Nothing here is shared with the probe's code: items, triplets, DTW and the
averaging are each written again, slowly and plainly.
"""

from __future__ import annotations

import math
from statistics import mean

import numpy as np


def frame_distance(x: np.ndarray, y: np.ndarray, distance: str) -> float:
    if distance == "cosine":
        nx = max(float(np.sqrt(np.dot(x, x))), 1e-12)
        ny = max(float(np.sqrt(np.dot(y, y))), 1e-12)
        cos = min(1.0, max(-1.0, float(np.dot(x, y)) / (nx * ny)))
        return math.acos(cos) / math.pi
    if distance == "kl_symmetric":
        e = 1e-6
        kl_xy = float(np.sum(x * np.log((x + e) / (y + e))))
        kl_yx = float(np.sum(y * np.log((y + e) / (x + e))))
        return 0.5 * kl_xy + 0.5 * kl_yx
    return float(np.sqrt(np.sum((x - y) ** 2)))


def dtw(x: np.ndarray, y: np.ndarray, distance: str) -> float:
    """Cost of the best monotone path over frame distances, divided by its length
    (ties: diagonal, then left, then up)."""
    n, m = len(x), len(y)
    cost = np.full((n, m), np.inf)
    length = np.zeros((n, m))
    for i in range(n):
        for j in range(m):
            d = frame_distance(x[i], y[j], distance)
            if i == 0 and j == 0:
                cost[i, j], length[i, j] = d, 1
                continue
            diag = cost[i - 1, j - 1] if i > 0 and j > 0 else np.inf
            left = cost[i, j - 1] if j > 0 else np.inf
            up = cost[i - 1, j] if i > 0 else np.inf
            if diag <= left and diag <= up:
                best, steps = diag, length[i - 1, j - 1]
            elif left <= up:
                best, steps = left, length[i, j - 1]
            else:
                best, steps = up, length[i - 1, j]
            cost[i, j], length[i, j] = d + best, steps + 1
    return float(cost[n - 1, m - 1] / length[n - 1, m - 1])


def items(clips: list[dict]) -> list[dict]:
    """Each clip: frames (T, D), times (T,), tier [(start, end, phone)], speaker."""
    out = []
    for clip in clips:
        tier = clip["tier"]
        for k in range(1, len(tier) - 1):
            start, end, phone = tier[k]
            chosen = [
                clip["frames"][t] for t in range(len(clip["times"]))
                if start <= clip["times"][t] <= end
            ]  # fmt: skip
            if not chosen:
                middle = (start + end) / 2
                gaps = [abs(t - middle) for t in clip["times"]]
                chosen = [clip["frames"][gaps.index(min(gaps))]]
            context = (clip.get("group", ""), tier[k - 1][2], tier[k + 1][2])
            out.append(
                {"frames": np.array(chosen), "phone": phone, "context": context,
                 "speaker": clip["speaker"]}
            )  # fmt: skip
    return out


def abx_error(clips: list[dict], mode: str, distance: str = "cosine") -> float:
    """The ABX error (%) of ``mode`` (within / across): every triplet of every cell."""
    its = items(clips)
    cells: dict[tuple, float] = {}
    for c in sorted({it["context"] for it in its}):
        for s in sorted({it["speaker"] for it in its}):
            for a in sorted({it["phone"] for it in its}):
                for b in sorted({it["phone"] for it in its}):
                    if a == b:
                        continue
                    xs = [s] if mode == "within" else sorted({it["speaker"] for it in its} - {s})
                    for t in xs:
                        error = _cell(its, c, s, t, a, b, distance)
                        if error is not None:
                            cells[(c, s, t, a, b)] = error
    # average over contexts, then speakers (pairs), then ordered phone pairs
    per_speaker: dict[tuple, list[float]] = {}
    for (_c, s, t, a, b), error in cells.items():
        per_speaker.setdefault((s, t, a, b), []).append(error)
    per_pair: dict[tuple, list[float]] = {}
    for (_s, _t, a, b), errors in per_speaker.items():
        per_pair.setdefault((a, b), []).append(mean(errors))
    return 100.0 * mean(mean(v) for v in per_pair.values())


def _cell(its: list[dict], c: tuple, s: str, t: str, a: str, b: str, distance: str) -> float | None:
    big_a = [it for it in its if (it["context"], it["speaker"], it["phone"]) == (c, s, a)]
    big_b = [it for it in its if (it["context"], it["speaker"], it["phone"]) == (c, s, b)]
    big_x = [it for it in its if (it["context"], it["speaker"], it["phone"]) == (c, t, a)]
    right, total = 0.0, 0
    for ix, x in enumerate(big_x):
        for ia, item_a in enumerate(big_a):
            if s == t and ia == ix:
                continue
            for item_b in big_b:
                dax = dtw(item_a["frames"], x["frames"], distance)
                dbx = dtw(item_b["frames"], x["frames"], distance)
                right += 1.0 if dax < dbx else 0.5 if dax == dbx else 0.0
                total += 1
    return None if total == 0 else 1.0 - right / total
