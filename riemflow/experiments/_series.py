"""Helpers on sampled time series shared by the reproductions."""

from __future__ import annotations

import numpy as np


def first_crossing(t, values, level) -> float:
    """First time `values` (decreasing through `level`) reaches `level`, interpolated
    linearly between samples; `nan` if it never does.

    Examples:
        >>> from riemflow.experiments._series import first_crossing
        >>> first_crossing([0.0, 1.0, 2.0], [1.0, 0.5, 0.0], 0.25)
        1.5
    """
    t = np.asarray(t, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    below = np.flatnonzero(values <= level)
    if below.size == 0:
        return float("nan")
    k = int(below[0])
    if k == 0:
        return float(t[0])
    a, b = values[k - 1], values[k]
    frac = (a - level) / (a - b) if a != b else 1.0
    return float(t[k - 1] + frac * (t[k] - t[k - 1]))
