"""The spiral construction of the converse (`riemflow.embedding.spiral`): its pieces against
closed forms and second methods, its honest defect against independent finite differences,
and the parametrizations it builds against the mirror flows of `R`."""

import autograd.numpy as anp
import numpy as np
import pytest

import riemflow as rf
from riemflow.domains import Box
from riemflow.embedding import ChebyshevEmbedding
from riemflow.embedding.spiral import (
    SpiralEmbedding,
    entropic_weights,
    estimate_spiral_cost,
    frame,
    spiral_embedding,
)
from riemflow.errors import ConvergenceError, FrameError, InputError, NotPositiveDefiniteError

from .test_converse_routes import (
    ODE_FLOOR,
    _box_check_points,
    _entropy_plus_square,
    _fd_defect,
    _regression,
)


def _log_det_hessian(w):
    """Hessian of `-log det [[a, b], [b, c]]` in `(a, b, c)` by hand: `g g^T / det^2 - Q / det`
    with `g = (c, -2 b, a)` and `Q` the Hessian of `det`."""
    a, b, c = np.atleast_2d(w).T
    det = a * c - b * b
    g = np.stack([c, -2 * b, a], 1)
    Q = np.array([[0.0, 0.0, 1.0], [0.0, -2.0, 0.0], [1.0, 0.0, 0.0]])
    return np.einsum("ni,nj->nij", g, g) / det[:, None, None] ** 2 - Q / det[:, None, None]


# -- the pieces ---------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [2, 3, 4])
def test_frame_directions_are_distinct_units_whose_squares_span(d):
    p = d * (d + 1) // 2
    sizes = []
    for level in range(1, 5):
        mu = frame(d, level)
        np.testing.assert_allclose(np.linalg.norm(mu, axis=1), 1.0, rtol=1e-15)
        gram = np.abs(mu @ mu.T) - np.eye(len(mu))
        assert np.max(gram) < 1 - 1e-12  # no direction twice (up to sign)
        iu = np.triu_indices(d)
        assert np.linalg.matrix_rank(mu[:, iu[0]] * mu[:, iu[1]]) == p
        sizes.append(len(mu))
    assert sizes[0] == d * d and sizes == sorted(sizes)
    with pytest.raises(InputError, match="level"):
        frame(d, 5)


def test_entropic_weights_solve_the_constraint_with_the_largest_entropy():
    """Positive weights reproducing each matrix to round-off, of the form
    `c_k = exp(mu_k^T Z mu_k)` (the optimality condition of the largest entropy); a
    matrix outside the frame's cone is refused."""
    rng = np.random.default_rng(0)
    mu = frame(3, 1)
    A = rng.standard_normal((200, 3, 3)) * 0.2
    Q = np.eye(3) + np.einsum("bij,bkj->bik", A, A)
    c, z = entropic_weights(Q, mu)
    assert np.all(c > 0)
    np.testing.assert_allclose(np.einsum("bk,ki,kj->bij", c, mu, mu), Q, atol=1e-13)
    # log c lies in the span of mu_k^T Z mu_k: least squares over symmetric Z leaves nothing
    iu = np.triu_indices(3)
    basis = mu[:, iu[0]] * mu[:, iu[1]] * np.where(iu[0] == iu[1], 1.0, 2.0)
    coef, *_ = np.linalg.lstsq(basis, np.log(c).T, rcond=None)
    np.testing.assert_allclose(basis @ coef, np.log(c).T, atol=1e-10)
    # a second method: the entropy of these weights beats any other solution on the line
    # c + t n (n in the null space of the constraint) where it stays positive
    P = mu[:, iu[0]] * mu[:, iu[1]]
    null = np.linalg.svd(P.T)[2][P.shape[1] :]
    for b in range(5):
        for n in null:
            for t in (-1e-3, 1e-3):
                other = c[b] + t * n
                if np.all(other > 0):
                    assert np.sum(other * np.log(other) - other) > np.sum(
                        c[b] * np.log(c[b]) - c[b]
                    )
    # anisotropy 100 along 22.5 degrees, between the four planar directions (0, 45, 90,
    # 135 degrees): outside their cone (it holds anisotropy up to cot^2(pi / 8) = 5.8 there)
    turn = np.array(
        [[np.cos(np.pi / 8), -np.sin(np.pi / 8)], [np.sin(np.pi / 8), np.cos(np.pi / 8)]]
    )
    outside = turn @ np.diag([1.0, 0.01]) @ turn.T
    with pytest.raises(ConvergenceError, match="positive combinations"):
        entropic_weights(outside[None], frame(2, 1))
    axis = np.diag([1.0, 0.01])  # the same anisotropy along an axis of the frame: inside
    c, _ = entropic_weights(axis[None], frame(2, 1))
    np.testing.assert_allclose(np.einsum("bk,ki,kj->bij", c, frame(2, 1), frame(2, 1))[0], axis)


