"""Case 4 of the suite: the numerical mirror potential against its closed form.

Depth-2 diagonal network `w = u*u - v*v` with `u0 = v0 = alpha = 0.5` and `d` outputs
(`D = 2d`). riemflow's numerical construction, `mirror_potential(G, x0, closed_form=False)`,
against the closed form `riemflow.potentials.hyperbolic_entropy(d, alpha)`: the cost of one
evaluation of `R(w)`, `grad R(w)` and `hess R(w)` at fresh random `w in [-1, 1]^d` (new
points every repeat, so no cached joint flow is reused across repeats), and their largest
relative difference. The model is separable, so the construction takes the structured
route (one-dimensional problems on Chebyshev panels: Clenshaw sums per evaluation); the
`[joint flow]` variant rows force the general route (`structure=None`: joint-flow ODE
solves plus a Newton solve of `G(psi(x0; mu)) = w` per evaluation). Target: agreement
<= 1e-9 relative (`mirror_potential` documents ~1e-10); the cost ratio is reported, not
targeted.
"""

from __future__ import annotations

import time

import numpy as np

import riemflow as rf

SIZES = {"full": [2, 8, 32], "quick": [2, 8, 32]}
EVALS = {"full": 6, "quick": 2}
ALPHA = 0.5
TOL = 1e-9

OPS = {
    "R": lambda R, w: R(w),
    "grad R": lambda R, w: R.grad(w),
    "hess R": lambda R, w: R.hessian(w),
}


def rows(sizes, repeats: int, *, mode: str = "full", **_):
    out = []
    for d in sizes:
        G, x0 = rf.models.diagonal_network(d, 2, alpha=ALPHA)
        closed = rf.potentials.hyperbolic_entropy(d, ALPHA)
        for variant, structure in (("", "auto"), ("joint flow", None)):
            numerical = rf.mirror_potential(G, x0, closed_form=False, structure=structure)
            out.extend(_rows_at(d, numerical, closed, variant, repeats, EVALS[mode]))
    return out


def _rows_at(d, numerical, closed, variant, repeats, n_evals):
    from benchmarks._harness import Row, Timed, relative_gap, run_arms

    out = []
    for index, op in enumerate(OPS.values()):

        def evaluate(R, k, op=op, d=d, index=index):
            W = np.random.default_rng([d, k + 1, index]).uniform(-1, 1, (n_evals, d))
            start = time.perf_counter()
            values = [op(R, w) for w in W]
            return Timed((time.perf_counter() - start) / n_evals, np.array(values))

        times, outs, _ = run_arms(
            {
                "riemflow": lambda k, f=evaluate, R=numerical: f(R, k),
                "baseline": lambda k, f=evaluate, R=closed: f(R, k),
            },
            repeats,
        )
        pairs = zip(outs["riemflow"], outs["baseline"], strict=True)
        diff = max(relative_gap(a, b) for a, b in pairs)
        out.append(
            Row(
                case="4",
                name=f"mirror_potential {list(OPS)[index]}",
                variant=variant,
                size=f"d={d}",
                size_value=d,
                unit="eval",
                riemflow=times["riemflow"],
                baseline=times["baseline"],
                target=f"agreement <= {TOL:g}",
                met=diff <= TOL,
                checks={"rel_diff": diff, "tol": TOL},
                agree=diff <= TOL,
                note=f"numerical construction (route {numerical.report.route}) vs "
                f"closed-form hyperbolic entropy (alpha={ALPHA}), {n_evals} fresh points "
                "per repeat",
            )
        )
    return out
