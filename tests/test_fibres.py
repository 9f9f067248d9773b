"""The decision of mirror_potential: forward theorem, refusal with the proven statement, and
the construction on the reachable set when the brackets lie in ker dG without vanishing.

Constructed potentials are compared with closed forms (the Euclidean potential for the
Heisenberg map, the log-ball potential for its twisted version) and with the flows.
"""

import autograd.numpy as anp
import numpy as np
import pytest

import riemflow as rf
from riemflow import fibres
from tests.data import bracket_examples as ex


def test_heisenberg_flows_are_mirror_flows_and_the_potential_is_built():
    """The issue's example: regular, not commuting, [X1, X2] = (0, 0, 1) in ker dG; gradient
    flow on L o G is the Euclidean flow in w. mirror_potential used to refuse it."""
    G = ex.heisenberg()
    xb, _ = G.points(ex.X_H[None, :])
    fields = G.gradient_fields(ex.X_H)
    ginv = ex.heisenberg_inverse_metric(ex.X_H)
    np.testing.assert_allclose(fields, ginv[:2], atol=1e-15)  # X_i = g^{-1} e_i
    R = rf.mirror_potential(G, ex.X_H)
    decision = R.report.decision
    assert decision.outcome == fibres.CONSTRUCTED, str(decision)
    assert decision.region.kind == "reachable" and decision.flow_deviation is None
    assert R.report.route == "joint flow" and "ker dG" in str(R.report)
    w0 = G(ex.X_H)
    for w in (w0, w0 + np.array([0.2, -0.1]), w0 + np.array([-0.3, 0.25])):
        np.testing.assert_allclose(R.hessian(w), np.eye(2), atol=1e-9)
        np.testing.assert_allclose(R.grad(w), w - w0, atol=1e-9)  # R = |w - w0|^2 / 2
    # second method: the closed-form potential against gradient flow
    closed = rf.potentials.squared_euclidean(2).centered(w0)
    loss = rf.losses.squared(np.array([[1.0, 0.5], [0.3, -1.0]]), np.array([0.4, -0.2]))
    report = rf.verify_equivalence(
        loss, (0.0, 3.0), parametrization=G, x0=ex.X_H, legendre=closed, n_times=7
    )
    assert report.max_deviation < 1e-10, str(report)
    assert rf.loop_test(G, ex.X_H).closes


@pytest.mark.slow
def test_flow_check_of_the_constructed_potential():
    """End to end: gradient flow against the mirror flow of the numerical potential (each
    mirror step integrates joint flows: ~15 s)."""
    decision = rf.mirror_potential(ex.heisenberg(), ex.X_H, flow_check=True).report.decision
    assert decision.flow_deviation < 1e-9 and "max relative deviation" in str(decision)


def test_loop_test_does_not_divide_round_off_by_round_off():
    report = rf.loop_test(ex.heisenberg(), ex.X_H)
    assert np.isnan(report.prediction_error) and "at round-off" in str(report)
    G, x0 = rf.models.bilinear_chain(3)
    ok = rf.loop_test(G, x0 + np.array([0.3, 0.5, -0.2]), tau=1e-3)
    assert ok.prediction_error < 1e-2


def test_twisted_log_ball_recovers_the_curved_potential():
    G = ex.twisted_log_ball()
    R = rf.mirror_potential(G, ex.X_H)
    assert R.report.decision.outcome == fibres.CONSTRUCTED
    assert R.report.decision.hessian.scale > 0.1  # a curved, non-constant Hessian metric
    reference = rf.potentials.log_ball(2)
    for shift in ([0.1, 0.05], [-0.2, 0.1]):
        w = G(ex.X_H) + np.array(shift)
        np.testing.assert_allclose(R.hessian(w), reference.hessian(w), rtol=1e-8)


def test_order3_example_is_refused_with_the_order3_statement():
    G = ex.order3()
    with pytest.raises(rf.errors.NotMirrorFlowError) as info:
        rf.mirror_potential(G, ex.X_H)
    text = str(info.value)
    assert "order-3 bracket" in text and "O(leg^3)" in text
    assert info.value.report.transverse3.value > 0.1
    # second method: K varies along the fibre (x3), at a rate of order one
    region = rf.regions.reachable_region(G, ex.X_H, n_paths=3, legs=2)
    along = fibres.kernel_along_fibres(G, region, n_loops=2)
    assert along.kernel_rate > 0.1 and along.max_kernel_change > 1e-3


def test_non_commuting_chain_is_refused_with_the_proven_statement():
    G, x0 = rf.models.bilinear_chain(3)
    x_init = x0 + np.array([0.3, 0.5, -0.2])
    with pytest.raises(rf.errors.NotCommutingError) as info:
        rf.mirror_potential(G, x_init)
    assert isinstance(info.value, rf.errors.NotMirrorFlowError)
    text = str(info.value)
    assert "leaves ker dG" in text and "every mirror flow returns" in text and "loop" in text
    assert "local=True" in text and info.value.report.worst_pair == (0, 1)


