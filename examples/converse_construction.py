"""The converse on a curved potential: a numerical Nash embedding of R(w) = -log(1 - |w|^2).

The Hessian metric of `R(w) = -log(1 - |w|^2)` on the disc is curved, so no map into
`R^2` is isometric (docs/concepts.md, "The converse via Nash embedding").
`commuting_parametrization` fits an embedding `F: K -> R^4` of the box `K = [-1/2, 1/2]^2` with
`dF^T dF ~ hess R` (Chebyshev collocation, Levenberg-Marquardt, degree refinement) and returns `G =
F^{-1}` on `M = F(K)`. The script checks, on the numbers:

1. the metric is curved (`check_flat`) and the isometry defect reaches the requested
   tolerance, at two tolerances;
2. gradient flow on `M` tracks the mirror flow of `R`, with a deviation that shrinks with
   the defect (about 0.1-0.3 times it here);
3. the gradient fields of `G` commute up to the defect, and a long gradient flow on `M`
   ends at the Bregman projection of `R` (`implicit_bias`);
4. `P.save(path)` and `riemflow.converse.load(path, R, box)` round-trip the embedding
   exactly, and `load` refuses another potential.

Run: python examples/converse_construction.py   (raises if a check fails)
"""

import tempfile
from pathlib import Path

import numpy as np

import riemflow as rf
from riemflow.converse import load


def check(ok: bool, what: str) -> None:
    """Print the outcome of one check; raise on failure (the script then exits non-zero)."""
    print(f"  [{'ok' if ok else 'FAILED'}] {what}")
    if not ok:
        raise RuntimeError(f"check failed: {what}")


def main() -> None:
    R = rf.potentials.log_ball(2)
    box = [(-0.5, 0.5), (-0.5, 0.5)]

    print("1. a curved metric, embedded in R^4")
    flatness = R.check_flat()
    print("  ", flatness)
    check(not flatness.passed and flatness.max_curvature > 0.1, "hess R is curved: D > d needed")
    built = {}
    for tol in (3e-4, 1e-6):
        P = rf.commuting_parametrization(R, box, tol=tol)
        built[tol] = P
        steps = ", ".join(f"degree {s.degree}: {s.defect:.1e}" for s in P.history)
        print(f"   tol={tol:g}: {P}\n     defect per degree: {steps}")
        check(P.ambient_dim == 4 and P.isometry_defect <= tol, f"defect <= {tol:g} in R^4")
    coarse, P = built[3e-4], built[1e-6]

    print("2. gradient flow on M vs mirror flow of R")
    X = np.array([[1.0, 0.5]])
    y = np.array([0.3])
    loss = rf.losses.squared(X, y)
    w0 = np.array([0.1, -0.2])
    deviation = {}
    for name, Q in (("coarse", coarse), ("fine", P)):
        rep = rf.verify_equivalence(
            loss,
            (0.0, 3.0),
            parametrization=Q,
            legendre=R,
            w0=w0,
            n_times=16,
            tol=Q.isometry_defect,
        )
        deviation[name] = rep.max_deviation
        print(f"   {name} (defect {Q.isometry_defect:.2e}): {rep}")
        check(rep.passed, f"{name}: deviation <= isometry defect")
    check(deviation["fine"] < 1e-2 * deviation["coarse"], "the deviation shrinks with the defect")

    print("3. commuting fields and the implicit bias on the constructed manifold")
    brackets = P.check_commuting(n_samples=16, rtol=1e3 * P.isometry_defect)
    print("  ", brackets)
    check(brackets.passed and brackets.max_bracket < 1e-4, "brackets vanish up to the defect")
    limit = rf.gradient_flow(P, loss, P.point_over(w0), (0.0, 40.0))
    bias = rf.implicit_bias(R, X, y, w0)
    gap = np.max(np.abs(limit.w_final - bias))
    other = np.max(np.abs(bias - rf.convex.min_norm(X, y)))
    print(
        f"   gradient flow on M at T=40: loss {limit.loss[-1]:.1e}, w(T) = "
        f"{limit.w_final.round(6)}; Bregman projection {bias.round(6)} (gap {gap:.1e}); "
        f"min-norm interpolant is {other:.2f} away"
    )
    check(gap < 1e-7, "w(T) = argmin {D_R(w, w0) : Xw = y}")

    print("4. save and load")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log_ball.npz"
        P.save(path)
        print(f"   wrote {path.name}: {path.stat().st_size / 1024:.0f} KiB")
        Q = load(path, R, box)
        print("  ", Q)
        points = np.random.default_rng(0).uniform(-0.5, 0.5, (200, 2))
        same_map = np.array_equal(Q.embedding(points), P.embedding(points))
        same_metric = np.array_equal(Q.embedding.jacobian(points), P.embedding.jacobian(points))
        check(same_map and same_metric, "F and dF are bit-identical after the round trip")
        check(Q.isometry_defect == P.isometry_defect, "the defect is restored")
        again = rf.gradient_flow(Q, loss, Q.point_over(w0), (0.0, 40.0))
        check(np.array_equal(again.w_final, limit.w_final), "the reloaded flow is bit-identical")
        try:
            load(path, R.scaled(2.0), box)
        except rf.errors.InputError as err:
            print(f"   load with 2 R: {type(err).__name__}: {err}")
            refused = True
        else:
            refused = False
        check(refused, "load refuses a potential that is not the saved one")
    print("all checks passed")


if __name__ == "__main__":
    main()
