"""Woodworth et al. (2020): the paper's potentials against riemflow's, and every claim of
the reproduction at the QUICK size, checked on the numbers."""

import numpy as np
import pytest
from scipy.integrate import quad

import riemflow as rf
from riemflow.errors import InputError, NonFiniteError
from riemflow.experiments import woodworth as W


@pytest.fixture(scope="module")
def quick():
    return W.run(**W.QUICK, progress=False)


# -- the paper's closed forms ------------------------------------------------------------------
def test_q_of_depth_two_is_the_papers_formula():
    z = np.array([-50.0, -1.0, -1e-9, 0.0, 1e-6, 0.3, 7.0, 1e8])
    direct = 2 - np.sqrt(4 + z**2) + z * np.arcsinh(z / 2)
    # the rewritten form is exact where the direct one cancels (|z| << 1: q ~ z^2 / 4)
    np.testing.assert_allclose(W.q(z, 2)[np.abs(z) > 1e-3], direct[np.abs(z) > 1e-3], rtol=1e-13)
    np.testing.assert_allclose(W.q(np.array([1e-6]), 2), [0.25e-12], rtol=1e-9)


@pytest.mark.parametrize("depth", [3, 4, 5.5])
def test_h_closed_forms(depth):
    p = depth / (depth - 2.0)
    s = np.array([-0.999, -0.5, 0.0, 0.2, 0.9, 1 - 1e-9])
    direct = (1 - s) ** -p - (1 + s) ** -p  # exact enough away from s = 0
    np.testing.assert_allclose(W.h(s, depth), direct, rtol=1e-12, atol=1e-300)
    # near 0 the direct difference cancels; the series is 2 p s
    np.testing.assert_allclose(W.h(np.array([1e-12]), depth), [2 * p * 1e-12], rtol=1e-10)
    # the inverse: round trip over 30 decades of z. s is a float64 next to +-1 for large z,
    # so z = h(s) is only determined to p eps / (1 - |s|) relative
    z = np.concatenate([-np.logspace(-15, 15, 31), [0.0], np.logspace(-15, 15, 31)])
    s = W.h_inverse(z, depth)
    assert np.all(np.abs(s) < 1)
    slack = 1e-13 + 4 * p * np.finfo(float).eps / (1 - np.abs(s))
    assert np.all(np.abs(W.h(s, depth) - z) <= slack * np.abs(z))


@pytest.mark.parametrize("depth", [3, 4])
def test_q_prime_is_h_inverse_and_q_vanishes_at_zero(depth):
    assert W.q(np.array([0.0]), depth)[0] == 0.0
    for z in (0.3, 2.0, 40.0, -5.0):
        integral, _ = quad(lambda t: float(W.h_inverse(t, depth)), 0.0, z, epsabs=0, epsrel=1e-12)
        # q_D(z) = int_0^z h_D^{-1}: quadrature to 1e-12 against the closed form z s - H(s)
        assert W.q(np.array([z]), depth)[0] == pytest.approx(integral, rel=1e-10)


