"""Labarrière et al. (2024): the mirror map of deep diagonal networks from a general
initialization against quadrature, autograd and the layer dynamics, and every claim of the
reproduction at the QUICK size, checked on the numbers."""

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

import riemflow as rf
from riemflow.errors import DomainError, InputError, NonFiniteError, NotRegularError, ShapeError
from riemflow.experiments import labarriere as lab


@pytest.fixture(scope="module")
def quick():
    return lab.run(**lab.QUICK, progress=False)


def _layers(case: str, depth: int) -> np.ndarray:
    """Initializations `(L, 3)` of every kind the mirror map distinguishes."""
    U = lab.random_layers(depth, 3, 1.0, seed=depth, spread=1.5)
    if case == "zero":  # one vanishing layer: v0 = 0, theta0 = 0, no tie
        U[depth - 1, 0] = 0.0
    elif case == "tie":  # the two smallest layers tied in magnitude (opposite signs)
        U[1] = -U[0] * 0.5
        U[0] = U[0] * 0.5
    elif case == "balanced":  # all delta_k = 0
        U = 0.7 * np.sign(U)
    return U


CASES = [(c, L) for c in ("general", "zero", "tie", "balanced") for L in (2, 3, 4)]


def _thetas(init, n: int, seed: int) -> np.ndarray:
    """Points of the domain: magnitudes e^{+-4} around |theta0| (or around 1 where
    theta0 = 0), any sign without ties, theta0's sign with them."""
    rng = np.random.default_rng(seed)
    center = np.where(init.theta0 != 0, np.abs(init.theta0), 1.0)
    mags = center * np.exp(rng.uniform(-4.0, 4.0, size=(n, init.dim)))
    signs = np.where(init.ties > 0, np.sign(init.theta0), rng.choice([-1.0, 1.0], (n, init.dim)))
    return mags * signs


def _v_by_brentq(init, theta: float, i: int) -> float:
    """The smallest layer from theta = S v prod_k sqrt(v^2 + delta_k), by scipy's brentq."""
    dk, S = init.deltas[:, i], init.sign[i]

    def f(v):
        return S * v * np.sqrt(np.prod(v * v + dk)) - theta

    R = abs(theta) ** (1.0 / init.depth) * 1.01 + 1e-300
    lo = 0.0 if init.ties[i] > 0 and init.v0[i] > 0 else -R
    hi = 0.0 if init.ties[i] > 0 and init.v0[i] < 0 else R
    return brentq(f, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)


def _quad_mirror_map(init, v: float, i: int, lower: float) -> float:
    dk = init.deltas[:, i]
    val, _ = quad(
        lambda w: 1.0 / np.sqrt(np.prod(w * w + dk)), lower, v, epsabs=0.0, epsrel=1e-13, limit=200
    )
    return init.sign[i] * val


# -- the mirror map ------------------------------------------------------------------------------
@pytest.mark.parametrize(("case", "depth"), CASES)
def test_mirror_map_against_quadrature(case, depth):
    init = lab.DeepInit(_layers(case, depth))
    theta = _thetas(init, 6, seed=depth)
    mu = lab.mirror_map(theta, init)
    v = init.smallest_layer(theta)
    for b in range(theta.shape[0]):
        for i in range(init.dim):
            # v(theta): an independent root solve
            ref_v = _v_by_brentq(init, theta[b, i], i)
            assert v[b, i] == pytest.approx(ref_v, rel=1e-13, abs=1e-300)
            ref = _quad_mirror_map(init, ref_v, i, init.v0[i])
            assert abs(mu[b, i] - ref) <= 1e-10 * max(1.0, abs(ref)), (b, i, mu[b, i], ref)
    if np.all(init.ties == 0):  # the normalization, S int_0^v
        zero = lab.mirror_map(theta, init, origin="zero")
        for i in range(init.dim):
            ref = _quad_mirror_map(init, v[0, i], i, 0.0)
            assert abs(zero[0, i] - ref) <= 1e-10 * max(1.0, abs(ref))
        # it differs from riemflow's by the constant S phi(v0) only
        shift = zero - mu
        np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-13)
    else:
        with pytest.raises(DomainError, match="origin"):
            lab.mirror_map(theta, init, origin="zero")


