"""Case 3 of the suite: the Lie-bracket commuting check, time per point.

Model: the depth-2 diagonal network `w = u*u - v*v` with `d` outputs (`D = 2d`; headline
`d = 50`), at random points of its domain (the positive orthant, as `G.check_commuting`
draws them).

- riemflow: `G.check_commuting(points)` on `N` points (headline `N = 1000`): all brackets
  `[grad G_i, grad G_j]`, exact (autograd forward over reverse), batched in chunks.
- baseline, hand-written per point: the gradient fields `X = autograd.jacobian(G.fn)(x)`
  (exact), their derivatives along each field by central differences of that Jacobian,
  `dX_j[X_i] ~ (X(x + h X_i) - X(x - h X_i))_j / 2h` with `h = eps^(1/3) |x| / |X_i|`, and
  the former relative bracket `|[X_i, X_j]| / (|dX_j X_i| + |dX_i X_j|)`
  (`CommutingReport.max_term_ratio`). This was the fastest of the honest
  per-point loops tried (exact forward-over-reverse per point was ~3.5x slower at d = 50,
  reverse-over-reverse `jacobian(jacobian)` ~15x slower at d = 25). Being slow, it runs on
  the first `n_base` points only; both are reported per point.

Agreement: riemflow's bracket terms `dX_j[X_i]` against the finite differences (relative,
tolerance 1e-6), both verdicts "commuting".
"""

from __future__ import annotations

import time

import autograd
import numpy as np

import riemflow as rf

SIZES = {"full": [12, 25, 50], "quick": [12, 25, 50]}
POINTS = {"full": 1000, "quick": 64}
BASE_POINTS = {"full": 20, "quick": 4}
HEADLINE = 50
FD_TOL = 1e-6
MAX_REPEATS = 3  # the per-point baseline dominates a repeat's time


def fd_brackets(fn, x: np.ndarray):
    """Bracket terms `T[i, j] = dX_j[X_i]` at one point by central differences: `(d, d, D)`."""
    jac = autograd.jacobian(fn)
    X = jac(x)
    step = np.finfo(float).eps ** (1 / 3) * max(1.0, float(np.max(np.abs(x))))
    terms = np.empty((X.shape[0],) + X.shape)
    for i, field in enumerate(X):
        h = step / max(float(np.max(np.abs(field))), 1e-300)
        terms[i] = (jac(x + h * field) - jac(x - h * field)) / (2.0 * h)
    return terms


def relative_brackets(terms: np.ndarray) -> np.ndarray:
    """`|T_ij - T_ji| / (|T_ij| + |T_ji|)` (0/0 = 0), as `CommutingReport` defines it."""
    bracket = np.linalg.norm(terms - np.swapaxes(terms, 0, 1), axis=-1)
    scale = np.linalg.norm(terms, axis=-1)
    scale = scale + scale.T
    return np.divide(bracket, scale, out=np.zeros_like(bracket), where=scale > 0)


def baseline_check(fn, pts: np.ndarray):
    worst = 0.0
    terms = None
    for x in pts:
        terms = fd_brackets(fn, x)
        worst = max(worst, float(np.max(relative_brackets(terms))))
    return worst, terms


def rows(sizes, repeats: int, *, mode: str = "full", **_):
    from benchmarks._harness import Row, Timed, run_arms

    n_points, n_base = POINTS[mode], BASE_POINTS[mode]
    repeats = min(repeats, MAX_REPEATS)
    out = []
    for d in sizes:
        G, _ = rf.models.diagonal_network(d, 2, alpha=1.0)
        pts = G.geometry.sample(np.random.default_rng(d), n_points)

        def ours(_k, G=G, pts=pts):
            start = time.perf_counter()
            report = G.check_commuting(pts)
            return Timed((time.perf_counter() - start) / len(pts), report)

        def theirs(_k, G=G, pts=pts):
            start = time.perf_counter()
            result = baseline_check(G.fn, pts[:n_base])
            return Timed((time.perf_counter() - start) / n_base, result)

        G.check_commuting(pts[:2])  # warm-up (cheap): first-call detection, imports
        fd_brackets(G.fn, pts[0])
        arms = {"riemflow": ours, "baseline": theirs}
        times, outs, _ = run_arms(arms, repeats, warmup=False)
        report = outs["riemflow"][-1]
        base_worst, fd_terms = outs["baseline"][-1]
        last = pts[n_base - 1 : n_base]
        terms = np.asarray(G.traced.bracket_terms(last)[0])[0]
        fd_diff = float(np.max(np.abs(terms - fd_terms)) / np.max(np.abs(terms)))
        checks = {
            "fd_rel_diff": fd_diff,
            "max_bracket": report.max_bracket,
            "max_term_ratio": report.max_term_ratio,
            "fd_max_bracket": base_worst,
        }
        agree = report.passed and fd_diff <= FD_TOL and base_worst <= FD_TOL
        common = dict(
            case="3",
            name="check_commuting",
            size=f"d={d}",
            size_value=d,
            unit="pt",
            baseline=times["baseline"],
            note=f"diagonal network D={2 * d}; riemflow on {n_points} points, "
            f"baseline (finite differences, per point) on {n_base}",
        )
        row = Row(riemflow=times["riemflow"], checks=checks, agree=agree, **common)
        if d == HEADLINE:
            row.target = "ratio < 1"
            row.met = row.ratio < 1
        out.append(row)
    return out