def _random_spiral(rng, d=3, K=5, degree=4):
    C = 0.05 * rng.standard_normal((degree + 1,) * d + (K,))
    C[(0,) * d] += 1.0
    lower, upper = -np.ones(d), np.ones(d) * 1.5
    return SpiralEmbedding(
        0.25 * np.ones(d),
        np.eye(d) + 0.1 * rng.standard_normal((d, d)),
        rng.standard_normal((K, d)),
        rng.uniform(2, 9, K),
        ChebyshevEmbedding(C, lower, upper),
    )


def test_spiral_metric_closed_form_against_autograd_and_the_tensor_grid():
    """`dF^T dF = S^T S + sum a^2 nu nu^T + grad a grad a^T / lam^2` (the closed form the
    construction rests on) against autograd's Jacobian of `F` itself, the traced closed-form
    Jacobian, and the tensor-grid evaluation used by the defect check."""
    rng = np.random.default_rng(1)
    F = _random_spiral(rng)
    w = rng.uniform(-1, 1.5, (50, 3))
    J = np.asarray(rf.embedding.Embedding.jacobian(F, w))  # autograd through F's values
    np.testing.assert_allclose(F.jacobian(w), J, atol=1e-13)
    np.testing.assert_allclose(F.metric(w), np.einsum("bai,baj->bij", J, J), atol=1e-12)
    x = np.array([-1.0, 0.3, 1.0])
    from riemflow.embedding.chebyshev import chebyshev_basis

    B0, B1 = chebyshev_basis(x, F.degree)
    grid = np.stack(np.meshgrid(*([-1 + 1.25 * (x + 1)] * 3), indexing="ij"), -1).reshape(-1, 3)
    np.testing.assert_allclose(F.tensor_metric([B0] * 3, [B1] * 3), F.metric(grid), atol=1e-12)
    X = np.asarray(F(w))
    np.testing.assert_allclose(F.initial_coordinates(X), w, atol=1e-13)  # exact on M


def test_bad_arguments_are_refused_with_the_argument_named():
    R = rf.potentials.log_det(2)
    box = Box([1, -0.3, 1], [2, 0.3, 2])
    for name, value in (("linear_fraction", 1.5), ("spiral_margin", 0.0), ("tol", -1.0)):
        with pytest.raises(InputError) as info:
            spiral_embedding(R, box, **{"tol": 1e-4, name: value})
        assert info.value.argument == name
    with pytest.raises(InputError, match="numerical") as info:
        rf.commuting_parametrization(R, [(1, 2), (-0.3, 0.3), (1, 2)], numerical="dense")
    assert info.value.argument == "numerical"


def test_a_metric_that_is_not_positive_definite_is_refused_before_any_square_root():
    """A concave potential (negative definite at the center) and one that turns indefinite
    inside the box: `NotPositiveDefiniteError`, never a NaN map."""
    concave = rf.Legendre(lambda w: -anp.sum(w**2, -1), 3, name="concave")
    with pytest.raises(NotPositiveDefiniteError, match="center"):
        spiral_embedding(concave, Box([0.0] * 3, [1.0] * 3), tol=1e-4)
    turning = rf.Legendre(lambda w: anp.sum(w**3, -1) / 6, 2, name="w^3/6")  # hess = diag(w)
    with pytest.raises(NotPositiveDefiniteError, match="nodes"):
        spiral_embedding(turning, Box([-0.5, 0.2], [1.0, 1.0]), tol=1e-4)


def test_a_metric_too_anisotropic_for_the_frame_is_refused_with_the_remedy():
    """`R = exp(a . w) + exp(b . w)`, `a`, `b` orthonormal at 22.5 degrees: `hess R` is
    `e^(a.w) a a^T + e^(b.w) b b^T`, isotropic at the center and anisotropic by `e^4` along
    `a` or `b` at opposite corners; with the first frame level forced it leaves the cone of
    the four planar directions."""
    a = np.array([np.cos(np.pi / 8), np.sin(np.pi / 8)])
    b = np.array([-a[1], a[0]])
    R = rf.Legendre(lambda w: anp.exp(anp.dot(w, a)) + anp.exp(anp.dot(w, b)), 2, name="tilted")
    with pytest.raises(FrameError, match="too anisotropic") as info:
        spiral_embedding(R, Box([-1.0, -1.0], [1.0, 1.0]), tol=1e-6, frame_level=1)
    assert "smaller box" in str(info.value) and info.value.nodes > 0


def test_cost_estimate_counts():
    e = estimate_spiral_cost(3, 9, 8, rate=1e9)
    assert (e.unknowns, e.residuals, e.ambient_dim, e.n_nodes) == (9**3 * 9, 9**3 * 6, 21, 9)