def test_mirror_map_closed_forms():
    # L = 2, one coordinate, u = (1, 2): delta = 3, S = 1, grad Q = arcsinh(v / sqrt 3) - c
    U = np.array([[1.0, -1.0], [2.0, 2.0]])
    v = np.array([0.3, -2.5])
    theta = np.sign(U[1]) * v * np.sqrt(v**2 + 3.0)
    mu = lab.mirror_map(theta, U)
    expected = np.sign(U[1]) * (np.arcsinh(v / np.sqrt(3.0)) - np.arcsinh(U[0] / np.sqrt(3.0)))
    np.testing.assert_allclose(mu, expected, rtol=1e-14)
    # L = 3 with a tie (|u| = 0.5, 0.5, 2): int_{v0}^{v} dw / (|w| sqrt(w^2 + 3.75))
    U = np.array([[0.5], [-0.5], [2.0]])
    init = lab.DeepInit(U)
    assert init.ties.tolist() == [1] and init.sign.tolist() == [-1.0]
    v = 1.3
    theta = np.array([-v * v * np.sqrt(v**2 + 3.75)])
    c = np.sqrt(3.75)
    F = lambda w: -np.arctanh(c / np.sqrt(w * w + 3.75)) / c  # noqa: E731  (antiderivative)
    np.testing.assert_allclose(lab.mirror_map(theta, init), [-(F(v) - F(0.5))], rtol=1e-13)


@pytest.mark.parametrize(("case", "depth"), [("general", 3), ("tie", 4), ("balanced", 3)])
def test_riemflows_numerical_forward_potential_agrees(case, depth):
    # rf.mirror_potential of the product model: joint flows of the layer gradient fields and
    # a Newton solve per point (docs/concepts.md, "Closed forms for diagonal networks"), nothing
    # shared with this module
    U = _layers(case, depth)
    init = lab.DeepInit(U)
    G, x0 = rf.models.diagonal_network(3, depth=depth, init=list(U), signed=False, form="product")
    R = rf.mirror_potential(G, x0)
    theta = init.theta0 * np.array([[1.6, 0.7, 1.2], [0.5, 1.3, 0.9]])
    ours = lab.mirror_map(theta, init)
    np.testing.assert_allclose(R.grad(theta), ours, rtol=0, atol=1e-11 * np.abs(ours).max())


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_balanced_init_is_depth_times_the_power_potential(depth):
    # all |u_j(0)| = a: theta = +-|v|^L, the layers move K by 1/L against (u^L)'^2: Q = L R
    U = np.array([[0.8, 0.8, -0.8]] + [[0.8, -0.8, 0.8]] * (depth - 1))
    init = lab.DeepInit(U)
    theta = _thetas(init, 8, seed=1)
    R = rf.potentials.power_network(np.full(3, 0.8), None, depth=depth)
    s = np.sign(init.theta0)
    expected = depth * s * np.asarray(R.grad(np.abs(theta)))
    np.testing.assert_allclose(lab.mirror_map(theta, init), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("case", "depth"), CASES)
def test_inverse_round_trips(case, depth):
    init = lab.DeepInit(_layers(case, depth))
    theta = _thetas(init, 20, seed=3)
    back = lab.inverse_mirror_map(lab.mirror_map(theta, init), init)
    # d theta = K d mu: relative error ~ eps |mu| K / |theta| (cancellation where theta -> 0)
    mu = lab.mirror_map(theta, init)
    cond = 1.0 + np.abs(mu) * init.kernel(theta) / np.abs(theta)
    assert np.all(np.abs(back - theta) <= 1e-13 * cond * np.abs(theta))
    # mu -> theta -> mu on dual points inside the range
    lo, hi = init.dual_range()
    rng = np.random.default_rng(4)
    span_lo = np.where(np.isfinite(lo), lo, -10.0)
    span_hi = np.where(np.isfinite(hi), hi, 10.0)
    dual = span_lo + (span_hi - span_lo) * rng.uniform(0.02, 0.98, size=(20, 3))
    again = lab.mirror_map(lab.inverse_mirror_map(dual, init), init)
    np.testing.assert_allclose(again, dual, rtol=0, atol=1e-11 * max(1.0, np.abs(dual).max()))


