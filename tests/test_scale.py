"""Checks at research sizes (slow: run with `pytest -m slow`)."""

import numpy as np
import pytest

import riemflow as rf

pytestmark = pytest.mark.slow


def test_commuting_check_on_a_wide_deep_network():
    G, x0 = rf.models.diagonal_network(20, depth=3, form="product", alpha=0.5)  # D = 120
    report = G.check_commuting(n_samples=200, seed=0)
    assert report.passed and report.max_bracket < 1e-12 and report.n_points == 200
    assert G.check_regular(n_samples=200).passed


def test_noncommuting_sensing_at_size():
    A = np.random.default_rng(0).standard_normal((10, 6, 6))
    G, _ = rf.models.matrix_sensing(A, rank=3)
    report = G.check_commuting(n_samples=100, seed=0)
    assert not report.passed and report.max_bracket > 0.1


def test_small_initialization_approaches_the_min_l1_interpolator():
    """alpha -> 0: the limit of the flow approaches basis pursuit (scipy linprog, HiGHS),
    slowly (the hyperbolic entropy's bias decays like 1 / log(1 / alpha))."""
    from scipy.optimize import linprog

    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 20))
    y = X[:, 0] - 0.5 * X[:, 3]
    lp = linprog(np.ones(40), A_eq=np.hstack([X, -X]), b_eq=y, bounds=(0, None), method="highs")
    w_l1 = lp.x[:20] - lp.x[20:]
    gaps = []
    for alpha in (1e-2, 1e-6, 1e-20):
        G, x0 = rf.models.diagonal_network(20, depth=2, alpha=alpha)
        traj = rf.gradient_flow(G, rf.losses.squared(X, y), x0, (0.0, 4000.0))
        assert traj.loss[-1] < 1e-6
        gaps.append(np.linalg.norm(traj.w_final - w_l1))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-2


def test_forward_theorem_at_benchmark_size():
    """The benchmark's problem (d = 1000, D = 2000, n = 200): the equivalence holds at scale
    and the flows reproduce the hand-written NumPy flow; the timings are the benchmark's
    business (`benchmarks/forward_theorem.py`), not asserted here."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "forward_theorem.py"
    spec = importlib.util.spec_from_file_location("forward_theorem", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.main(repeats=1, horizon=200.0)
    assert result["verify_max_deviation"] < 1e-8
    assert result["final_w_difference"] < 1e-12
