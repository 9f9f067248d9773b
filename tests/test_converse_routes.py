"""The converse's routes past the box: the honest defect, block-separable potentials, radial
potentials, mapped domains, cost refusal, progress, checkpoints, and save/load.

Every route is verified the same way: the reported defect against an independent
measurement, gradient flow on the constructed manifold (intrinsic and ambient coordinates)
against the mirror flow of `R` within a multiple of the defect, and the brackets of the
gradient fields."""

import autograd.numpy as anp
import numpy as np
import pytest

import riemflow as rf
from riemflow.embedding.chebyshev import ProgressEvent
from riemflow.errors import BudgetError, ConvergenceError, CostError, DomainError, InputError

# flows are compared with an ODE tolerance well below every defect asked for here; the
# deviation bound is a multiple of the defect plus this floor of the two integrations
ODE_FLOOR = 1e-9


def _entropy_plus_square(d):
    """`R = sum(w log w - w) + (sum w)^2 / 2` (curved, not radial, not separable) and its
    Hessian by hand, `diag(1/w) + 1 1^T`."""

    def fn(w):
        return anp.sum(w * anp.log(w) - w, axis=-1) + anp.sum(w, axis=-1) ** 2 / 2

    def hessian(w):
        w = np.atleast_2d(w)
        return np.einsum("bi,ij->bij", 1.0 / w, np.eye(d)) + 1.0

    return rf.Legendre(fn, d, name="entropy + (sum w)^2/2"), hessian


def _fd_defect(F, hessian, points, h=1e-6):
    """`max |J^T J - H| / max |H|` with `J` from central differences of `F` (independent of
    every derivative riemflow computes)."""
    d = points.shape[1]
    columns = []
    for i in range(d):
        e = np.zeros(d)
        e[i] = h
        columns.append((np.asarray(F(points + e)) - np.asarray(F(points - e))) / (2 * h))
    J = np.stack(columns, axis=-1)
    H = hessian(points)
    return float(np.max(np.abs(np.einsum("bai,baj->bij", J, J) - H)) / np.max(np.abs(H)))


def _box_check_points(lower, upper, rng, n=20000):
    """Uniform points, points on or within 1e-8..1e-1 of the faces, the corners, and a
    41-point grid per axis of the closed box."""
    d = lower.size
    uniform = rng.uniform(lower, upper, (n, d))
    near = rng.uniform(lower, upper, (n, d))
    which = rng.random((n, d)) < 0.5
    gap = np.where(rng.random((n, d)) < 0.3, 0.0, 10.0 ** -rng.uniform(1, 8, (n, d)))
    side = rng.random((n, d)) < 0.5
    edge = np.where(side, lower + gap * (upper - lower), upper - gap * (upper - lower))
    near = np.where(which, edge, near)
    corners = np.array(np.meshgrid(*zip(lower, upper, strict=True), indexing="ij")).reshape(d, -1).T
    axes = [np.linspace(lo, hi, 41) for lo, hi in zip(lower, upper, strict=True)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d)
    return np.vstack([uniform, near, corners, grid])


def _regression(d, n, rng, scale=1.0):
    X = rng.standard_normal((n, d))
    y = scale * rng.standard_normal(n)
    return rf.losses.squared(X, y)


# -- the honest defect --------------------------------------------------------------------------
def test_reported_defect_bounds_an_independent_check_on_the_closed_box():
    """Finite differences of `P.embedding` against the hand-coded Hessian, on uniform
    points, points at the faces and corners and a grid of the closed box: the reported
    defect bounds them all (and the interior), and it is below `tol`."""
    R, hessian = _entropy_plus_square(2)
    lower, upper = np.array([0.5, 0.5]), np.array([1.5, 1.5])
    P = rf.commuting_parametrization(R, list(zip(lower, upper, strict=True)), tol=1e-6)
    assert P.route == "chebyshev" and P.isometry_defect <= 1e-6
    pts = _box_check_points(lower, upper, np.random.default_rng(7))
    independent = _fd_defect(P.embedding, hessian, pts)
    assert independent <= P.isometry_defect, (independent, P.isometry_defect)
    assert independent >= 0.3 * P.isometry_defect  # the bound is not loose either
    interior = _fd_defect(
        P.embedding, hessian, rf.domains.Box(lower, upper).sample(np.random.default_rng(8), 5000)
    )
    assert interior <= P.isometry_defect
    step = P.history[-1]
    assert step.measured <= step.defect and step.unknowns == (step.degree + 1) ** 2 * 4