@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("alpha", [1e-3, 0.7, 30.0])
def test_paper_potential_is_riemflows_up_to_the_derived_constant(depth, alpha):
    c = W.riemflow_scale(alpha, depth)
    Q = W.paper_potential(1, alpha, depth)
    G, x0 = rf.models.diagonal_network(1, depth=depth, alpha=alpha)
    # riemflow's closed form, docs/concepts.md, "Closed forms for diagonal networks"
    R = rf.mirror_potential(G, x0)
    w = (np.sinh(np.linspace(-20, 20, 41)) * alpha**depth)[:, None]
    # two closed forms in float64 (the round-off of riemflow's root solve): 1e-12 relative
    np.testing.assert_allclose(Q(w), c * R(w), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(Q.grad(w), c * R.grad(w), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(Q.hessian(w)[:, 0, 0], c * R.hessian(w)[:, 0, 0], rtol=1e-10, atol=0)
    # both vanish with their gradient at w0 = 0: no affine term between them
    assert Q(np.zeros(1)) == 0.0 and float(Q.grad(np.zeros(1))[0]) == 0.0


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_paper_potential_is_a_consistent_legendre_function(depth):
    Q = W.paper_potential(3, 0.4, depth)
    w = np.array([0.02, -1.5, 30.0])
    s = Q.grad(w)
    np.testing.assert_allclose(Q.grad_conjugate(s), w, rtol=1e-13)
    # Fenchel: Q(w) + Q*(s) = <s, w>
    assert Q(w) + Q.conjugate(s) == pytest.approx(float(s @ w), rel=1e-13)
    np.testing.assert_allclose(Q.hessian_conjugate(s), np.linalg.inv(Q.hessian(w)), rtol=1e-12)
    report = Q.check()
    assert report.passed, report


def test_paper_potential_keeps_accuracy_in_the_kernel_regime():
    # grad Q*(s) = alpha^D h(s) ~ 2 p alpha^D s for tiny s: written as 2 cosh^p sinh, no
    # difference of two ~alpha^D numbers (riemflow's depth-3 form loses ~8 digits here)
    Q = W.paper_potential(1, 100.0, 3)
    s = np.array([1e-12])
    np.testing.assert_allclose(Q.grad_conjugate(s), 2 * 3 * 1e6 * s, rtol=1e-10)
    np.testing.assert_allclose(Q.conjugate(s), 0.5 * 2 * 3 * 1e6 * s[0] ** 2, rtol=1e-10)


# -- the projection -----------------------------------------------------------------------------
def test_two_point_problem_limits():
    # x_1 + 2 x_2 = 2: basis pursuit (0, 1), min-norm (0.4, 0.8). The dual point is
    # s = (lambda, 2 lambda); as alpha -> 0, s_2 = grad Q(w_2 ~ 1) -> 1 for D >= 3, so
    # w_1 -> alpha^D h_D(1/2); for D = 2, w_2 = 2 w_1 cosh(lambda) ~ w_1^2 / alpha^2, so
    # w_1 -> alpha. Leading order only: 1e-3 relative
    X, y = np.array([[1.0, 2.0]]), np.array([2.0])
    alpha = 1e-4
    for depth in (2, 3, 4):
        rich = W.projection(X, y, alpha, depth)
        first = alpha if depth == 2 else alpha**depth * float(W.h(0.5, depth))
        assert rich[0] == pytest.approx(first, rel=1e-3)
        # feasible to 1e-8, or to what float64 resolves at alpha^D = 1e-16 (~1e-8 here)
        assert rich[1] == pytest.approx(1.0 - rich[0] / 2, rel=1e-7)
        kernel = W.projection(X, y, 100.0, depth)
        np.testing.assert_allclose(kernel, [0.4, 0.8], atol=1e-8)  # the gap is O(alpha^-D)


@pytest.fixture(scope="module")
def small_problem():
    return W.sparse_problem(60, 15, 2, seed=3)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_projections_with_both_potentials_coincide(small_problem, depth):
    P = small_problem
    for alpha in (0.05, 0.5, 5.0):
        paper = W.projection(P.X, P.y, alpha, depth)
        ours = W.projection(P.X, P.y, alpha, depth, potential="riemflow")
        # two dual solves to |Xw - y| <= 1e-8 (Newton overshoots it by orders): 1e-9
        np.testing.assert_allclose(ours, paper, rtol=0, atol=1e-9 * np.abs(paper).max())


def test_path_following_does_not_change_the_projection(small_problem):
    P = small_problem
    for depth, alpha in ((2, 1e-3), (3, 0.02)):  # where a cold dual solve converges too
        cold = rf.implicit_bias(
            W.paper_potential(60, alpha, depth), P.X, P.y, np.zeros(60), tol=1e-10
        )
        warm = W.projection(P.X, P.y, alpha, depth, tol=1e-10)
        np.testing.assert_allclose(warm, cold, rtol=0, atol=1e-9 * np.abs(cold).max())


def test_sparse_problem_conventions():
    P = W.sparse_problem(200, 50, 4, noise_var=0.25, seed=7)
    assert P.X.shape == (50, 200) and np.count_nonzero(P.w_star) == 4
    np.testing.assert_allclose(np.abs(P.w_star[P.w_star != 0]), 0.5)
    assert P.population_error(P.w_star) == 0.25
    assert P.excess_error(np.zeros(200)) == pytest.approx(1.0)
    again = W.sparse_problem(200, 50, 4, noise_var=0.25, seed=7)
    np.testing.assert_array_equal(P.y, again.y)


# -- the reproduction at the QUICK size -----------------------------------------------------------
def test_every_claim_agrees_at_the_quick_size(quick):
    table = W.compare(quick)
    assert len(table) == 13
    assert table["agrees"].all(), table.to_string()


def test_quick_numbers(quick):
    ref = quick[quick["kind"] == "reference"].set_index("method")
    breg = quick[quick["method"] == "bregman"]
    # every limit interpolates, and its l1 norm is at least basis pursuit's (up to the 1e-9
    # feasibility of HiGHS' vertex)
    assert (breg["l1"] >= ref.loc["basis_pursuit", "l1"] * (1 - 1e-8)).all()
    # and at most the min-l2 interpolant's l1 norm plus a hair (monotone interpolation)
    assert (breg["l1"] <= ref.loc["min_l2", "l1"] * (1 + 1e-8)).all()
    for D in (2, 3, 4):
        l1 = breg[breg["depth"] == D].sort_values("alpha")["l1"].to_numpy()
        # monotone in alpha, up to the feasibility of the projections (1e-8 relative)
        assert np.all(np.diff(l1) >= -1e-7 * l1[:-1]), (D, l1)
    # the flows reach the projection to 1e-8 (LSODA at rtol 1e-10 over t = 1e4)
    flows = quick[quick["method"] == "flow"]
    assert (flows["gap"] < 1e-7).all() and (flows["final_loss"] < 1e-25).all()
    # riemflow's depth-4 potential cannot solve at alpha = 100 (cancellation in R*): recorded
    failed = quick[(quick["method"] == "riemflow_potential") & (quick["status"] != "ok")]
    assert set(zip(failed["depth"], failed["alpha"], strict=True)) <= {(4, 1e-3), (4, 100.0)}


def test_store_resumes_and_plot(tmp_path, quick):
    store = tmp_path / "w.db"
    kwargs = {
        **W.QUICK,
        "alphas": (0.1, 10.0),
        "depths": (2,),
        "flow_points": (),
        "check_alphas": (),
    }
    first = W.run(**kwargs, store=store, progress=False)
    again = W.run(**kwargs, store=store, progress=False)
    assert list(first["method"]) == [
        "basis_pursuit",
        "min_l2",
        "potential_check",
        "potential_check",
        "bregman",
        "bregman",
    ]
    np.testing.assert_array_equal(first["l1"].to_numpy(), again["l1"].to_numpy())
    fig = W.plot(quick)
    assert len(fig.axes) == 2


# -- bad inputs ----------------------------------------------------------------------------------
def test_bad_inputs():
    with pytest.raises(InputError, match="depth"):
        W.h(0.1, 2)
    with pytest.raises(InputError, match="depth"):
        W.q(1.0, 1.5)
    with pytest.raises(InputError, match="depth"):
        W.h_inverse(1.0, True)
    with pytest.raises(NonFiniteError):
        W.q(np.array([np.nan]), 3)
    with pytest.raises(InputError, match="alpha"):
        W.paper_potential(2, 0.0, 2)
    with pytest.raises(InputError, match="alpha"):
        W.paper_potential(2, 1e-200, 4)  # alpha^D underflows
    with pytest.raises(InputError, match="alpha"):
        W.riemflow_scale(-1.0, 3)
    with pytest.raises(InputError, match="n_samples"):
        W.sparse_problem(10, 10, 2)
    with pytest.raises(InputError, match="sparsity"):
        W.sparse_problem(10, 5, 11)
    with pytest.raises(InputError, match="noise_var"):
        W.sparse_problem(10, 5, 2, noise_var=-1.0)
    X, y = np.array([[1.0, 2.0]]), np.array([2.0])
    with pytest.raises(InputError, match="potential"):
        W.projection(X, y, 0.1, 2, potential="bogus")
    with pytest.raises(InputError, match="step"):
        W.projection(X, y, 0.1, 2, step=1.0)
    with pytest.raises(InputError, match="X"):
        W.projection(np.ones(3), y, 0.1, 2)
    with pytest.raises(InputError, match="X"):
        W.flow_limit(np.ones(3), y, 0.1, 2)
    with pytest.raises(InputError, match="t_final"):
        W.flow_limit(X, y, 0.1, 2, t_final=0.0)


def test_transition_alpha_needs_a_crossing(quick):
    with pytest.raises(InputError, match="crossing"):
        W.transition_alpha(quick[quick["alpha"].isna() | (quick["alpha"] >= 10)], 2)


# -- the paper's size ------------------------------------------------------------------------------
@pytest.mark.slow
def test_paper_size_reproduction():
    df = W.run(
        alphas=W.ALPHAS[::2],
        flow_points=((2, 0.1), (4, 0.3)),
        check_alphas=(1e-4, 100.0),
        progress=False,
    )
    table = W.compare(df)
    assert table["agrees"].all(), table.to_string()
    where = [W.transition_alpha(df, D) for D in (2, 3, 4)]
    # measured 0.045, 0.17, 0.27 on instance 0 (d=1000, n=100, 5-sparse)
    assert where[0] < 0.1 < where[1] < where[2] < 0.5
