"""Azulay et al. (2021): the shape initialization, its potential against riemflow's, and every
claim of the reproduction at the QUICK size, checked on the numbers."""

import numpy as np
import pytest

import riemflow as rf
from riemflow.errors import InputError
from riemflow.experiments import azulay as A
from riemflow.experiments import woodworth as W


@pytest.fixture(scope="module")
def quick():
    return A.run(**A.QUICK, progress=False)


def test_shape_initialization():
    for alpha, s in ((1e-3, 0.0), (0.5, 0.9), (2.0, 0.999)):
        u0, v0 = A.shape_init(alpha, s)
        assert u0 * v0 == pytest.approx(alpha, rel=1e-14)
        assert v0 / u0 == pytest.approx((1 + s) / (1 - s), rel=1e-12)
        kappa = 2 * alpha * (1 + s**2) / (1 - s**2)
        assert A.effective_scale(alpha, s) == pytest.approx(kappa, rel=1e-13)
    G, x0 = A.model(4, 0.3, 0.5)
    np.testing.assert_array_equal(G(x0), np.zeros(4))


def test_riemflows_closed_form_is_the_forward_construction():
    # the product model's closed form (docs/concepts.md, "Closed forms for diagonal networks")
    # against the numerical potential built from the joint flow (ODE at rtol 1e-12): ~1e-10 relative
    G, x0 = A.model(2, 0.2, 0.9)
    R = rf.mirror_potential(G, x0)
    R_num = rf.mirror_potential(G, x0, closed_form=False)
    w = np.array([0.3, -1.2])
    np.testing.assert_allclose(R_num.grad(w), R.grad(w), rtol=1e-9)
    # w = kappa sinh(2 mu) along the flow: grad R = arcsinh(w / kappa) / 2
    kappa = A.effective_scale(0.2, 0.9)
    np.testing.assert_allclose(R.grad(w), 0.5 * np.arcsinh(w / kappa), rtol=1e-13)


@pytest.mark.parametrize(("alpha", "shape"), [(1e-6, 0.0), (1e-2, 0.99), (1.0, 0.5)])
def test_paper_potential_equals_riemflows(alpha, shape):
    Q = A.paper_potential(1, alpha, shape)
    G, x0 = A.model(1, alpha, shape)
    R = rf.mirror_potential(G, x0)
    w = (np.sinh(np.linspace(-25, 25, 51)) * A.effective_scale(alpha, shape))[:, None]
    # the same function written two ways, both cancellation-free: round-off only
    np.testing.assert_allclose(Q(w), R(w), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(Q.grad(w), R.grad(w), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(Q.hessian(w), R.hessian(w), rtol=1e-12)
    report = A.paper_potential(3, alpha, shape).check()
    assert report.passed, report


def test_limit_depends_on_the_shape_through_kappa_only():
    P = W.sparse_problem(50, 12, 2, seed=5)
    for alpha, s in ((1e-3, 0.9), (1e-4, 0.999)):
        w = A.projection(P.X, P.y, alpha, s)
        balanced = A.projection(P.X, P.y, alpha * (1 + s**2) / (1 - s**2), 0.0)
        # two potentials with the same kappa from different models: dual solves to 1e-10
        np.testing.assert_allclose(w, balanced, rtol=0, atol=1e-9 * np.abs(w).max())
        # and it is Woodworth's D = 2 limit with alpha_w^2 = kappa / 2
        ww = W.projection(P.X, P.y, np.sqrt(A.effective_scale(alpha, s) / 2), 2)
        np.testing.assert_allclose(w, ww, rtol=0, atol=1e-8 * np.abs(w).max())


def test_two_point_problem():
    X, y = np.array([[1.0, 2.0]]), np.array([2.0])
    rich = A.projection(X, y, 1e-8, 0.0)
    kernel = A.projection(X, y, 1e-8, 1 - 1e-13)
    # kappa = 2e-8: basis pursuit up to w_1 ~ sqrt(kappa) (the D = 2 rate); kappa ~ 2e5:
    # min-norm up to O(1 / kappa^2)
    np.testing.assert_allclose(rich, [0.0, 1.0], atol=1e-3)
    np.testing.assert_allclose(kernel, [0.4, 0.8], atol=1e-9)


def test_every_claim_agrees_at_the_quick_size(quick):
    table = A.compare(quick)
    assert len(table) == 5
    assert table["agrees"].all(), table.to_string()


def test_quick_numbers(quick):
    breg = quick[quick["method"] == "bregman"].sort_values("shape")
    # l1 grows with s and the distance to min-l2 shrinks: at s = 0.999, kappa = 1000 x
    # kappa(s = 0); the kernel gap is O(1 / kappa^2)
    assert np.all(np.diff(breg["l1"].to_numpy()) > 0)
    assert np.all(np.diff(breg["dist_l2"].to_numpy()) < 0)
    assert breg["dist_l2"].iloc[-1] < 1e-4
    flows = quick[quick["method"] == "flow"]
    # LSODA at rtol 1e-10 over t = 1e4: the flows end 1e-10 from the projection
    assert len(flows) == 3 and (flows["gap"] < 1e-8).all()
    assert (quick[quick["method"] == "paper_potential"]["gap"] < 1e-12).all()
    assert list(quick.columns[:3]) == ["alpha", "shape", "kappa"]


def test_store_resumes_and_plot(tmp_path, quick):
    store = tmp_path / "a.db"
    kwargs = {**A.QUICK, "shapes": (0.0, 0.5), "flow_alphas": ()}
    first = A.run(**kwargs, store=store, progress=False)
    again = A.run(**kwargs, store=store, progress=False)
    assert list(first["method"]) == ["bregman", "paper_potential"] * 2
    np.testing.assert_array_equal(first["l1"].to_numpy(), again["l1"].to_numpy())
    assert len(A.plot(quick).axes) == 2


def test_bad_inputs():
    for shape in (1.0, -1.0, 1.5, True, "0.5"):
        with pytest.raises(InputError, match="shape"):
            A.shape_init(0.1, shape)
    with pytest.raises(InputError, match="alpha"):
        A.shape_init(0.0, 0.5)
    with pytest.raises(InputError, match="dim"):
        A.model(0, 0.1, 0.5)
    X, y = np.array([[1.0, 2.0]]), np.array([2.0])
    with pytest.raises(InputError, match="potential"):
        A.projection(X, y, 0.1, 0.5, potential="bogus")
    with pytest.raises(InputError, match="X"):
        A.projection(np.ones(2), y, 0.1, 0.5)
    with pytest.raises(InputError, match="X"):
        A.flow_limit(np.ones(2), y, 0.1, 0.5)
    with pytest.raises(InputError, match="t_final"):
        A.flow_limit(X, y, 0.1, 0.5, t_final=-1.0)


@pytest.mark.slow
def test_default_size_reproduction():
    df = A.run(flow_alphas=(1e-2,), progress=False)
    table = A.compare(df)
    assert table["agrees"].all(), table.to_string()
    breg = df[df["method"] == "bregman"]
    # at alpha = 1e-6 the shape alone spans the two regimes
    tiny = breg[breg["alpha"] == 1e-6].sort_values("shape")
    assert tiny["dist_bp"].iloc[0] < 0.15 and tiny["dist_l2"].iloc[-1] < 1e-3