@pytest.mark.slow
def test_reported_defect_bounds_an_independent_check_in_three_dimensions():
    """The same on `[0.5, 1.5]^3` at `tol = 1e-5` (a few minutes)."""
    R, hessian = _entropy_plus_square(3)
    lower, upper = np.full(3, 0.5), np.full(3, 1.5)
    P = rf.commuting_parametrization(R, list(zip(lower, upper, strict=True)), tol=1e-5)
    pts = _box_check_points(lower, upper, np.random.default_rng(7), n=20000)
    independent = _fd_defect(P.embedding, hessian, pts)
    assert independent <= P.isometry_defect <= 1e-5, (independent, P.isometry_defect)
    uniform = _fd_defect(P.embedding, hessian, pts[:20000])
    assert np.mean(uniform <= 1e-5) == 1.0


# -- block-separable potentials -----------------------------------------------------------------
def _ball_blocks(m, scale=1.0):
    """`R = sum_b -log(1 - |w_b|^2)` over `m` blocks of 2 coordinates, as a plain function,
    and the same with its closed-form mirror map and inverse (for the reference flows)."""
    d = 2 * m

    def fn(w):
        W = anp.reshape(w, anp.shape(w)[:-1] + (m, 2))
        return -anp.sum(anp.log(1 - anp.sum(W * W, -1)), -1)

    def grad(w):
        W = anp.reshape(w, anp.shape(w)[:-1] + (m, 2))
        return anp.reshape(2 * W / (1 - anp.sum(W * W, -1, keepdims=True)), anp.shape(w))

    def grad_conjugate(mu):  # |mu_b| = 2 r / (1 - r^2)
        M = np.reshape(mu, np.shape(mu)[:-1] + (m, 2))
        n = np.linalg.norm(M, axis=-1, keepdims=True)
        safe = np.where(n > 1e-8, n, 1.0)
        ratio = np.where(n > 1e-8, (np.sqrt(1 + n * n) - 1) / safe**2, 0.5 - n * n / 8)
        return np.reshape(M * ratio, np.shape(mu))

    plain = rf.Legendre(fn, d, name=f"{m} balls")
    balls = rf.domains.ProductDomain([rf.domains.Ball(2)] * m, np.arange(d).reshape(m, 2))
    closed = rf.Legendre(
        fn, d, domain=balls, grad=grad, grad_conjugate=grad_conjugate, name=f"{m} balls"
    )
    return plain, closed


def test_blocks_are_detected_and_equal_blocks_share_one_construction():
    R, Rc = _ball_blocks(3)
    box = [(-0.5, 0.5)] * 6
    P = rf.commuting_parametrization(R, box, tol=1e-6, detect=("blocks",))
    assert P.route == "product" and len(P.groups) == 1 and P.groups[0].n == 3
    assert P.ambient_dim == 3 * 4
    # the product's defect is the block's, and the assembled metric is hess R
    block = rf.commuting_parametrization(
        rf.potentials.log_ball(2), [(-0.5, 0.5)] * 2, tol=1e-6, structure="none"
    )
    assert P.isometry_defect == pytest.approx(block.isometry_defect, rel=1e-6)
    pts = rf.domains.Box([-0.5] * 6, [0.5] * 6).closure_points(np.random.default_rng(0), 400)
    H = Rc.hessian(pts)
    assert np.max(np.abs(P.embedding.metric(pts) - H)) <= P.isometry_defect * np.max(np.abs(H))
    # flows and brackets on M (intrinsic: the autograd pullback of the product at d <= 64)
    loss = _regression(6, 2, np.random.default_rng(1), 0.3)
    w0 = np.full(6, 0.05)
    rep = rf.verify_equivalence(loss, (0.0, 1.0), parametrization=P, legendre=Rc, w0=w0, n_times=6)
    assert rep.max_deviation <= 10 * P.isometry_defect + ODE_FLOOR, str(rep)
    assert np.max(np.abs(rep.trajectories[0].w)) < 0.5  # the path stays in the box
    assert P.check_commuting(n_samples=4, rtol=1e3 * P.isometry_defect).passed


