"""Parametrizations whose brackets lie in, or leave, `ker dG`, with their closed forms.

- `heisenberg()`: `M = R^3` with `g = dx1^2 + dx2^2 + (dx3 - x1 dx2)^2 / 2` (a left-invariant
  metric on the Heisenberg group; `g^{-1} = [[1, 0, 0], [0, 1, x1], [0, x1, 2 + x1^2]]`) and
  `G = (x1, x2)`: `X1 = (1, 0, 0)`, `X2 = (0, 1, x1)`, `K = I`, `[X1, X2] = (0, 0, 1)` in
  `ker dG`; gradient flow is the Euclidean flow in `w` (mirror flow of `|w - w0|^2 / 2`).
- `twisted_log_ball()`: the same twist over the metric `h = hess(-log(1 - |w|^2))` of the
  unit disc: `K = h(w)^{-1}`, brackets in `ker dG`, gradient flow is the mirror flow of the
  curved log-ball potential.
- `order3()`: `g^{-1} = [[a, 0, x2], [0, 1, x2], [x2, x2, Z]]`, `a = exp(x3 - x2^2 / 2)`,
  `Z = 1 + x2^2 (1 + 1/a)`, `G = (x1, x2)`: `X1 = (a, 0, x2)`, `X2 = (0, 1, x2)`,
  `[X1, X2] = (0, 0, -1)` in `ker dG`, but `K = diag(a, 1)` varies along the fibre
  (`x3`): order-3 brackets leave `ker dG` (loops close only to `O(tau^3)`).
- `plane_map`: `G = (x1 + x3^2 x2, x2)` on `R^3`: `[X1, X2] = (0, 0, -2 x3)`, zero exactly
  on the plane `x3 = 0`, which both flows leave invariant.
- `quad_map(eps)`, `lin_map(eps)`: `M (x * x) + eps B(x)` and `x + eps B(x)` with
  `B = (x1 x2, x2 x3, 0)`: both are `eps`-close to commuting maps.
"""

import autograd.numpy as anp
import numpy as np

import riemflow as rf

X_H = np.array([0.3, -0.2, 0.5])  # a start point for the examples on R^3
X_ITEM2 = np.array([0.6, -0.4, 0.8])


def _stack3(rows):
    return anp.stack([anp.stack(r, -1) for r in rows], -2)


def _twisted(h, c=0.5):
    """`g = h_ab(x1, x2) dx^a dx^b + c (dx3 - x1 dx2)^2`: `K = h^{-1}`."""

    def metric(x):
        x1, x2 = x[..., 0], x[..., 1]
        h11, h12, h22 = h(x1, x2)
        zero = 0.0 * x1
        return _stack3(
            [[h11, h12, zero], [h12, h22 + c * x1**2, -c * x1], [zero, -c * x1, c + zero]]
        )

    return metric


def _identity(w1, w2):
    one = anp.ones_like(w1)
    return one, 0.0 * w1, one


def _log_ball_hessian(w1, w2):
    a = 1.0 - w1**2 - w2**2
    return 2.0 / a + 4.0 * w1 * w1 / a**2, 4.0 * w1 * w2 / a**2, 2.0 / a + 4.0 * w2 * w2 / a**2


def _first_two(x):
    return anp.stack([x[..., 0], x[..., 1]], -1)


def heisenberg() -> rf.Parametrization:
    space = rf.spaces.metric_space(_twisted(_identity), 3, name="Heisenberg")
    return rf.Parametrization(_first_two, space, name="heisenberg (x1, x2)")


def heisenberg_inverse_metric(x) -> np.ndarray:
    x1 = x[0]
    return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, x1], [0.0, x1, 2.0 + x1**2]])


def _in_disc(x):
    x = np.asarray(x)
    return x[..., 0] ** 2 + x[..., 1] ** 2 < 1.0


def _disc_sampler(rng, n):
    r = 0.8 * np.sqrt(rng.uniform(0, 1, n))
    t = rng.uniform(0, 2 * np.pi, n)
    return np.stack([r * np.cos(t), r * np.sin(t), rng.uniform(-1, 1, n)], -1)


def twisted_log_ball() -> rf.Parametrization:
    space = rf.spaces.metric_space(_twisted(_log_ball_hessian), 3, contains=_in_disc)
    return rf.Parametrization(
        _first_two, space, name="twisted log-ball (x1, x2)", sampler=_disc_sampler
    )


def _order3_metric(x):
    x2, x3 = x[..., 1], x[..., 2]
    a = anp.exp(x3 - 0.5 * x2**2)
    Z = 1.0 + x2**2 * (1.0 + 1.0 / a)
    zero, one = 0.0 * x2, 1.0 + 0.0 * x2
    return anp.linalg.inv(_stack3([[a, zero, x2], [zero, one, x2], [x2, x2, Z]]))


def order3() -> rf.Parametrization:
    space = rf.spaces.metric_space(_order3_metric, 3, name="order-3 example")
    return rf.Parametrization(_first_two, space, name="order-3 example (x1, x2)")


def plane_map(x):
    return anp.stack([x[..., 0] + x[..., 2] ** 2 * x[..., 1], x[..., 1]], -1)


def matrix_m(seed=7) -> np.ndarray:
    """A random invertible 3 x 3 matrix with singular values 1.5, 1, 0.6."""
    rng = np.random.default_rng(seed)
    q1, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    q2, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    return q1 @ np.diag([1.5, 1.0, 0.6]) @ q2


def _bilinear(x):
    return anp.stack([x[..., 0] * x[..., 1], x[..., 1] * x[..., 2], 0.0 * x[..., 0]], -1)


def quad_map(eps: float) -> rf.Parametrization:
    M = matrix_m()
    return rf.Parametrization(
        lambda x: anp.einsum("ij,...j->...i", M, x * x) + eps * _bilinear(x),
        3,
        name=f"M (x*x) + {eps:g} B",
    )


def lin_map(eps: float) -> rf.Parametrization:
    return rf.Parametrization(lambda x: x + eps * _bilinear(x), 3, name=f"x + {eps:g} B")


def rotated(kind: str, dim: int = 4, seed: int = 1) -> rf.Parametrization:
    """Commuting maps `f(Qx)` (coordinate-wise `f`, orthogonal `Q`) whose two bracket terms
    vanish separately: the former relative bracket divides round-off by round-off there."""
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    f = {
        "square": lambda z: z**2,
        "cubic": lambda z: z**3 + z,
        "exp": lambda z: anp.exp(5.0 * z),
    }[kind]
    return rf.Parametrization(lambda x: f(x @ Q.T), dim, name=f"{kind}(Qx)")
