"""Small fixtures in the layouts real downloads unpack to, for tests that
validate or run the shipped suites without the download."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def ravdess_download(root: Path) -> Path:
    """24 actors x 8 emotions x 2 statements of 0.25 s, as the Zenodo zip
    unpacks; each emotion a tone of its own pitch (shifted per actor), in noise."""
    rng = np.random.default_rng(0)
    t = np.arange(4000) / 16000
    for actor in range(1, 25):
        for emotion in range(1, 9):
            for statement in (1, 2):
                name = f"03-01-{emotion:02d}-01-{statement:02d}-01-{actor:02d}.wav"
                path = root / f"Actor_{actor:02d}" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                pitch = 150.0 * emotion * (1 + 0.01 * (actor % 5))
                audio = 0.3 * np.sin(2 * np.pi * pitch * t) + rng.normal(0, 0.02, t.size)
                sf.write(path, audio.astype(np.float32), 16000)
    return root