def test_heterogeneous_product_translated_copies_and_one_dimensional_blocks():
    """Two `-log(1 - |v|^2)` blocks, two translated copies of it on translated boxes, a
    simplex-entropy block and three entropy coordinates: three constructions."""
    shift = np.array([1.0, 0.0])

    def fn(w):
        A = anp.reshape(w[..., :4], anp.shape(w)[:-1] + (2, 2))
        B = anp.reshape(w[..., 4:8], anp.shape(w)[:-1] + (2, 2)) - shift
        s = w[..., 8:10]
        e = w[..., 10:]
        rest = 1 - anp.sum(s, -1)
        return (
            -anp.sum(anp.log(1 - anp.sum(A * A, -1)), -1)
            - anp.sum(anp.log(1 - anp.sum(B * B, -1)), -1)
            + anp.sum(s * (anp.log(s) - 1), -1)
            + rest * (anp.log(rest) - 1)
            + anp.sum(e * (anp.log(e) - 1), -1)
        )

    R = rf.Legendre(fn, 13, name="mixed")
    lower = np.array([-0.5] * 4 + [0.5, -0.5] * 2 + [0.2, 0.2] + [0.5] * 3)
    upper = np.array([0.5] * 4 + [1.5, 0.5] * 2 + [0.4, 0.4] + [2.0] * 3)
    P = rf.commuting_parametrization(R, rf.domains.Box(lower, upper), tol=1e-6)
    assert P.route == "product"
    kinds = sorted((g.n, g.construction.split(",")[0]) for g in P.groups)
    assert [n for n, _ in kinds] == [1, 3, 4], kinds
    assert P.isometry_defect <= 1e-6
    pts = rf.domains.Box(lower, upper).closure_points(np.random.default_rng(0), 200)
    H = R.hessian(pts)
    assert np.max(np.abs(P.embedding.metric(pts) - H)) <= P.isometry_defect * np.max(np.abs(H))


def test_declared_blocks_with_their_potentials():
    R, _ = _ball_blocks(2)
    ball = rf.potentials.log_ball(2)
    declared = rf.embedding.Blocks([[0, 1], [2, 3]], potentials=[ball, ball], same=[0, 0])
    P = rf.commuting_parametrization(R, [(-0.5, 0.5)] * 4, structure=declared)
    assert P.route == "product" and len(P.groups) == 1 and "radial" in P.construction
    with pytest.raises(InputError, match="partition"):
        rf.commuting_parametrization(
            R, [(-0.5, 0.5)] * 4, structure=rf.embedding.Blocks([[0, 1], [1, 2, 3]])
        )


@pytest.mark.parametrize(
    "detect", [pytest.param(("blocks", "flat", "radial"), marks=pytest.mark.slow), ("blocks",)]
)
def test_a_thousand_dimensions_of_two_dimensional_blocks(detect):
    """d = 1000, 500 copies of `-log(1 - |w_b|^2)` given as a plain `Legendre(fn, 1000)`: one
    block construction (radial and exact, or numerical when only blocks are looked for),
    the block's defect, and gradient flow on M against mirror flow on a 1000-dimensional
    under-determined regression."""
    R, Rc = _ball_blocks(500)
    P = rf.commuting_parametrization(R, [(-0.5, 0.5)] * 1000, tol=1e-6, detect=detect)
    assert P.route == "product" and len(P.groups) == 1 and P.groups[0].n == 500
    assert P.isometry_defect <= (1e-12 if "radial" in detect else 1e-6)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 1000)) / np.sqrt(1000)
    y = X @ (0.3 * rng.uniform(-1, 1, 1000))
    loss = rf.losses.squared(X, y, reduction="sum")  # X X^T has eigenvalues ~0.3-2
    w0 = np.zeros(1000)
    rep = rf.verify_equivalence(
        loss, (0.0, 10.0), parametrization=P, legendre=Rc, w0=w0, n_times=5, rtol=1e-11
    )
    assert rep.max_deviation <= 10 * P.isometry_defect + ODE_FLOOR, str(rep)
    assert loss(rep.trajectories[0].w[-1]) < 0.2 * loss(w0)
    assert np.max(np.abs(rep.trajectories[0].w)) < 0.5  # the path stays in the box


