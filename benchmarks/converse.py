"""Benchmark: the converse construction (issue 5; part of the issue-8 suite).

1. `commuting_parametrization` on the d = 2 target, -log(1 - |w|^2) on [-0.5, 0.5]^2, to an
   isometry defect of 1e-8: wall time and the defect-against-degree table.
2. The same collocation problem at the final degree solved by a dense, unstructured
   Levenberg-Marquardt (`scipy.optimize.least_squares(method="lm")`, MINPACK, with a
   finite-difference Jacobian), from the same initial map and given the same wall-time
   budget: the defect it reaches.
3. With `--d3`: the d = 3 target, -log det on 2x2 SPD matrices (a box around the identity)
   to 1e-6 (about a minute).

Run: `python benchmarks/converse.py [--d3]`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import least_squares

import riemflow as rf
from riemflow.converse import _Collocation
from riemflow.embedding import ChebyshevEmbedding


def structured(R, box, tol, **kwargs):
    start = time.perf_counter()
    P = rf.commuting_parametrization(R, box, tol=tol, **kwargs)
    return time.perf_counter() - start, P


def dense_baseline(R, box, degree: int, ambient_dim: int, budget_s: float, seed: int = 0):
    """MINPACK LM on the same collocation residuals, finite-difference Jacobian, from the
    flat embedding of the metric at the center (no continuation, no structure)."""
    d = R.dim
    lower, upper = np.array(box, dtype=float).T
    col = _Collocation(R, lower, upper, degree, int(np.ceil(1.5 * (degree + 1))))
    nb = (degree + 1) ** d
    center = 0.5 * (lower + upper)
    evals, evecs = np.linalg.eigh(np.asarray(R.hessian(center)))
    root = evecs @ np.diag(np.sqrt(evals)) @ evecs.T
    C0 = np.zeros((degree + 1,) * d + (ambient_dim,))
    for i in range(d):
        index = [0] * d
        index[i] = 1
        C0[tuple(index)][:d] = root[:, i] * 0.5 * (upper[i] - lower[i])
    rng = np.random.default_rng(seed)
    C0[(2,) + (0,) * (d - 1)][d:] = 0.05 * rng.standard_normal(ambient_dim - d)
    scale = float(np.max(np.abs(col.target)))
    deadline = time.perf_counter() + budget_s

    def residual(c):
        if time.perf_counter() > deadline:
            raise TimeoutError
        C = c.reshape(nb, ambient_dim)
        dF = [B @ C for B in col.B]
        return (
            np.stack([np.sum(dF[i] * dF[j], axis=1) for i, j in col.pairs]) - col.target
        ).ravel() / scale

    best = {"c": C0.ravel()}

    def tracked(c):
        r = residual(c)
        best["c"] = c
        return r

    start = time.perf_counter()
    try:
        least_squares(tracked, C0.ravel(), method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15)
    except TimeoutError:
        pass
    elapsed = time.perf_counter() - start
    F = ChebyshevEmbedding(best["c"].reshape(C0.shape), lower, upper)
    check = rf.domains.Box(lower, upper).sample(np.random.default_rng(1), 256)
    return elapsed, F.defect(R, check)


def main(d3: bool = False) -> dict:
    R = rf.potentials.log_ball(2)
    box = [(-0.5, 0.5), (-0.5, 0.5)]
    seconds, P = structured(R, box, 1e-8)
    print(
        f"d=2 -log(1-|w|^2) on [-0.5,0.5]^2: defect {P.isometry_defect:.2e} in {seconds:.1f} s"
        f" (target 1e-8 in < 10 s), D={P.ambient_dim}"
    )
    for step in P.history:
        print(
            f"  degree {step.degree:2d}: defect {step.defect:.2e} (nodes {step.n_nodes}^2, "
            f"{step.iterations} LM iterations, {step.seconds:.1f} s)"
        )
    final = P.history[-1].degree
    base_s, base_defect = dense_baseline(R, box, final, P.ambient_dim, budget_s=3 * seconds)
    print(
        f"  dense unstructured LM (MINPACK, finite-difference Jacobian) at degree {final}: "
        f"defect {base_defect:.2e} after {base_s:.1f} s (budget 3x the structured time)"
    )
    result = {
        "d2_seconds": seconds,
        "d2_defect": P.isometry_defect,
        "baseline_seconds": base_s,
        "baseline_defect": base_defect,
    }
    if d3:
        R3 = rf.potentials.log_det(2)
        box3 = [(1.0, 2.0), (-0.3, 0.3), (1.0, 2.0)]
        seconds3, P3 = structured(R3, box3, 1e-6, ambient_dim=6)
        print(
            f"d=3 -log det on 2x2 SPD: defect {P3.isometry_defect:.2e} in {seconds3:.1f} s "
            f"(target 1e-6 in < 120 s), D={P3.ambient_dim}"
        )
        for step in P3.history:
            print(f"  degree {step.degree:2d}: defect {step.defect:.2e} ({step.seconds:.1f} s)")
        result.update(d3_seconds=seconds3, d3_defect=P3.isometry_defect)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d3", action="store_true", help="also run the d = 3 target")
    main(parser.parse_args().d3)