def test_dual_range_and_domain():
    init = lab.DeepInit(_layers("general", 3))
    lo, hi = init.dual_range()
    assert np.all(np.isfinite(lo) & np.isfinite(hi))  # L >= 3: bounded (finite-time blow-up)
    assert np.all(lo < 0) and np.all(hi > 0)  # mu(theta0) = 0 inside
    # just inside: huge theta; outside: a DomainError from the public function (NaN from
    # the DeepInit method, which line searches read as "outside")
    near = lab.inverse_mirror_map(hi - 1e-6 * (hi - lo), init)
    assert np.all(np.isfinite(near)) and np.all(np.abs(near) > 1e3)
    with pytest.raises(DomainError, match="mu"):
        lab.inverse_mirror_map(hi + 1e-3, init)
    assert np.all(np.isnan(init.inverse_mirror_map(hi + 1e-3)))
    Q = lab.potential(init)
    with pytest.raises(DomainError):
        Q.grad_conjugate(hi + 1e-3)
    # L = 2: the whole line
    lo2, hi2 = lab.DeepInit(_layers("general", 2)).dual_range()
    assert np.all(np.isinf(lo2)) and np.all(np.isinf(hi2))
    # ties: theta keeps the sign of theta0, grad Q -> -inf (in S sigma) as theta -> 0
    tied = lab.DeepInit(_layers("balanced", 3))
    box = tied.domain()
    assert np.all((box.lower == 0) == (tied.theta0 > 0))
    # L = 3 balanced (|u| = 0.7): grad Q = S sigma (1/|v0| - 1/|v|), |v| = |theta|^(1/3)
    tiny = lab.mirror_map(tied.theta0 * 1e-12, tied)
    np.testing.assert_allclose(np.abs(tiny), 1 / 0.7e-4 - 1 / 0.7, rtol=1e-12)


# -- derivatives ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("case", "depth"), CASES)
def test_hessian_closed_form_is_the_derivative_of_the_mirror_map(case, depth):
    init = lab.DeepInit(_layers(case, depth))
    theta = _thetas(init, 5, seed=5)
    h = 1e-5 * np.abs(theta)
    fd = (lab.mirror_map(theta + h, init) - lab.mirror_map(theta - h, init)) / (2 * h)
    closed = lab.mirror_hessian(theta, init)
    np.testing.assert_allclose(fd, closed, rtol=1e-7)
    # and 1 / hess = K = sum_j prod_{k != j} u_k^2 at the layers on the flow through theta
    U = init.layers(init.smallest_layer(theta))  # (B, L, d)
    K = np.sum(np.prod(U**2, axis=1)[:, None, :] / U**2, axis=1)
    np.testing.assert_allclose(1.0 / closed, K, rtol=1e-12)
    # the Legendre's Hessian and its autograd value gradient agree with them
    Q = lab.potential(init)
    np.testing.assert_allclose(np.diagonal(Q.hessian(theta), axis1=1, axis2=2), closed, rtol=1e-13)


@pytest.mark.parametrize(("case", "depth"), CASES)
def test_mirror_flow_identity_along_the_layer_flow(case, depth):
    """d/dt grad Q(theta(t)) = -grad L(theta(t)) for the layer gradient flow, at random
    points of the conserved set, with autograd's derivatives (no ODE solve)."""
    U0 = _layers(case, depth)
    init = lab.DeepInit(U0)
    L, d = U0.shape
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((2, d)), rng.standard_normal(2)

    def G(x):
        return anp.prod(anp.reshape(x, (L, d)), axis=0)

    def loss(theta):
        return 0.5 * anp.sum((anp.dot(X, theta) - y) ** 2)

    layer_grad = autograd.grad(lambda x: loss(G(x)))
    for theta in _thetas(init, 4, seed=8):
        x = init.layers(init.smallest_layer(theta)).ravel()  # on the flow from U0
        np.testing.assert_allclose(G(x), theta, rtol=1e-13)
        xdot = -layer_grad(x)
        theta_dot = autograd.make_jvp(G)(x)(xdot)[1]
        target = -autograd.grad(loss)(theta)
        # closed form: hess Q(theta) theta_dot = -grad L(theta)
        closed = lab.mirror_hessian(theta, init) * theta_dot
        np.testing.assert_allclose(closed, target, rtol=1e-11, atol=1e-12 * np.abs(target).max())
        # the mirror map itself, differentiated by central differences along the flow
        h = 1e-6 / max(1.0, float(np.abs(xdot).max()))
        fd = (lab.mirror_map(G(x + h * xdot), init) - lab.mirror_map(G(x - h * xdot), init)) / (
            2 * h
        )
        np.testing.assert_allclose(fd, target, rtol=1e-6, atol=1e-8 * np.abs(target).max())
    # off the conserved set (another delta) the identity fails: the test can tell
    x = init.layers(init.smallest_layer(theta)).ravel()
    x = x.copy()
    x[d : 2 * d] *= 1.5
    x[:d] /= 1.5
    xdot = -layer_grad(x)
    wrong = lab.mirror_hessian(G(x), init) * autograd.make_jvp(G)(x)(xdot)[1]
    assert np.max(np.abs(wrong + autograd.grad(loss)(G(x)))) > 1e-3 * np.abs(wrong).max()