def test_reachable_region_builds_where_the_flows_stay_commuting():
    """(x1 + x3^2 x2, x2): brackets vanish on the invariant plane x3 = 0 only."""
    G = rf.Parametrization(ex.plane_map, 3, name="plane map")
    with pytest.raises(rf.errors.NotMirrorFlowError, match="region='reachable'"):
        rf.mirror_potential(G, np.array([0.3, 0.5, 0.0]))  # sampled points leave the plane
    R = rf.mirror_potential(G, np.array([0.3, 0.5, 0.0]), region="reachable")
    assert R.report.decision.outcome == fibres.FORWARD_THEOREM
    # on the plane G = (x1, x2) with the Euclidean metric: R = |w - w0|^2 / 2
    w = np.array([0.5, 0.1])
    np.testing.assert_allclose(R.grad(w), w - np.array([0.3, 0.5]), atol=1e-9)
    with pytest.raises(rf.errors.NotMirrorFlowError, match="reachable from x_init"):
        rf.mirror_potential(G, np.array([0.3, 0.5, 0.2]), region="reachable")
    with pytest.raises(rf.errors.InputError, match="region"):
        rf.mirror_potential(G, np.array([0.3, 0.5, 0.0]), region="everywhere")


def test_hessian_defect_against_closed_form():
    """R^2 with the metric h = diag(1, 1 + w1^2) and G = id: K = h^{-1} is a function of w
    but not a Hessian metric (d_1 h_22 = 2 w1 != d_2 h_21 = 0), so the brackets leave
    ker dG (= 0) and the defect is ell_w max|2 w1| / max|h|."""

    def metric(x):
        one, zero = anp.ones_like(x[..., 0]), anp.zeros_like(x[..., 0])
        rows = [[one, zero], [zero, 1.0 + x[..., 0] ** 2]]
        return anp.stack([anp.stack(r, -1) for r in rows], -2)

    G = rf.Parametrization(lambda x: 1.0 * x, rf.spaces.metric_space(metric, 2))
    xs = np.random.default_rng(4).uniform(-1, 1, (6, 2))
    report = fibres.hessian_defect(G, xs)
    w_length = np.sqrt(np.mean(np.sum((xs - xs.mean(0)) ** 2, axis=1)))
    h_max = max(1.0, float(np.max(1.0 + xs[:, 0] ** 2)))
    np.testing.assert_allclose(
        report.defect, w_length * 2 * np.max(np.abs(xs[:, 0])) / h_max, rtol=1e-12
    )
    assert G.check_commuting(xs).verdict == rf.brackets.NOT_MIRROR


def test_commuting_maps_report_the_forward_theorem():
    G, x0 = rf.models.diagonal_network(2, depth=3, alpha=0.7)
    R = rf.mirror_potential(G, x0, closed_form=False, structure=None)
    assert R.report.decision.outcome == fibres.FORWARD_THEOREM
    assert R.report.decision.brackets.passed
    assert rf.mirror_potential(G, x0).report.decision is None  # closed form: nothing decided


@pytest.mark.parametrize("eps", [1e-9, 1e-12])
def test_mirror_potential_gives_both_near_commuting_maps_the_same_verdict(eps):
    """`M (x*x) + eps B` and `x + eps B` (eps-close to commuting maps): at the same
    tolerance both are accepted (the former relative bracket accepted the first and refused
    the second with 1.0 at every eps), and at a tolerance below their rho_perp both are
    refused by check_commuting."""
    for make in (ex.quad_map, ex.lin_map):
        G = make(eps)
        R = rf.mirror_potential(G, ex.X_ITEM2)
        assert R.report.decision is None or R.report.decision.outcome == fibres.FORWARD_THEOREM
        w = G(ex.X_ITEM2)
        np.testing.assert_allclose(R.grad(w), 0.0, atol=1e-9)  # normalized at w0
        tight = G.check_commuting(rtol=1e-3 * eps)  # below rho_perp ~ eps
        assert tight.verdict == rf.brackets.NOT_MIRROR, str(tight)
        # mirror_potential at that tolerance agrees with check_commuting (the structured
        # route may not accept a near-separable map the bracket check refuses)
        with pytest.raises(rf.errors.NotMirrorFlowError, match="leaves ker dG"):
            rf.mirror_potential(G, ex.X_ITEM2, commuting_rtol=1e-3 * eps)
    for make in (ex.quad_map, ex.lin_map):  # eps = 1e-6 > rtol: both refused, and say why
        with pytest.raises(rf.errors.NotMirrorFlowError, match="leaves ker dG"):
            rf.mirror_potential(make(1e-6), ex.X_ITEM2, seed=int(eps < 1e-10))