# -- radial potentials --------------------------------------------------------------------------
def test_radial_ball_in_ten_dimensions_from_a_plain_function():
    """`-log(1 - |w|^2)` on the ball of radius 0.8, d = 10, given without structure: the
    center is found and the winding embedding is exact (defect <= 1e-10)."""
    R = rf.Legendre(lambda w: -anp.log(1 - anp.sum(w * w, -1)), 10, name="-log(1 - |w|^2)")
    P = rf.commuting_parametrization(R, rf.domains.Ball(10, radius=0.8), tol=1e-10)
    assert P.route == "radial" and P.isometry_defect <= 1e-10
    pts = rf.domains.Ball(10, radius=0.8).closure_points(np.random.default_rng(5), 2000)
    H = rf.potentials.log_ball(10).hessian(pts)  # closed form: round-off apart from R's
    gap = np.max(np.abs(P.embedding.metric(pts) - H)) / np.max(np.abs(H))
    assert gap <= max(P.isometry_defect, 1e-13)
    Rc = rf.potentials.log_ball(10)
    loss = _regression(10, 3, np.random.default_rng(2), 0.5)
    w0 = np.full(10, 0.03)
    rep = rf.verify_equivalence(loss, (0.0, 1.0), parametrization=P, legendre=Rc, w0=w0, n_times=6)
    assert rep.max_deviation <= 10 * P.isometry_defect + ODE_FLOOR, str(rep)
    A = P.ambient()
    np.testing.assert_allclose(A(A.point_over(w0)), w0, atol=1e-12)
    amb = rf.verify_equivalence(loss, (0.0, 0.3), parametrization=A, legendre=Rc, w0=w0, n_times=4)
    assert amb.max_deviation <= 1e-8, str(amb)
    brackets = P.check_commuting(n_samples=3, rtol=1e-8)
    assert brackets.passed, str(brackets)


def test_radial_shell_and_affine_image():
    R = rf.Legendre(lambda w: anp.sum(w * w, -1) ** 1.5 / 3, 5, name="|w|^3/3")
    P = rf.commuting_parametrization(R, rf.domains.Shell(5, 0.2, 1.0), tol=1e-10)
    assert P.route == "radial" and P.embedding.profile.mode == "shell"
    assert P.isometry_defect <= 1e-12
    loss = _regression(5, 2, np.random.default_rng(4), 0.3)
    w0 = np.array([0.5, 0.1, 0.0, -0.2, 0.1])
    rep = rf.verify_equivalence(loss, (0.0, 1.0), parametrization=P, legendre=R, w0=w0, n_times=6)
    assert rep.max_deviation <= ODE_FLOOR, str(rep)
    brackets = P.check_commuting(n_samples=3, rtol=1e-8)  # exact embedding: round-off
    assert brackets.passed, str(brackets)
    # R(w) = -log(1 - |L (w - c)|^2) on an ellipsoid, declared
    L = np.array([[1.0, 0.3, 0.0], [0.0, 0.7, 0.2], [0.1, 0.0, 1.2]])
    c = np.array([0.1, -0.1, 0.2])

    def affine(w):
        x = anp.dot(w - c, L.T)
        return -anp.log(1 - anp.sum(x * x, -1))

    RA = rf.Legendre(affine, 3, name="affine ball")
    region = rf.domains.Ellipsoid(c, 0.6 * np.linalg.inv(L))
    PA = rf.commuting_parametrization(
        RA, region, tol=1e-10, structure=rf.embedding.Radial(center=c, linear=L)
    )
    assert PA.route == "radial" and PA.isometry_defect <= 1e-12


