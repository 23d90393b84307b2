"""The suites shipped in suites/ that run without a download, shrunk so that
all of them run in a few minutes: the same conditions, models, probes and
task (so their reports have the shipped design's shape), with two seeds, a
few short clips per speaker, two or three speakers per role and ten training
steps. The flagship (pretrain.toml: 24 runs even shrunk, several CPU minutes)
is written as fake results in its design instead (tests/helpers/fake_results.py,
its conditions checked against the file). For reading reports, not numbers."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

from harness.testing import tiny_registry, to_toml

SUITES = Path(__file__).parent.parent.parent / "suites"
#: shipped suites that need a download (a Common Voice or RAVDESS folder)
NEEDS_DOWNLOAD = frozenset({"commonvoice", "ravdess"})


def shipped() -> list[str]:
    """The names of the shipped suites that run on the embedded corpus."""
    return sorted(p.stem for p in SUITES.glob("*.toml") if p.stem not in NEEDS_DOWNLOAD)


def _fewer(value: Any, most: int) -> Any:
    if isinstance(value, dict):
        return {k: _fewer(v, most) for k, v in value.items()}
    return min(int(value), most)


def shrunk(name: str, output: Path, cache: Path) -> dict[str, Any]:
    """Suite ``name`` as a dict, shrunk (see the module's docstring)."""
    suite = tomllib.loads((SUITES / f"{name}.toml").read_text(encoding="utf-8"))
    suite |= {"seeds": 2, "output": str(output), "cache": str(cache)}
    suite["executor"] = {"plugin": "local", "workers": 1, "in_process": True}
    dataset = suite["dataset"]
    if dataset.get("mode") == "keywords":
        # every voice says each keyword once: every class in every role
        dataset["keywords"] = dataset["clips_per_speaker"] = 4
    else:
        # prosody classes are balanced per speaker: one clip of each at least
        fewest = len(dataset.get("prosody", ())) or 3
        dataset["clips_per_speaker"] = min(dataset.get("clips_per_speaker", 8), fewest)
        dataset["word_list_size"] = 500
    dataset["clip_seconds"] = min(dataset.get("clip_seconds", 4.0), 1.5)
    splits = suite.setdefault("splits", {})
    for key in [k for k in splits if k.endswith("_speakers") or k.endswith("_by_language")]:
        splits[key] = _fewer(splits[key], 3 if key.startswith("probe") else 2)
    target = suite["target"]
    target |= {"max_steps": 10, "eval_every": 5}
    probing = suite.get("probing", {})
    if probing.get("probe_at"):
        # the same points as shares of the shrunk budget: the first, middle and last
        probing["probe_at"] = [0.0, 0.5, 1.0]
    target.pop("warmup_steps", None)
    training = suite.setdefault("training", {})
    training["batch_size"] = min(training.get("batch_size", 16), 4)
    classify = target.get("task") == "classify"
    training["segment_frames"] = min(training.get("segment_frames", 100), 50 if classify else 25)
    training["device"] = "cpu"
    for condition in suite.get("conditions", []):
        for key in ("steps", "pretrain_steps"):
            if key in condition:
                condition[key] = min(condition[key], 3)
    for model in suite.get("models", []):
        if "hidden_size" in model and model.get("plugin") != "wav2vec2":
            model["hidden_size"] = min(model["hidden_size"], 16)
    for extractor in suite.get("extractors", []):
        if extractor["plugin"] == "input_gradient":
            # 2 * max_lag + 1 frames must fit the shrunk clips (1.5 s: 151 frames)
            extractor["max_lag"] = min(extractor.get("max_lag", 90), 40)
    for probe in suite.get("probes", []):
        if probe["plugin"] in ("ridge", "linear_svc"):
            probe["n_permutations"] = min(probe.get("n_permutations", 20), 20)
        if probe["plugin"] == "tsne":
            probe["max_iter"] = 250
    return suite


def fake_flagship(base: Path) -> Path:
    """pretrain.toml's design (its name, question, conditions and labels, both
    models) as fake results, six seeds; return the output folder."""
    import dataclasses

    from helpers.fake_results import flagship_suite, write_fake_results

    suite = tomllib.loads((SUITES / "pretrain.toml").read_text(encoding="utf-8"))
    fake = dataclasses.replace(flagship_suite(), name=suite["name"], question=suite["question"])
    shipped = [(c["name"], c["label"]) for c in suite["conditions"]]
    assert [(c.name, c.label) for c in fake.conditions] == shipped, (
        "fake_results lags pretrain.toml"
    )
    assert [m.plugin for m in fake.models] == [m["plugin"] for m in suite["models"]]
    return write_fake_results(base / "pretrain", fake)


def report_folder(name: str, base: Path) -> Path:
    """A finished results folder of shipped suite ``name`` (see the module's docstring)."""
    return fake_flagship(base) if name == "pretrain" else run_shrunk(name, base)


def run_shrunk(name: str, base: Path) -> Path:
    """Run suite ``name`` shrunk, in this process; return its output folder."""
    from harness.run.execute import execute
    from harness.running.runner import run_suite
    from harness.spec.suite import load_suite

    base.mkdir(parents=True, exist_ok=True)
    path = base / f"{name}.toml"
    path.write_text(to_toml(shrunk(name, base / name, base / "cache")), encoding="utf-8")
    registry = tiny_registry()
    suite = load_suite(path, registry)
    outcome = run_suite(
        suite, execute=functools.partial(execute, registry=registry), registry=registry,
        progress=False,
    )  # fmt: skip
    assert outcome.ok, outcome.summary(tracebacks=len(outcome.failures))
    return outcome.output