# -- the construction ---------------------------------------------------------------------------
def test_reported_defect_bounds_an_independent_check_in_two_dimensions():
    """`sum(w log w - w) + (sum w)^2 / 2` on `[0.5, 1.5]^2` by spirals: finite differences of
    `P.embedding` against the hand-coded Hessian on uniform, face, corner and grid points
    stay below the reported defect, which meets `tol` and is not loose."""
    R, hessian = _entropy_plus_square(2)
    lower, upper = np.array([0.5, 0.5]), np.array([1.5, 1.5])
    P = rf.commuting_parametrization(
        R, list(zip(lower, upper, strict=True)), tol=1e-8, numerical="spiral"
    )
    assert P.route == "spiral" and P.isometry_defect <= 1e-8
    assert P.ambient_dim == 2 + 2 * 4
    independent = _fd_defect(P.embedding, hessian, _box_check_points(lower, upper, rng(7)), h=1e-6)
    assert independent <= P.isometry_defect, (independent, P.isometry_defect)
    assert independent >= 0.2 * P.isometry_defect
    steps = P.history
    assert [s.defect for s in steps] == sorted((s.defect for s in steps), reverse=True)
    assert all(s.node_residual < 1e-12 for s in steps)  # (*) holds at the nodes


def rng(seed):
    return np.random.default_rng(seed)


def test_log_det_in_three_dimensions_by_default():
    """The d = 3 target shape: `-log det` on 2x2 SPD matrices to 1e-6 (the default route at
    d = 3); the defect bounds finite differences against the hand-coded Hessian; gradient flow
    on M, intrinsic and ambient, tracks the mirror flow; the gradient fields commute up to
    the defect; save and load give the same map."""
    R = rf.potentials.log_det(2)
    box = [(1.0, 2.0), (-0.3, 0.3), (1.0, 2.0)]
    P = rf.commuting_parametrization(R, box, tol=1e-6)
    assert P.route == "spiral" and P.isometry_defect <= 1e-6 and P.ambient_dim == 21
    lower, upper = np.array([1.0, -0.3, 1.0]), np.array([2.0, 0.3, 2.0])
    pts = _box_check_points(lower, upper, rng(3), n=4000)
    pts = np.vstack([pts[:8008], pts[8008::7]])  # random, faces, corners; 1/7 of the grid
    assert _fd_defect(P.embedding, _log_det_hessian, pts, h=1e-6) <= P.isometry_defect
    loss = rf.losses.squared(np.array([[1.0, 0.0, 1.0], [0.2, 1.0, -0.3]]), np.array([3.5, 0.2]))
    w0 = np.array([1.5, 0.1, 1.4])
    rep = rf.verify_equivalence(loss, (0.0, 1.0), parametrization=P, legendre=R, w0=w0, n_times=6)
    assert rep.max_deviation <= 10 * P.isometry_defect + ODE_FLOOR, str(rep)
    A = P.ambient()
    np.testing.assert_allclose(A(A.point_over(w0)), w0, atol=1e-13)
    amb = rf.verify_equivalence(loss, (0.0, 1.0), parametrization=A, legendre=R, w0=w0, n_times=4)
    assert amb.max_deviation <= 10 * P.isometry_defect + ODE_FLOOR, str(amb)
    assert P.check_commuting(n_samples=4, rtol=1e3 * P.isometry_defect).passed
    assert not P.check_commuting(n_samples=4, rtol=1e-3 * P.isometry_defect).passed


def test_auto_falls_back_to_collocation_when_the_spirals_refuse(monkeypatch):
    """Under `numerical="auto"` a `FrameError` of the spirals sends the construction to
    collocation (and says so); `numerical="spiral"` passes it on."""
    import riemflow.converse as converse

    def refuse(*args, **kwargs):
        raise FrameError("too anisotropic for the spiral directions", residual=1.0, nodes=3)

    monkeypatch.setattr(converse, "spiral_embedding", refuse)
    R, box = rf.potentials.log_det(2), [(1.0, 2.0), (-0.3, 0.3), (1.0, 2.0)]
    events = []
    P = rf.commuting_parametrization(R, box, tol=3e-2, progress=events.append)
    assert P.route == "chebyshev" and P.isometry_defect <= 3e-2 and P.ambient_dim == 7
    assert any("collocation instead" in e.message for e in events if e.kind == "route")
    with pytest.raises(FrameError):
        rf.commuting_parametrization(R, box, tol=3e-2, numerical="spiral")