def test_radial_detection_negative_controls():
    rng = np.random.default_rng(0)
    pts = rf.domains.Simplex(2, margin=0.1).sample(rng, 12)
    assert rf.embedding.detect_radial(rf.potentials.simplex_entropy(2), pts) is None
    cubes = rf.Legendre(lambda w: anp.sum(anp.abs(w) ** 3, -1) / 3, 3)
    assert rf.embedding.detect_radial(cubes, rng.uniform(0.2, 1.0, (12, 3))) is None


def test_radial_winding_design_has_an_evaluation_and_a_time_budget():
    """The winding design is an optimization: its budgets stop it with a `BudgetError`
    naming the design, and a spent `time_limit` of the construction reaches it."""
    R = rf.potentials.log_ball(4)
    with pytest.raises(BudgetError, match="winding design"):
        rf.embedding.radial.radial_embedding(R.hessian, np.zeros(4), (0.0, 0.8), time_limit=1e-9)
    profile = rf.embedding.radial.RadialProfile.from_hessian(
        lambda r: R.hessian(np.outer(r, np.eye(4)[0])), 4, 0.0, 0.8, "ball"
    )
    with pytest.raises(BudgetError, match="10 evaluations"):
        rf.embedding.radial.design_winding(profile, 4, max_evaluations=10)
    design = rf.embedding.radial.design_winding(profile, 4)  # the default budgets suffice
    assert design.merit >= 0.02


# -- mapped domains -----------------------------------------------------------------------------
def test_curved_potential_on_a_disk_through_its_chart():
    """`-log(1 - |w|^2)` on the disk of radius 0.8 by the numerical route (`structure="none"`;
    left to itself it is radial): the metric pulled back to the box of the rounded-square
    chart, coordinates `s` with `G = phi`."""
    R = rf.potentials.log_ball(2)
    disk = rf.domains.Ball(2, radius=0.8)
    P = rf.commuting_parametrization(R, disk, tol=1e-6, structure="none")
    assert P.route == "mapped" and P.isometry_defect <= 1e-6 and P.chart is not None
    # an independent check on the closed disk: finite differences of F(w) (w-coordinates)
    rng = np.random.default_rng(9)
    r = 0.8 * np.concatenate(
        [np.sqrt(rng.uniform(0, 1, 3000)), 1 - 10.0 ** -rng.uniform(1, 8, 2000), np.ones(500)]
    )
    t = rng.uniform(0, 2 * np.pi, r.size)
    pts = np.stack([r * np.cos(t), r * np.sin(t)], axis=-1)
    assert _fd_defect(P.embedding, R.hessian, pts) <= P.isometry_defect
    w0 = np.array([0.1, -0.2])
    np.testing.assert_allclose(P(P.point_over(w0)), w0, atol=1e-13)
    loss = rf.losses.squared(np.array([[1.0, 0.5]]), np.array([0.3]))
    rep = rf.verify_equivalence(loss, (0.0, 3.0), parametrization=P, legendre=R, w0=w0, n_times=11)
    assert rep.max_deviation <= 10 * P.isometry_defect, str(rep)
    A = P.ambient()
    amb = rf.verify_equivalence(loss, (0.0, 0.5), parametrization=A, legendre=R, w0=w0, n_times=4)
    assert amb.max_deviation <= 10 * P.isometry_defect, str(amb)
    assert P.check_commuting(n_samples=8, rtol=1e3 * P.isometry_defect).passed


@pytest.mark.slow
def test_disk_target_to_1e8():
    R = rf.potentials.log_ball(2)
    P = rf.commuting_parametrization(R, rf.domains.Ball(2, radius=0.8), tol=1e-8, structure="none")
    assert P.route == "mapped" and P.isometry_defect <= 1e-8


def _sphere_distance(p, q):
    """Geodesic distance of the simplex entropy's metric: the sphere of radius 2."""
    return 2 * np.arccos(np.clip(np.sum(np.sqrt(p * q), axis=-1), -1, 1))


