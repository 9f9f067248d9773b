"""Brackets split along ker dG, the measures at a length scale, the verdicts and regions.

Each figure is checked against a closed form or a second method: the Heisenberg and
bilinear-chain brackets by formula, the measure against loops actually run, the order-3
brackets against their formula and against the tau^3 scaling of the loop.
"""

import autograd.numpy as anp
import numpy as np
import pytest

import riemflow as rf
from riemflow import brackets as B
from tests.data import bracket_examples as ex


def _single(G, x):
    xb, _ = G.points(x)
    return B.bracket_split(G, xb)


# -- the split, against closed forms ----------------------------------------------------------
def test_heisenberg_bracket_is_vertical_with_closed_form_size():
    G = ex.heisenberg()
    s = _single(G, ex.X_H)
    np.testing.assert_allclose(s.brackets[0, 0], [0.0, 0.0, 1.0], atol=1e-15)
    np.testing.assert_allclose(s.kernel[0], np.eye(2), atol=1e-15)
    assert np.max(np.abs(s.transverse)) < 1e-15 and s.horizontal_norm[0, 0] < 1e-15
    # |(0, 0, 1)|_g = sqrt(g_33) = sqrt(1/2); |X_1|_g = |X_2|_g = 1
    np.testing.assert_allclose(s.vertical_norm[0, 0], np.sqrt(0.5), rtol=1e-14)
    report = G.check_commuting()
    assert report.verdict == B.UNDECIDED and not report.passed
    assert report.transverse.value < 1e-14 and report.transverse3.value < 1e-14
    # rho_par = ell sqrt(1/2) at every point (the bracket is left-invariant)
    np.testing.assert_allclose(
        report.vertical.value, report.length_scale * np.sqrt(0.5), rtol=1e-13
    )


def test_bilinear_chain_split_matches_closed_form():
    G, _ = rf.models.bilinear_chain(3)
    x = np.array([0.7, -1.3, 0.4])
    x1, x2, x3 = x
    J = np.array([[x2, x1, 0.0], [0.0, x3, x2]])  # = the fields (Euclidean)
    b = np.array([-x3, 0.0, x1])
    K = J @ J.T
    t = J @ b
    c = np.linalg.solve(K, t)
    s = _single(G, x)
    np.testing.assert_allclose(s.transverse[0, 0], t, rtol=1e-14)
    np.testing.assert_allclose(s.horizontal_norm[0, 0], np.sqrt(t @ c), rtol=1e-13)
    np.testing.assert_allclose(s.vertical[0, 0], b - c @ J, atol=1e-14)
    # the two parts are g-orthogonal: |b|^2 = |P_h b|^2 + |P_v b|^2
    np.testing.assert_allclose(
        s.horizontal_norm[0, 0] ** 2 + s.vertical_norm[0, 0] ** 2, b @ b, rtol=1e-13
    )
    report = G.check_commuting(x, length_scale=2.0)
    rho = 2.0 * np.sqrt(t @ c) / np.sqrt(K[0, 0] * K[1, 1])
    np.testing.assert_allclose(report.transverse.value, rho, rtol=1e-13)
    assert report.verdict == B.NOT_MIRROR and report.worst_pair == (0, 1)


