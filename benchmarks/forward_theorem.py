"""Benchmark: the forward theorem at scale (issue 4; part of the issue-8 suite).

Depth-2 diagonal network, d = 1000 (D = 2000), n = 200 squared-loss samples.

1. `verify_equivalence` end to end (gradient flow + mirror flow + comparison): wall time.
2. riemflow's `gradient_flow` against a hand-written NumPy analytic-gradient flow with the
   same `solve_ivp` method and tolerances, measured alternately in the same run; the ratio
   of medians is reported (target <= 1.5).

Run: `python benchmarks/forward_theorem.py [--repeats N]`. Machines are shared and noisy:
only ratios measured side by side in one run mean anything.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy.integrate import solve_ivp

import riemflow as rf


def problem(d=1000, n=200, alpha=0.1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(n)
    w_true = np.zeros(d)
    w_true[:5] = rng.choice([-1.0, 1.0], 5)
    y = X @ w_true + 0.01 * rng.standard_normal(n)
    G, x0 = rf.models.diagonal_network(d, 2, alpha=alpha)
    return X, y, G, x0


def numpy_flow(X, y, x0, t_span, rtol, atol):
    """The baseline a researcher would write: analytic gradient of L(u^2 - v^2)."""
    n, d = X.shape

    def rhs(_, x):
        u, v = x[:d], x[d:]
        g = X.T @ (X @ (u * u - v * v) - y) / n
        return np.concatenate([-2.0 * u * g, 2.0 * v * g])

    return solve_ivp(rhs, t_span, x0, method="DOP853", rtol=rtol, atol=atol)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main(repeats: int = 7, horizon: float = 50.0) -> dict:
    X, y, G, x0 = problem()
    loss = rf.losses.squared(X, y)
    t_span, rtol = (0.0, horizon), 1e-10
    atol = 1e-12 * np.abs(x0)  # riemflow's default, given to both

    verify_times = []
    for _ in range(max(1, repeats // 2)):
        elapsed, report = timed(
            lambda: rf.verify_equivalence(loss, t_span, parametrization=G, x0=x0)
        )
        verify_times.append(elapsed)
    ours, base = [], []
    for _ in range(repeats):  # alternate, so drifts in machine load hit both alike
        t_rf, traj = timed(lambda: rf.gradient_flow(G, loss, x0, t_span, rtol=rtol, atol=atol))
        t_np, sol = timed(lambda: numpy_flow(X, y, x0, t_span, rtol, atol))
        ours.append(t_rf)
        base.append(t_np)
    d = X.shape[1]
    w_np = sol.y[:d, -1] ** 2 - sol.y[d:, -1] ** 2
    ratios = [a / b for a, b in zip(ours, base, strict=True)]
    result = {
        "verify_equivalence_s": statistics.median(verify_times),
        "verify_max_deviation": report.max_deviation,
        "gradient_flow_s": statistics.median(ours),
        "numpy_flow_s": statistics.median(base),
        "ratio_median": statistics.median(ours) / statistics.median(base),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "rhs_evaluations": (traj.n_evaluations, int(sol.nfev)),
        "final_w_difference": float(np.max(np.abs(traj.w_final - w_np))),
    }
    print(f"depth-2 diagonal network, d={d}, D={2 * d}, n={X.shape[0]}, t in {t_span}, rtol={rtol}")
    print(
        "  verify_equivalence at its default rtol=1e-12 (both flows + comparison): "
        f"{result['verify_equivalence_s']:.2f} s"
        f", max deviation {result['verify_max_deviation']:.2e}"
    )
    print(
        f"  gradient_flow {result['gradient_flow_s'] * 1e3:.1f} ms vs NumPy "
        f"{result['numpy_flow_s'] * 1e3:.1f} ms (median of {repeats}); ratio "
        f"{result['ratio_median']:.2f} (per-pair spread {result['ratio_min']:.2f}-"
        f"{result['ratio_max']:.2f}; target <= 1.5)"
    )
    print(
        f"  RHS evaluations {result['rhs_evaluations']}, final |w_rf - w_np| "
        f"{result['final_w_difference']:.1e}"
    )
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    for horizon in (50.0, 2000.0):  # early phase, and training to convergence
        main(args.repeats, horizon)