@pytest.mark.parametrize(("case", "depth"), [("general", 3), ("tie", 4), ("balanced", 2)])
def test_potential_is_a_consistent_legendre_function(case, depth):
    init = lab.DeepInit(_layers(case, depth))
    Q = lab.potential(init)
    assert Q(init.theta0) == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose(Q.grad(init.theta0), 0.0, atol=1e-15)
    theta = _thetas(init, 3, seed=9)[0]
    mu = Q.grad(theta)
    # Fenchel: Q(theta) + Q*(mu) = <mu, theta>, with Q*(mu) = sum (v^2 - v0^2) / 2
    assert Q(theta) + Q.conjugate(mu) == pytest.approx(float(mu @ theta), rel=1e-12, abs=1e-13)
    v = init.smallest_layer(theta)
    assert Q.conjugate(mu) == pytest.approx(float(np.sum(v**2 - init.v0**2) / 2), rel=1e-12)
    # grad of the value (central differences) is the mirror map: checks Q = <mu, theta> - Q*
    for i in range(3):
        e = np.zeros(3)
        e[i] = 1e-6 * abs(theta[i])
        fd = (Q(theta + e) - Q(theta - e)) / (2 * e[i])
        assert fd == pytest.approx(mu[i], rel=1e-6, abs=1e-8)
    # autograd through the primitives: the gradient of the value
    np.testing.assert_allclose(autograd.grad(Q.fn)(theta), mu, rtol=1e-12, atol=1e-14)
    # grad Q* = theta (central differences of the conjugate)
    for i in range(3):
        e = np.zeros(3)
        e[i] = 1e-6 * max(1.0, abs(mu[i]))
        fd = (Q.conjugate(mu + e) - Q.conjugate(mu - e)) / (2 * e[i])
        assert fd == pytest.approx(theta[i], rel=1e-6, abs=1e-8)
    np.testing.assert_allclose(Q.hessian_conjugate(mu), np.linalg.inv(Q.hessian(theta)), rtol=1e-12)
    report = Q.check()
    assert report.passed, report


# -- the flows -----------------------------------------------------------------------------------
def test_flow_point_balanced_depth_two():
    row = lab.flow_point(2, "balanced", seed=1, dim=4, n_samples=2, t_final=150.0)[0]
    assert row["trajectory_gap"] < 1e-9
    assert row["limit_gap"] < 1e-9 and row["final_loss"] < 1e-24
    assert row["conservation"] < 1e-10


def test_every_claim_agrees_at_the_quick_size(quick):
    table = lab.compare(quick)
    assert len(table) == 10
    assert table["agrees"].all(), table.to_string()


