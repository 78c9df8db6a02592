"""Benjamini-Hochberg adjusted p-values (R `p.adjust(method = "BH")`), ignoring NaN (untested) entries."""

from __future__ import annotations

import numpy as np


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    if len(tested) == 0:
        return adjusted
    order = tested[np.argsort(p[tested], kind="stable")[::-1]]
    m = len(tested)
    ranks = np.arange(m, 0, -1)
    adjusted[order] = np.minimum(1.0, np.minimum.accumulate(p[order] * m / ranks))
    return adjusted