def test_save_and_load_a_spiral_construction(tmp_path):
    R, _ = _entropy_plus_square(3)
    box = [(0.5, 1.5)] * 3
    P = rf.commuting_parametrization(R, box, tol=1e-4)
    assert P.route == "spiral"
    P.save(tmp_path / "spiral.npz", grid_points=4)
    Q = rf.converse.load(tmp_path / "spiral.npz", R, box)
    w = rf.domains.Box([0.5] * 3, [1.5] * 3).sample(rng(0), 20)
    assert Q.route == "spiral" and Q.isometry_defect == P.isometry_defect
    np.testing.assert_array_equal(np.asarray(Q.embedding(w)), np.asarray(P.embedding(w)))


def test_spirals_on_the_box_of_a_chart():
    """The simplex entropy on the 3-simplex kept 20% from its facets (the softmax
    chart's box): the map agrees with the exact sphere embedding `F = 2 sqrt(w)` on
    distances (both are isometric), and the defect in `w` bounds finite differences."""
    R = rf.potentials.simplex_entropy(3)
    region = rf.domains.Simplex(3, margin=0.2)
    P = rf.commuting_parametrization(R, region, tol=1e-5)
    assert P.route == "mapped" and "spirals" in P.construction and P.isometry_defect <= 1e-5
    w = region.sample(rng(1), 300)

    def sphere(w):
        return 2 * np.sqrt(np.concatenate([w, 1 - w.sum(1, keepdims=True)], 1))

    hess = R.hessian
    independent = _fd_defect(P.embedding, lambda p: np.asarray(hess(p)), w, h=1e-6)
    assert independent <= P.isometry_defect
    loss = _regression(3, 2, rng(2), 0.1)
    w0 = np.array([0.25, 0.25, 0.25])
    rep = rf.verify_equivalence(loss, (0.0, 0.3), parametrization=P, legendre=R, w0=w0, n_times=4)
    assert rep.max_deviation <= 10 * P.isometry_defect + ODE_FLOOR, str(rep)
    # geodesic distances agree to first order: chords of nearby points match
    a, b = w[:50], w[:50] + 1e-3 * rng(3).standard_normal((50, 3))
    keep = np.asarray(region.contains(b), dtype=bool)
    da = np.linalg.norm(np.asarray(P.embedding(a)) - np.asarray(P.embedding(b)), axis=1)
    ds = np.linalg.norm(sphere(a) - sphere(b), axis=1)
    np.testing.assert_allclose(da[keep], ds[keep], rtol=1e-2)


@pytest.mark.slow
def test_four_dimensions_without_structure():
    """The d = 4 target: `-log(1 - |w|^2)` on `[-0.4, 0.4]^4` with no structure used, to
    1e-5 (about 100 s and 0.6 GB here); flows on M against the mirror flow."""
    R = rf.potentials.log_ball(4)
    P = rf.commuting_parametrization(R, [(-0.4, 0.4)] * 4, tol=1e-5, structure="none")
    assert P.route == "spiral" and P.isometry_defect <= 1e-5
    pts = _box_check_points(np.full(4, -0.4), np.full(4, 0.4), rng(4), n=3000)[:9000]
    assert _fd_defect(P.embedding, lambda p: np.asarray(R.hessian(p)), pts, h=1e-6) <= (
        P.isometry_defect
    )
    loss = _regression(4, 2, rng(5), 0.3)
    w0 = np.array([0.05, -0.05, 0.1, 0.0])
    rep = rf.verify_equivalence(loss, (0.0, 0.5), parametrization=P, legendre=R, w0=w0, n_times=4)
    assert rep.max_deviation <= 10 * P.isometry_defect + ODE_FLOOR, str(rep)


def test_an_interrupted_spiral_construction_resumes_from_its_checkpoint(tmp_path):
    """Interrupted after its second degree, the construction keeps it in the checkpoint; the
    next call resumes after it and ends with the map an uninterrupted call builds; a
    checkpoint of another box is refused."""
    R, _ = _entropy_plus_square(3)
    box = Box([0.5] * 3, [1.5] * 3)
    path = tmp_path / "spiral.npz"
    seen = []

    def interrupt(event):
        seen.append(event)
        if sum(e.kind == "degree" for e in seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        spiral_embedding(R, box, tol=1e-6, progress=interrupt, checkpoint=path)
    events = []
    resumed = spiral_embedding(R, box, tol=1e-6, progress=events.append, checkpoint=path)
    fresh = spiral_embedding(R, box, tol=1e-6)
    assert events[0].kind == "resume"
    assert [h.degree for h in resumed.history] == [h.degree for h in fresh.history]
    assert resumed.check.defect == fresh.check.defect <= 1e-6
    w = box.sample(rng(0), 10)
    np.testing.assert_array_equal(np.asarray(resumed.embedding(w)), np.asarray(fresh.embedding(w)))
    with pytest.raises(InputError, match="another box") as info:
        spiral_embedding(R, Box([0.5] * 3, [1.4] * 3), tol=1e-6, checkpoint=path)
    assert info.value.argument == "checkpoint"
