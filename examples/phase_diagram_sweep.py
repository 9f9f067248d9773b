"""Kernel-to-rich phase diagram of diagonal networks, computed by a resumable sweep.

For the diagonal network `w = u^L - v^L` initialized at `u = v = alpha`, the limit of
gradient flow on under-determined least squares is the Bregman projection of the network's
potential (docs/concepts.md, "The implicit bias is a Bregman projection"): `w_alpha = argmin
{R_alpha(w) : Xw = y}`. Small `alpha` is the rich regime (`w_alpha -> ` the minimum-l1 interpolant,
basis pursuit), large `alpha` the kernel regime (`w_alpha ->` the minimum-l2 interpolant). This
script sweeps `alpha` (13 points, 1e-4 .. 1e2) x depth (2, 3) with `riemflow.sweep.sweep`, stores
the points in a temporary SQLite store, re-runs the sweep to show that nothing is recomputed,
and checks on the numbers:

1. small alpha: near basis pursuit, far from min-norm; large alpha: the reverse;
2. the transition is monotone in alpha, and deeper networks are closer to basis pursuit
   (the rich regime extends to larger alpha, Woodworth et al. 2020);
3. one point of the diagram agrees with an actual long gradient flow.

Run: python examples/phase_diagram_sweep.py [figure.png]   (raises if a check fails;
the figure is written only when a path is given)
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import riemflow as rf
from riemflow.sweep import load, sweep

ALPHAS = [float(a) for a in np.logspace(-4, 2, 13)]
DEPTHS = [2, 3]


def check(ok: bool, what: str) -> None:
    """Print the outcome of one check; raise on failure (the script then exits non-zero)."""
    print(f"  [{'ok' if ok else 'FAILED'}] {what}")
    if not ok:
        raise RuntimeError(f"check failed: {what}")


def regression(d: int = 20, n: int = 8, seed: int = 0):
    """A 2-sparse under-determined regression: `X` `(n, d)` Gaussian, `y = X w_true`."""
    X = np.random.default_rng(seed).standard_normal((n, d))
    w_true = np.zeros(d)
    w_true[[2, 11]] = [1.0, -1.5]
    return X, X @ w_true


def limit_point(alpha: float, depth: int) -> dict:
    """One point of the diagram: relative distances of the implicit-bias limit to the
    minimum-l1 and minimum-l2 interpolants (module level, so sweep workers can import it)."""
    X, y = regression()
    G, x0 = rf.models.diagonal_network(X.shape[1], depth=depth, alpha=alpha)
    R = rf.mirror_potential(G, x0)
    w = rf.implicit_bias(R, X, y, G(x0))
    l1, l2 = rf.convex.basis_pursuit(X, y), rf.convex.min_norm(X, y)
    return {
        "to_l1": float(np.linalg.norm(w - l1) / np.linalg.norm(l1)),
        "to_l2": float(np.linalg.norm(w - l2) / np.linalg.norm(l2)),
        "l1_norm": float(np.abs(w).sum()),
    }


def crossover(alphas: np.ndarray, to_l1: np.ndarray, to_l2: np.ndarray) -> float:
    """The alpha where `to_l1 = to_l2`, interpolated linearly in log alpha."""
    diff = np.log(to_l1) - np.log(to_l2)
    k = int(np.argmax(diff > 0))
    a, b = np.log(alphas[k - 1]), np.log(alphas[k])
    return float(np.exp(a + (b - a) * (-diff[k - 1]) / (diff[k] - diff[k - 1])))


def figure(frame, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for depth, marker in zip(DEPTHS, "os", strict=True):
        rows = frame[frame.depth == depth]
        ax.loglog(rows.alpha, rows.to_l1, marker + "-", label=f"L={depth}: to min-l1")
        ax.loglog(rows.alpha, rows.to_l2, marker + "--", label=f"L={depth}: to min-l2")
    ax.set_xlabel("initialization scale alpha")
    ax.set_ylabel("relative distance")
    ax.set_title("implicit bias of diagonal networks: rich (left) to kernel (right)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"   figure written to {path}")


def main(figure_path: str | None = None) -> None:
    points = {"depth": DEPTHS, "alpha": ALPHAS}
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "phase.db"
        start = time.perf_counter()
        frame = sweep(limit_point, points, store=store, progress=False)
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = sweep(limit_point, points, store=store, progress=False)
        second = time.perf_counter() - start
        stored = load(store)
    print(frame.drop(columns="seed").to_string(index=False, float_format="%.3e"))
    print(f"   sweep: {first:.2f} s; re-run on the same store: {second:.3f} s")

    print("1. the two regimes")
    check(len(stored) == len(frame) == len(ALPHAS) * len(DEPTHS), "every point stored once")
    check(again.equals(frame), "the re-run returns the stored points unchanged")
    X, y = regression()
    l1 = rf.convex.basis_pursuit(X, y)
    check(np.count_nonzero(np.abs(l1) > 1e-9) == 2, "basis pursuit recovers the 2-sparse signal")
    for depth in DEPTHS:
        rows = frame[frame.depth == depth]
        small, large = rows.iloc[0], rows.iloc[-1]
        check(
            small.to_l1 < 1e-2 and small.to_l2 > 1.0,
            f"L={depth}, alpha=1e-4: |w - w_l1| = {small.to_l1:.1e} (rich)",
        )
        check(
            large.to_l2 < 1e-6 and large.to_l1 > 0.5,
            f"L={depth}, alpha=1e2: |w - w_l2| = {large.to_l2:.1e} (kernel)",
        )

    print("2. shape of the transition")
    cross = {}
    for depth in DEPTHS:
        rows = frame[frame.depth == depth]
        to_l1, to_l2 = rows.to_l1.to_numpy(), rows.to_l2.to_numpy()
        check(bool(np.all(np.diff(to_l1) >= -1e-8)), f"L={depth}: |w - w_l1| grows with alpha")
        check(bool(np.all(np.diff(to_l2) <= 1e-8)), f"L={depth}: |w - w_l2| shrinks with alpha")
        check(
            bool(np.all(rows.l1_norm.to_numpy() >= np.abs(l1).sum() * (1 - 1e-9))),
            f"L={depth}: |w|_1 >= |w_l1|_1 = {np.abs(l1).sum():.4f} at every alpha",
        )
        cross[depth] = crossover(np.array(ALPHAS), to_l1, to_l2)
    print(
        f"   crossover |w - w_l1| = |w - w_l2| at alpha = {cross[2]:.3f} (L=2), "
        f"{cross[3]:.3f} (L=3)"
    )
    for depth in DEPTHS:  # rich side, alpha <= 1e-2: |w - w_l1| ~ alpha^slope
        rows = frame[(frame.depth == depth) & (frame.alpha <= 1.01e-2)]
        slope = np.polyfit(np.log(rows.alpha), np.log(rows.to_l1), 1)[0]
        print(f"   L={depth}: |w - w_l1| ~ alpha^{slope:.2f} for alpha <= 1e-2")
    deep, shallow = frame[frame.depth == 3], frame[frame.depth == 2]
    rich = np.array(ALPHAS) < 0.3
    check(
        bool(np.all(deep.to_l1.to_numpy()[rich] < shallow.to_l1.to_numpy()[rich])),
        "depth 3 is closer to basis pursuit than depth 2 for every alpha < 0.3",
    )
    check(cross[3] > cross[2], "the crossover moves to larger alpha with depth")

    print("3. one point against gradient flow")
    G, x0 = rf.models.diagonal_network(X.shape[1], depth=3, alpha=0.3)
    flow = rf.gradient_flow(G, rf.losses.squared(X, y), x0, (0.0, 400.0))
    w_star = rf.implicit_bias(rf.mirror_potential(G, x0), X, y, G(x0))
    gap = float(np.max(np.abs(flow.w_final - w_star)))
    print(f"   L=3, alpha=0.3: final loss {flow.loss[-1]:.1e}, |w(T) - implicit_bias| = {gap:.1e}")
    check(gap < 1e-6, "the sweep's limit is where gradient flow ends")

    if figure_path is not None:
        figure(frame, figure_path)
    print("all checks passed")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
