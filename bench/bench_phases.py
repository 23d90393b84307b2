"""Where a finished suite's time went: each run's phases, per model.

Every run record holds the wall seconds of its phases (data, features,
training, latents, probes), measured inside the run, so the ratios below come
from one run of the suite on one machine, whatever else it was doing. Runs
whose probes include a figure-only probe for some seeds (t-SNE with
``seeds = [0]``) are shown apart.

    harness run suites/pretrain.toml --output /tmp/flagship
    python bench/bench_phases.py /tmp/flagship
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from harness.tables.results import load_results


def phases(output: Path) -> pd.DataFrame:
    results = load_results(output)
    rows = []
    for record in results.records.values():
        seconds = record.get("phase_seconds") or {}
        if not seconds:
            continue
        spec = record["spec"]
        drawn = any(
            p["plugin"] == "tsne" and spec["seed"] in (p["params"].get("seeds") or [spec["seed"]])
            for p in spec.get("probes", [])
        )
        rows.append({"model": spec["model"]["label"], "tsne": drawn, **seconds})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    frame = phases(args.output)
    table = frame.groupby(["model", "tsne"]).median(numeric_only=True)
    table["probes / training"] = table["probes"] / table["training"]
    table["runs"] = frame.groupby(["model", "tsne"]).size()
    with pd.option_context("display.width", 200):
        print("median wall seconds per run, by model and whether t-SNE ran")
        print(table.round(2).to_string())
        mean = frame.groupby("model").mean(numeric_only=True)
        mean["probes / training"] = mean["probes"] / mean["training"]
        print("\nmean over all runs (t-SNE's seeds included)")
        print(mean.round(2).to_string())


if __name__ == "__main__":
    main()
