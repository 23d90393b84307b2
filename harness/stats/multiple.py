"""Multiple-comparison correction shared by every family of tests."""

from __future__ import annotations

import gc
from collections.abc import Sequence

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests


def holm(pvalues: Sequence[float] | pd.Series) -> np.ndarray:
    """Holm-adjusted p-values; a test that could not run (NaN) stays NaN and
    does not count towards the family size."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        # statsmodels' Holm branch calls gc.collect(), which walks every live
        # object (a report holds many matplotlib ones): freezing them first
        # makes that collection cheap without changing what it frees
        gc.freeze()
        try:
            out[ok] = multipletests(p[ok], method="holm")[1]
        finally:
            gc.unfreeze()
    return out