def _length_in_metric(P, p, q, n=401):
    """Length, in the numerical metric `dF^T dF`, of the exact geodesic (a great circle of
    the sphere `2 sqrt(p)`) from `p` to `q` (full probability vectors)."""
    a, b = np.sqrt(p), np.sqrt(q)
    theta = np.arccos(np.clip(a @ b, -1, 1))
    t = np.linspace(0, 1, n)[:, None]
    u = (np.sin((1 - t) * theta) * a + np.sin(t * theta) * b) / np.sin(theta)
    du = theta * (-np.cos((1 - t) * theta) * a + np.cos(t * theta) * b) / np.sin(theta)
    w, dw = (u * u)[:, :-1], (2 * u * du)[:, :-1]
    J = P.embedding.jacobian(w)
    speed = np.linalg.norm(np.einsum("bai,bi->ba", J, dw), axis=-1)
    return float(np.sum((speed[1:] + speed[:-1]) / 2) / (n - 1))  # trapezoid on [0, 1]


@pytest.mark.parametrize("tol", [1e-6, pytest.param(1e-8, marks=pytest.mark.slow)])
def test_simplex_entropy_on_the_simplex_against_the_sphere(tol):
    """The simplex entropy on the simplex pulled in by 5% from its facets: the numerical
    embedding (softmax chart) and the exact sphere `F = 2 sqrt(p)` are isometric, so the
    lengths of the exact geodesics in the numerical metric are the sphere's distances, to
    the defect; flows agree too."""
    S = rf.potentials.simplex_entropy(2)
    part = rf.domains.Simplex(2, margin=0.05)
    P = rf.commuting_parametrization(S, part, tol=tol)
    assert P.route == "mapped" and P.isometry_defect <= tol
    rng = np.random.default_rng(11)
    B = part.barycentric(part.closure_points(rng, 200))
    pairs = rng.integers(0, len(B), (40, 2))
    for i, j in pairs:
        if i == j:
            continue
        exact = _sphere_distance(B[i], B[j])
        ours = _length_in_metric(P, B[i], B[j])
        assert abs(ours - exact) <= P.isometry_defect * exact + 1e-9, (ours, exact)
    loss = rf.losses.squared(np.array([[1.0, -1.0]]), np.array([0.05]))
    w0 = np.array([0.3, 0.3])
    rep = rf.verify_equivalence(loss, (0.0, 2.0), parametrization=P, legendre=S, w0=w0, n_times=11)
    assert rep.max_deviation <= 10 * P.isometry_defect + ODE_FLOOR, str(rep)


def test_a_chart_of_the_callers_own():
    """An annular sector given by polar coordinates, with a curved potential that is not
    radial (the detector must not take it for one)."""

    def polar(s):
        r, t = s[..., 0], s[..., 1]
        return anp.stack([r * anp.cos(t), r * anp.sin(t)], -1)

    def fn(w):
        return -anp.log(1 - anp.sum(w * w, -1)) + 0.3 * anp.exp(w[..., 0] + w[..., 1] / 2)

    R = rf.Legendre(fn, 2, name="ball + exp")
    sector = rf.domains.MappedBox(polar, [0.3, 0.0], [0.8, 1.5], name="polar")
    P = rf.commuting_parametrization(R, sector, tol=1e-5)
    assert P.route == "mapped" and P.isometry_defect <= 1e-5
    w0 = polar(np.array([0.5, 0.7]))
    loss = rf.losses.squared(np.array([[1.0, 1.0]]), np.array([0.9]))
    rep = rf.verify_equivalence(loss, (0.0, 1.0), parametrization=P, legendre=R, w0=w0, n_times=6)
    assert rep.max_deviation <= 10 * P.isometry_defect, str(rep)


def test_bad_regions_are_refused():
    R = rf.potentials.log_ball(2)

    def elliptical(s):  # the elliptical grid map: singular at the corners of the square
        u, v = s[..., 0], s[..., 1]
        return 0.5 * anp.stack([u * anp.sqrt(1 - v * v / 2), v * anp.sqrt(1 - u * u / 2)], -1)

    with pytest.raises(InputError, match="degenerates"):
        rf.commuting_parametrization(
            R, rf.domains.MappedBox(elliptical, [-1, -1], [1, 1]), structure="none"
        )
    with pytest.raises(DomainError, match="margin"):
        rf.commuting_parametrization(rf.potentials.simplex_entropy(2), rf.domains.Simplex(2))
    with pytest.raises(DomainError, match="leaves the domain"):
        rf.commuting_parametrization(R, rf.domains.Ball(2, radius=1.2))


