"""Functions swept by tests/test_sweep.py (importable by worker processes) and a runner
script for the kill-and-resume tests: `python sweep_functions.py STORE N_POINTS N_JOBS LOG`."""

from __future__ import annotations

import os
import sys
import time

import numpy as np


def noisy_norm(x, y, seed, log=None, pause=0.0):
    """A seeded random result: equal seeds give bit-equal values."""
    if log:
        with open(log, "a") as fh:
            fh.write(f"{x},{y}\n")
    if pause:
        time.sleep(pause)
    rng = np.random.default_rng(seed)
    return {"norm": float(np.hypot(x, y)), "noise": float(rng.standard_normal())}


def two_rows(x):
    return [{"k": 0, "value": x}, {"k": 1, "value": 2 * x}]


def fails_at_three(x):
    if x == 3:
        raise ValueError("x = 3 is refused")
    return {"value": x * x}


def interrupted_at_three(x):
    if x == 3:
        raise KeyboardInterrupt
    return {"value": x * x}


def squares(x):
    return {"value": x * x, "vector": np.arange(3.0) * x}


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    from riemflow.sweep import sweep
    from tests.data.sweep_functions import noisy_norm as fn

    store, n_points, n_jobs, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    df = sweep(
        fn,
        {"x": [float(i) for i in range(n_points)], "y": [1.0], "log": [log], "pause": [0.05]},
        store=store,
        n_jobs=n_jobs,
        progress=False,
    )
    print(len(df))