def test_split_at_an_irregular_point_projects_on_the_span():
    """`K` singular (X_1 = X_2 at x): the pseudo-inverse projects on the span."""
    G = rf.Parametrization(_dependent, 3)
    s = _single(G, np.array([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(s.fields[0, 0], s.fields[0, 1], atol=0)
    np.testing.assert_allclose(s.brackets[0, 0], [0.0, 0.0, 1.0], atol=1e-15)
    assert s.horizontal_norm[0, 0] < 1e-15
    np.testing.assert_allclose(s.vertical_norm[0, 0], 1.0, rtol=1e-14)


def _dependent(x):
    return anp.stack([x[..., 0] * x[..., 1], x[..., 0] * x[..., 1] + x[..., 1] * x[..., 2]], -1)


def test_order3_brackets_match_closed_form():
    """(x1 x2, x2 x3): [X_1, [X_1, X_2]] = (0, x3, x2), [X_2, [X_1, X_2]] = (-x2, -x1, 0)."""
    G, _ = rf.models.bilinear_chain(3)
    xs = np.random.default_rng(0).standard_normal((5, 3))
    got, sizes = B.order3_brackets(G, xs, (0, 1))
    want0 = np.stack([0 * xs[:, 0], xs[:, 2], xs[:, 1]], -1)
    np.testing.assert_allclose(got[:, 0], want0, atol=1e-14)
    # [X_2, b] = Db X_2 - DX_2 b, Db X_2 = (-x2, 0, 0), DX_2 b = (0, x1, 0)
    want1 = np.stack([-xs[:, 1], -xs[:, 0], 0 * xs[:, 0]], -1)
    np.testing.assert_allclose(got[:, 1], want1, atol=1e-14)
    assert sizes.shape == (5, 2) and np.all(sizes > 0)


# -- the measure means the loop's misclosure ---------------------------------------------------
@pytest.mark.parametrize("make", [ex.quad_map, ex.lin_map], ids=["quadratic", "linear"])
def test_transverse_measure_is_the_loop_misclosure(make):
    """`rho_perp(ell) / ell` is the relative misclosure per unit leg of a loop with legs of
    length `s` (the loop run by joint flows), to O(s)."""
    G = make(1e-3)
    s = _single(G, ex.X_ITEM2)
    norms = s.field_norm[0]
    p = int(np.argmax(s.horizontal_norm[0] / (norms[[0, 0, 1]] * norms[[1, 2, 2]])))
    i, j = s.pairs[p]
    kappa = s.horizontal_norm[0, p] / (norms[i] * norms[j])
    for leg in (1e-3, 2e-3):
        loop = rf.fibres.loop_displacement(G, ex.X_ITEM2, (i, j), leg)
        assert abs(loop.closure - leg * kappa) <= 5 * leg * (leg * kappa), (loop, kappa)


@pytest.mark.parametrize("eps", [1e-3, 1e-6, 1e-9, 1e-12])
def test_both_near_commuting_maps_get_the_same_verdict(eps):
    """`M (x*x) + eps B` and `x + eps B` are both eps-close to commuting maps; the former
    relative bracket read 1.0 for the second at every eps, and passed the first."""
    quad = ex.quad_map(eps).check_commuting()
    lin = ex.lin_map(eps).check_commuting()
    expected = B.NOT_MIRROR if eps >= 1e-6 else B.COMMUTING
    assert quad.verdict == lin.verdict == expected, (quad, lin)
    # rho_perp is proportional to eps, with an O(1) ratio between the two maps
    assert 2.0 < quad.transverse.value / lin.transverse.value < 10.0
    assert 0.5 * eps < lin.transverse.value < 2.0 * eps
    assert lin.max_term_ratio > 0.99  # the former measure: 1 at every eps


@pytest.mark.parametrize(
    "build",
    [
        lambda: ex.rotated("square"),
        lambda: ex.rotated("cubic"),
        lambda: ex.rotated("exp"),
        lambda: rf.models.quadratic(_commuting_quadratics())[0],
        lambda: rf.models.simplex_sphere(3)[0],
        lambda: rf.models.diagonal_network(5, 3, alpha=0.5)[0],
    ],
    ids=["(Qx)^2", "(Qx)^3+Qx", "exp(5Qx)", "quadratics", "sphere", "depth-3 network"],
)
def test_commuting_maps_with_round_off_brackets_pass(build):
    """Regression: both terms of every bracket vanish up to round-off; the former relative
    bracket divided round-off by round-off (reading ~1) and refused these maps."""
    report = build().check_commuting()
    assert report.verdict == B.COMMUTING and report.passed, str(report)
    assert report.max_bracket < 1e-12 and report.max_bracket <= 10 * report.total.floor + 1e-300


def _commuting_quadratics():
    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    return np.stack([Q @ np.diag(rng.standard_normal(4)) @ Q.T for _ in range(3)])


def test_rotated_square_was_refused_by_the_former_measure():
    report = ex.rotated("square").check_commuting()
    assert report.max_term_ratio > 0.5 and report.passed


def test_order3_example_leaves_ker_dG_and_its_loop_is_cubic():
    G = ex.order3()
    report = G.check_commuting()
    assert report.verdict == B.NOT_MIRROR
    assert report.transverse.value < 1e-12 and report.transverse3.value > 0.1
    closures = [rf.fibres.loop_displacement(G, ex.X_H, (0, 1), leg).closure for leg in (0.02, 0.01)]
    # closure = |dw| / leg: O(leg^2) for a cubic displacement (the bilinear chain: O(leg))
    assert 3.5 < closures[0] / closures[1] < 4.5
    H, _ = rf.models.bilinear_chain(3)
    chain = [rf.fibres.loop_displacement(H, ex.X_H, (0, 1), leg).closure for leg in (0.02, 0.01)]
    assert 1.8 < chain[0] / chain[1] < 2.2


def test_order_two_skips_the_order3_brackets():
    report = ex.order3().check_commuting(order=2)
    assert report.verdict == B.UNDECIDED and report.transverse3 is None
    with pytest.raises(rf.errors.InputError, match="order"):
        ex.order3().check_commuting(order=4)


def test_single_output_and_separable_maps_are_trivial():
    G, _ = rf.models.diagonal_network(4, depth=2)
    report = G.check_commuting(n_samples=8)
    assert report.passed and report.max_abs_bracket == 0.0 and report.max_bracket == 0.0
    assert "vanishes exactly" in str(report)


# -- regions: sampled verdicts say what was sampled ---------------------------------------------
def test_a_line_where_brackets_vanish_passes_and_the_report_says_so():
    G, _ = rf.models.bilinear_chain(3)  # bracket (-x3, 0, x1) vanishes on the x2-axis
    line = np.stack([np.zeros(8), np.linspace(0.2, 1.0, 8), np.zeros(8)], -1)
    report = G.check_commuting(line)
    assert report.passed
    text = str(report)
    assert "8 given point(s)" in text and "1-dimensional affine subspace" in text
    assert "sampled verdict" in text
    region = rf.regions.sampled_region(G, 16, seed=3)
    other = G.check_commuting(region=region)
    assert not other.passed and "16 points drawn by the default sampler" in str(other)


def test_reachable_region_decides_for_the_flows_of_one_initialization():
    G = rf.Parametrization(ex.plane_map, 3)
    assert G.check_commuting().verdict == B.NOT_MIRROR
    inside = rf.regions.reachable_region(G, np.array([0.3, 0.5, 0.0]))
    assert inside.kind == "reachable" and inside.affine_dim == 2  # the plane x3 = 0
    assert G.check_commuting(region=inside).verdict == B.COMMUTING
    off = rf.regions.reachable_region(G, np.array([0.3, 0.5, 0.2]))
    assert G.check_commuting(region=off).verdict == B.NOT_MIRROR


def test_length_scale_is_a_stated_knob():
    G, _ = rf.models.bilinear_chain(3)
    x = np.random.default_rng(2).standard_normal((6, 3))
    one = G.check_commuting(x, length_scale=1.0)
    ten = G.check_commuting(x, length_scale=10.0)
    np.testing.assert_allclose(ten.max_bracket, 10 * one.max_bracket, rtol=1e-14)
    assert "ell = 10 (given)" in str(ten)
    with pytest.raises(rf.errors.InputError, match="length_scale"):
        G.check_commuting(x, length_scale=-1.0)
    with pytest.raises(rf.errors.InputError, match="region"):
        G.check_commuting(x, region=rf.regions.sampled_region(G, 4))


def test_regularity_report_says_what_was_sampled():
    G, x0 = rf.models.diagonal_network(2, alpha=0.5)
    region = rf.regions.reachable_region(G, x0, n_paths=2, legs=2)
    report = G.check_regular(region=region)
    assert report.passed and report.n_points == 5 and "reachable from x_init" in str(report)
