"""Case 1 of the suite: the forward theorem at scale.

Depth-2 diagonal network `w = u*u - v*v` with `alpha = 0.1`, `n = 200` squared-loss samples,
`d` outputs (`D = 2d`; the headline size is `d = 1000`).

- `gradient_flow`: riemflow's `gradient_flow` against a hand-written NumPy analytic-gradient
  flow with the same `solve_ivp` method (DOP853), `rtol = 1e-10` and per-coordinate `atol`
  (riemflow's default `1e-12 |x0|`, given to both). Target: ratio <= 1.5 at `d = 1000`.
- `verify_equivalence`: riemflow's end-to-end check (gradient flow + closed-form mirror flow
  + comparison, at its default `rtol = 1e-12`, 101 comparison times) against the same work
  written by hand in NumPy (both flows with `solve_ivp`, the hyperbolic-entropy mirror map
  `w = 2 alpha^2 sinh(4 mu)`, the same relative gap). No target: the price of the checks.

Run alone: `python benchmarks/forward_theorem.py [--repeats N]` (the old report, kept for
`tests/test_scale.py`); in the suite: `python -m benchmarks.run --cases 1`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy.integrate import solve_ivp

import riemflow as rf

HORIZON = 2000.0  # training to convergence (the early phase t <= 50 takes ~60 steps)
ALPHA = 0.1


def problem(d=1000, n=200, alpha=ALPHA, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(n)
    w_true = np.zeros(d)
    w_true[:5] = rng.choice([-1.0, 1.0], 5)
    y = X @ w_true + 0.01 * rng.standard_normal(n)
    G, x0 = rf.models.diagonal_network(d, 2, alpha=alpha)
    return X, y, G, x0


def numpy_flow(X, y, x0, t_span, rtol, atol, t_eval=None):
    """The baseline a researcher would write: analytic gradient of L(u^2 - v^2)."""
    n, d = X.shape

    def rhs(_, x):
        u, v = x[:d], x[d:]
        g = X.T @ (X @ (u * u - v * v) - y) / n
        return np.concatenate([-2.0 * u * g, 2.0 * v * g])

    return solve_ivp(rhs, t_span, x0, method="DOP853", rtol=rtol, atol=atol, t_eval=t_eval)


def numpy_verify(X, y, x0, t_span, *, rtol=1e-12, n_times=101, alpha=ALPHA):
    """`verify_equivalence` by hand: both flows in NumPy, then the relative gap of `w`.

    Mirror flow in the dual variable, `dmu/dt = -grad L(w(mu))`, `w = 2 alpha^2 sinh(4 mu)`
    (the hyperbolic entropy's inverse mirror map), from `mu = 0`; tolerances as riemflow's
    defaults (`atol = 1e-12 |x0|` on the primal side, `1e-12` on `mu`).
    """
    n, d = X.shape
    t_eval = np.linspace(t_span[0], t_span[1], n_times)
    sol = numpy_flow(X, y, x0, t_span, rtol, 1e-12 * np.abs(x0), t_eval=t_eval)
    w_grad = (sol.y[:d] ** 2 - sol.y[d:] ** 2).T
    beta = 2.0 * alpha**2

    def rhs(_, mu):
        return -X.T @ (X @ (beta * np.sinh(4.0 * mu)) - y) / n

    mirror = solve_ivp(
        rhs, t_span, np.zeros(d), method="DOP853", rtol=rtol, atol=1e-12, t_eval=t_eval
    )
    w_mirror = beta * np.sinh(4.0 * mirror.y.T)
    scale = float(np.max(np.linalg.norm(w_grad, axis=1)))
    gap = np.linalg.norm(w_grad - w_mirror, axis=1) / max(scale, 1e-300)
    return float(np.max(gap)), w_grad


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


# -- the suite's rows ---------------------------------------------------------------------------
SIZES = {"full": [250, 1000, 4000], "quick": [100, 300, 1000]}
HEADLINE = 1000


def rows(sizes, repeats: int, **_):
    """Rows of case 1 for the suite: `gradient_flow` and `verify_equivalence` per size."""
    out = []
    for d in sizes:
        out.extend(_rows_at(d, repeats))
    return out


def _rows_at(d: int, repeats: int):
    from benchmarks._harness import Row, relative_gap, run_arms

    out = []
    X, y, G, x0 = problem(d)
    loss = rf.losses.squared(X, y)
    t_span, rtol = (0.0, HORIZON), 1e-10
    atol = 1e-12 * np.abs(x0)  # riemflow's default, given to both
    times, outs, _ = run_arms(
        {
            "riemflow": lambda _k: rf.gradient_flow(G, loss, x0, t_span, rtol=rtol, atol=atol),
            "baseline": lambda _k: numpy_flow(X, y, x0, t_span, rtol, atol),
        },
        repeats,
    )
    traj, sol = outs["riemflow"][-1], outs["baseline"][-1]
    w_np = sol.y[:d, -1] ** 2 - sol.y[d:, -1] ** 2
    diff = relative_gap(traj.w_final, w_np)
    row = Row(
        case="1",
        name="gradient_flow",
        size=f"d={d}",
        size_value=d,
        unit="call",
        riemflow=times["riemflow"],
        baseline=times["baseline"],
        checks={"w_rel_diff": diff, "rhs_evals": f"{traj.n_evaluations}/{int(sol.nfev)}"},
        agree=diff <= 1e-10,
        note=f"n=200, D={2 * d}, t in [0, {HORIZON:g}], DOP853, rtol=1e-10",
    )
    if d == HEADLINE:
        row.target = "ratio <= 1.5"
        row.met = row.ratio <= 1.5
    out.append(row)

    times, outs, _ = run_arms(
        {
            "riemflow": lambda _k: rf.verify_equivalence(loss, t_span, parametrization=G, x0=x0),
            "baseline": lambda _k: numpy_verify(X, y, x0, t_span),
        },
        repeats,
    )
    report = outs["riemflow"][-1]
    np_gap, w_np = outs["baseline"][-1]
    w_rf = report.trajectories[0].w
    traj_diff = relative_gap(w_rf, w_np)
    out.append(
        Row(
            case="1",
            name="verify_equivalence",
            size=f"d={d}",
            size_value=d,
            unit="call",
            riemflow=times["riemflow"],
            baseline=times["baseline"],
            checks={
                "deviation": report.max_deviation,
                "numpy_deviation": np_gap,
                "w_rel_diff": traj_diff,
            },
            agree=report.passed and np_gap <= 1e-8 and traj_diff <= 1e-10,
            note="both flows at rtol=1e-12, 101 comparison times",
        )
    )
    return out


# -- the original stand-alone report (tests/test_scale.py runs main) ----------------------------
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
    for horizon in (50.0, HORIZON):  # early phase, and training to convergence
        main(args.repeats, horizon)