def test_quick_numbers(quick):
    flows = quick[quick["kind"] == "flow"]
    assert len(flows) == 4
    # LSODA at rtol 1e-12 for both flows: measured 5e-12 .. 2e-11
    assert (flows["trajectory_gap"] < 1e-10).all()
    assert (flows["dual_gap"] < 1e-9).all()
    assert (flows["limit_gap"] < 1e-10).all() and (flows["final_loss"] < 1e-25).all()
    assert (flows["conservation"] < 1e-10).all() and (flows["rowspace"] < 1e-9).all()
    pot = quick[quick["kind"] == "potential"]
    gaps = ["quad_gap", "roundtrip_gap", "balanced_gap", "forward_gap"]
    assert (pot[gaps].to_numpy() < 1e-13).all()
    speed = quick[quick["kind"] == "speed"].pivot_table(
        index="alpha", columns="depth", values=["t_escape", "t_target"]
    )
    measured = {  # (alpha, depth): (t_escape, t_target), seed 0, d = 6, n = 3
        (0.2, 2): (0.511, 34.68),
        (0.2, 3): (1.654, 244.5),
        (0.2, 4): (3.134, 1066.0),
        (1.0, 2): (0.0796, 31.34),
        (1.0, 3): (0.0619, 21.62),
        (1.0, 4): (0.0512, 10.14),
        (2.0, 2): (0.0388, 9.34),
        (2.0, 3): (0.00614, 1.684),
        (2.0, 4): (0.00136, 0.1388),
    }
    for (alpha, depth), (esc, tgt) in measured.items():
        # crossing times interpolated on 100 points per chunk: 2%
        assert speed["t_escape"].loc[alpha, depth] == pytest.approx(esc, rel=0.02)
        assert speed["t_target"].loc[alpha, depth] == pytest.approx(tgt, rel=0.02)
    # the kernel at initialization: L alpha^(2L-2) times the pattern's spread
    k0 = quick[quick["kind"] == "speed"].set_index(["alpha", "depth"])["kernel0"]
    assert k0.loc[(2.0, 4)] > k0.loc[(2.0, 3)] > k0.loc[(2.0, 2)]
    assert k0.loc[(0.2, 4)] < k0.loc[(0.2, 3)] < k0.loc[(0.2, 2)]


def test_compare_detects_failures(quick):
    broken = quick.copy()
    broken.loc[broken["kind"] == "flow", "trajectory_gap"] = 1e-6
    swapped = broken.copy()
    fast = swapped["kind"] == "speed"
    swapped.loc[fast, "t_escape"] = 1.0 / swapped.loc[fast, "t_escape"]
    table = lab.compare(swapped).set_index("claim")
    assert not table["agrees"].all()
    assert table.filter(like="mirror flow of Q", axis=0)["agrees"].eq(False).all()
    assert table.filter(like="escapes", axis=0)["agrees"].eq(False).all()


def test_plot(quick):
    fig = lab.plot(quick)
    assert len(fig.axes) == 2


# -- bad inputs ----------------------------------------------------------------------------------
def test_bad_inputs():
    with pytest.raises(ShapeError, match="layers0"):
        lab.DeepInit(np.ones(3))
    with pytest.raises(ShapeError, match="layers0"):
        lab.DeepInit(np.ones((1, 3)))  # one layer
    with pytest.raises(NonFiniteError, match="layers0"):
        lab.DeepInit(np.array([[1.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(NotRegularError, match="two zero layers"):
        lab.DeepInit(np.array([[1.0, 0.0], [1.0, 0.0], [2.0, 3.0]]))
    U = _layers("general", 3)
    with pytest.raises(ShapeError, match="theta"):
        lab.mirror_map(np.ones(4), U)
    with pytest.raises(ShapeError, match="theta"):
        lab.mirror_map(np.ones((2, 2, 3)), U)
    with pytest.raises(NonFiniteError, match="theta"):
        lab.mirror_map(np.array([1.0, np.inf, 0.5]), U)
    with pytest.raises(NonFiniteError, match="mu"):
        lab.inverse_mirror_map(np.array([np.nan, 0.0, 0.0]), U)
    with pytest.raises(InputError, match="origin"):
        lab.mirror_map(np.ones(3), U, origin="bogus")
    tied = lab.DeepInit(_layers("balanced", 3))
    with pytest.raises(DomainError, match="sign of theta0"):
        lab.mirror_map(-tied.theta0, tied)
    with pytest.raises(DomainError, match="sign of theta0"):
        lab.mirror_map(np.zeros(3), tied)
    with pytest.raises(DomainError):
        lab.potential(tied).grad(-tied.theta0)
    with pytest.raises(InputError, match="init"):
        lab.flow_point(2, "bogus")
    with pytest.raises(InputError, match="n_samples"):
        lab.problem(3, 3)
    with pytest.raises(InputError, match="negative"):
        lab.random_layers(2, 3, negative=2.0)
    with pytest.raises(InputError, match="alpha"):
        lab.random_layers(2, 3, alpha=0.0)
