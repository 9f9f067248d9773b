"""Case 2 of the suite: pullback metric and tangent kernel on an immersed surface, batched.

The torus `F(theta, phi) = ((2 + 0.7 cos phi) cos theta, (2 + 0.7 cos phi) sin theta,
0.7 sin phi)` in `R^3`, as a geomstats `ImmersedSet` (`riemflow.spaces.immersed_manifold`)
in intrinsic coordinates, with a batch of `B` random points (headline `B = 1000`).

- `pullback metric`: riemflow's `g(z) = dF^T dF` (`Parametrization.geometry.metric_matrix`,
  one batched autograd Jacobian; every riemflow gradient, kernel and bracket on the surface
  goes through it) against geomstats 2.8's `PullbackMetric.metric_matrix` of the same
  `ImmersedSet` (`space.metric.metric_matrix`). Target: riemflow >= 10x faster
  (ratio <= 0.1), values equal to 1e-12.
- `tangent kernel`: riemflow's `G.kernel(z)`, `K = dG g^{-1} dG^T`, for
  `G(theta, phi) = (sin theta cos phi, theta phi)` on the torus, against the same formula
  assembled from geomstats: `g` from `PullbackMetric.metric_matrix`, `dG` from
  `geomstats.backend.autodiff.jacobian_vec`, then `np.linalg.solve`. Values equal to 1e-12.
"""

from __future__ import annotations

import autograd.numpy as anp
import geomstats.backend as gs
import numpy as np

import riemflow as rf

SIZES = {"full": [250, 1000, 4000], "quick": [100, 300, 1000]}
HEADLINE = 1000
TOL = 1e-12


def torus(z):
    theta, phi = z[..., 0], z[..., 1]
    ring = 2.0 + 0.7 * anp.cos(phi)
    return anp.stack([ring * anp.cos(theta), ring * anp.sin(theta), 0.7 * anp.sin(phi)], -1)


def model(z):
    return anp.stack([anp.sin(z[..., 0]) * anp.cos(z[..., 1]), z[..., 0] * z[..., 1]], -1)


def setup():
    space = rf.spaces.immersed_manifold(torus, 2, 3, name="torus")
    G = rf.Parametrization(model, space, name="G on the torus", vectorized=True)
    return space, G


def points(B: int, k: int) -> np.ndarray:
    return np.random.default_rng(1000 + k).uniform(-np.pi, np.pi, (B, 2))


def geomstats_kernel(space, fn, Z):
    g = np.asarray(space.metric.metric_matrix(Z))
    jac = np.asarray(gs.autodiff.jacobian_vec(fn)(Z))  # (B, d, m)
    fields = np.swapaxes(np.linalg.solve(g, np.swapaxes(jac, 1, 2)), 1, 2)
    K = np.einsum("bik,bjk->bij", jac, fields)
    return 0.5 * (K + np.swapaxes(K, 1, 2))


def rows(sizes, repeats: int, **_):
    from benchmarks._harness import Row, relative_gap, run_arms

    space, G = setup()
    out = []
    for B in sizes:
        times, outs, _ = run_arms(
            {
                "riemflow": lambda k, B=B: np.asarray(G.geometry.metric_matrix(points(B, k))),
                "baseline": lambda k, B=B: np.asarray(space.metric.metric_matrix(points(B, k))),
            },
            repeats,
        )
        diff = relative_gap(outs["riemflow"][-1], outs["baseline"][-1])
        row = Row(
            case="2",
            name="pullback metric",
            size=f"B={B}",
            size_value=B,
            unit="call",
            riemflow=times["riemflow"],
            baseline=times["baseline"],
            checks={"metric_rel_diff": diff, "metric_tol": TOL},
            agree=diff <= TOL,
            note="torus in R^3, riemflow vs geomstats PullbackMetric.metric_matrix",
        )
        if B == HEADLINE:
            row.target = "ratio <= 0.1"
            row.met = row.ratio <= 0.1
        out.append(row)

        times, outs, _ = run_arms(
            {
                "riemflow": lambda k, B=B: G.kernel(points(B, k)),
                "baseline": lambda k, B=B: geomstats_kernel(space, model, points(B, k)),
            },
            repeats,
        )
        diff = relative_gap(outs["riemflow"][-1], outs["baseline"][-1])
        out.append(
            Row(
                case="2",
                name="tangent kernel",
                size=f"B={B}",
                size_value=B,
                unit="call",
                riemflow=times["riemflow"],
                baseline=times["baseline"],
                checks={"kernel_rel_diff": diff, "kernel_tol": TOL},
                agree=diff <= TOL,
                note="K = dG g^-1 dG^T; baseline assembled from geomstats",
            )
        )
    return out
