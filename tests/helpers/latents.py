"""Synthetic probe inputs: speaker-clustered latents with or without language."""

from __future__ import annotations

import numpy as np

from harness.plugin.components import resolve_params
from harness.plugin.registry import load_registry


def make_latents(
    languages: dict[str, int],
    clips: int = 3,
    dim: int = 16,
    language_scale: float = 3.0,
    speaker_scale: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latents with a centre per language (scaled by language_scale; 0 = no language
    information), an offset per speaker and unit noise per clip."""
    rng = np.random.default_rng(seed)
    rows, labels, groups = [], [], []
    for language, n_speakers in languages.items():
        centre = language_scale * rng.normal(size=dim)
        for s in range(n_speakers):
            offset = speaker_scale * rng.normal(size=dim)
            for _ in range(clips):
                rows.append(centre + offset + rng.normal(size=dim))
                labels.append(language)
                groups.append(f"{language}-spk{s}")
    return np.array(rows), np.array(labels), np.array(groups)


def registered(name: str):
    """The built-in probe component ``name``."""
    return load_registry(autoload=False).get("probe", name)


def create(name: str, **given):
    """A built-in probe with ``given`` parameters (checked) and its component."""
    component = registered(name)
    params, problems = resolve_params(component.params, given, where=name)
    assert not problems
    return component, component.create(**params)