# -- cost, progress, checkpoints ----------------------------------------------------------------
def test_a_curved_potential_without_structure_in_high_dimension_is_refused_at_once():
    events = []
    with pytest.raises(CostError, match="Blocks") as info:
        rf.commuting_parametrization(rf.potentials.log_det(3), _spd_box(3), progress=events.append)
    assert "max_dim" in str(info.value) and "Radial" in str(info.value)
    assert info.value.estimate is not None and info.value.estimate.unknowns > 1000
    assert not [e for e in events if e.kind == "degree"]
    # at d = 1000 the estimate's counts pass the float range: exact integers, still printed
    R, _ = _ball_blocks(500)
    with pytest.raises(CostError, match="Blocks") as info:
        rf.commuting_parametrization(R, [(-0.5, 0.5)] * 1000, structure="none")
    assert info.value.estimate.unknowns == 4**1000 * 500501
    assert "e+607 unknowns" in str(info.value.estimate)


def test_a_raised_max_dim_is_still_refused_by_the_estimate_before_any_allocation():
    """d = 10 with `max_dim=10`: the memory estimate refuses it (no grid of 9^10 points)."""
    R = rf.Legendre(lambda w: -anp.log(1 - anp.sum(w * w, -1)), 10)
    with pytest.raises(CostError, match="memory_limit") as info:
        rf.commuting_parametrization(
            R, rf.domains.Ball(10, radius=0.8), structure="none", max_dim=10
        )
    # the spiral route at d = 10: (4 + 1)^10 nodes, K = 10^2 amplitudes each
    assert info.value.estimate.unknowns == 5**10 * 100 and info.value.estimate.ambient_dim == 210
    with pytest.raises(CostError, match="memory_limit") as info:
        rf.commuting_parametrization(
            R,
            rf.domains.Ball(10, radius=0.8),
            structure="none",
            max_dim=10,
            numerical="collocation",
        )
    assert info.value.estimate.unknowns == 4**10 * 56


def _spd_box(n):
    """A box of symmetric matrices around the identity, inside the SPD cone."""
    cone = rf.domains.SPDCone(n)
    eye = cone.center()
    half = np.where(eye > 0, 0.3, 0.05)
    return rf.domains.Box(eye - half, eye + half)


def test_memory_limit_refuses_before_any_work():
    box = [(1.0, 2.0), (-0.3, 0.3), (1.0, 2.0)]
    events = []
    with pytest.raises(CostError, match="memory_limit") as info:
        rf.commuting_parametrization(
            rf.potentials.log_det(2),
            box,
            tol=1e-6,
            memory_limit=2e6,
            progress=events.append,
            numerical="collocation",
        )
    assert info.value.estimate.memory_bytes > 2e6
    assert not [e for e in events if e.kind in ("step", "degree")]
    with pytest.raises(CostError, match="memory_limit") as info:  # the spiral route too
        rf.commuting_parametrization(rf.potentials.log_det(2), box, tol=1e-6, memory_limit=2e4)
    assert info.value.estimate.memory_bytes > 2e4 and info.value.estimate.ambient_dim == 21
    rows = rf.converse.estimate(rf.potentials.log_det(2), box, tol=1e-6, numerical="collocation")
    assert rows[0].degree == 3 and rows[0].unknowns == 4**3 * 7
    assert all(a.memory_bytes <= b.memory_bytes for a, b in zip(rows, rows[1:], strict=False))


def test_progress_events_and_checkpoint_resume(tmp_path):
    """A construction interrupted after its second degree keeps it in the checkpoint; the
    next call resumes there and ends where an uninterrupted one does."""
    R = rf.potentials.log_ball(2)
    box = [(-0.5, 0.5)] * 2
    path = tmp_path / "ball.npz"
    seen = []

    def interrupt(event: ProgressEvent):
        seen.append(event)
        if sum(e.kind == "degree" for e in seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rf.commuting_parametrization(
            R, box, tol=1e-7, structure="none", checkpoint=path, progress=interrupt
        )
    assert {"route", "estimate", "continuation", "step", "degree"} <= {e.kind for e in seen}
    assert path.exists()
    resumed = []
    P = rf.commuting_parametrization(
        R, box, tol=1e-7, structure="none", checkpoint=path, progress=resumed.append
    )
    assert resumed[1].kind == "resume" and resumed[1].info["degree"] == P.history[1].degree
    assert not [e for e in resumed if e.kind == "continuation"]
    fresh = rf.commuting_parametrization(R, box, tol=1e-7, structure="none")
    assert [s.degree for s in P.history] == [s.degree for s in fresh.history]
    assert P.isometry_defect == pytest.approx(fresh.isometry_defect, rel=1e-6)
    again = []
    rf.commuting_parametrization(
        R, box, tol=1e-7, structure="none", checkpoint=path, progress=again.append
    )
    assert not [e for e in again if e.kind in ("step", "degree")]  # nothing left to do
    with pytest.raises(InputError, match="another construction"):
        rf.commuting_parametrization(
            R, [(-0.4, 0.4)] * 2, tol=1e-7, structure="none", checkpoint=path
        )


def test_progress_true_draws_a_tqdm_bar(capsys):
    rf.commuting_parametrization(
        rf.potentials.log_ball(2), [(-0.5, 0.5)] * 2, tol=1e-4, structure="none", progress=True
    )
    err = capsys.readouterr().err
    assert "riemflow converse" in err and "step" in err and "degree=" in err


# -- save and load ------------------------------------------------------------------------------
def test_mapped_and_radial_embeddings_round_trip_and_products_are_rebuilt(tmp_path):
    from riemflow.converse import load

    R = rf.potentials.log_ball(2)
    disk = rf.domains.Ball(2, radius=0.6)
    P = rf.commuting_parametrization(R, disk, tol=1e-5, structure="none")
    P.save(tmp_path / "disk.npz")
    Q = load(tmp_path / "disk.npz", R, disk)
    w = disk.sample(np.random.default_rng(0), 5)
    np.testing.assert_allclose(Q.embedding(w), P.embedding(w), rtol=0, atol=1e-14)
    assert Q.route == "mapped" and Q.isometry_defect == P.isometry_defect
    with pytest.raises(InputError, match="not the region"):
        load(tmp_path / "disk.npz", R, rf.domains.Ball(2, radius=0.5))
    radial = rf.commuting_parametrization(R, disk)
    radial.save(tmp_path / "radial.npz")
    np.testing.assert_array_equal(
        load(tmp_path / "radial.npz", R, disk).embedding(w), radial.embedding(w)
    )
    blocks, _ = _ball_blocks(2)
    product = rf.commuting_parametrization(blocks, [(-0.5, 0.5)] * 4)
    product.save(tmp_path / "product.npz")
    with pytest.raises(InputError, match="rebuild"):
        load(tmp_path / "product.npz", blocks, [(-0.5, 0.5)] * 4)


def test_exact_routes_report_round_off_and_bad_options_are_named():
    with pytest.raises(InputError, match="structure"):
        rf.commuting_parametrization(
            rf.potentials.log_ball(2), [(-0.5, 0.5)] * 2, structure="blocks"
        )
    with pytest.raises(InputError, match="detect"):
        rf.commuting_parametrization(
            rf.potentials.log_ball(2), [(-0.5, 0.5)] * 2, detect=("cubes",)
        )
    P = rf.commuting_parametrization(rf.potentials.negative_entropy(1), [(0.5, 2.0)])
    assert P.route == "interval" and P.isometry_defect < 1e-13
    with pytest.raises(ConvergenceError):
        rf.commuting_parametrization(
            rf.potentials.log_ball(2), [(-0.5, 0.5)] * 2, tol=1e-12, max_degree=9, structure="none"
        )
