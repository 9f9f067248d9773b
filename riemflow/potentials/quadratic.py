"""The mirror potential of a commuting family of quadratic forms `x^T A_i x / 2`.

Commuting quadratic families (matrix sensing with commuting measurements among them) are
separable in the common eigenbasis of the `A_i`, which gives their potential in closed
form through its conjugate.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np

from ..domains import MirrorImage
from ..errors import ConvergenceError, NotCommutingError, NotRegularError
from ..legendre import Legendre

__all__ = ["commuting_quadratic"]


def commuting_quadratic(matrices, x_init, *, tol: float = 1e-12) -> Legendre:
    """The mirror potential of `G_i(x) = x^T A_i x / 2` with commuting symmetric `A_i`.

    In a common eigenbasis `V` (`A_i = V diag(lam_i) V^T`, `z = V^T x_init`):
    `psi = V exp(Lam^T mu) z`, `Q(mu) = sum_k z_k^2 (e^{2 (Lam^T mu)_k} - 1) / 4`,
    `grad Q = Lam (z^2 e^{2 Lam^T mu}) / 2`, `hess Q = Lam diag(z^2 e^{2 Lam^T mu}) Lam^T`
    (Concepts: closed forms); `R = Q^*` by `Legendre.from_conjugate`, normalized at
    `w0 = G(x_init)`.

    Args:
        matrices: the symmetric `A_i`, `(d, D, D)`.
        x_init: the initialization `(D,)`.
        tol: relative tolerance of the commutation test `|A_i A_j - A_j A_i|`.

    Raises:
        NotCommutingError: the `A_i` do not commute (to `tol` relative).
        NotRegularError: the kernel `K(x_init)` is singular.
        ConvergenceError: no common eigenbasis was found from one random combination of
            the `A_i` (repeated eigenvalues of the combination).

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> A = np.stack([np.diag([1.0, 0.0]), np.diag([0.0, 2.0])])
        >>> R = rf.potentials.commuting_quadratic(A, np.array([1.0, 1.0]))
        >>> R.grad(np.array([0.5, 1.0])).round(12).tolist()  # at w0 = G(x_init)
        [0.0, 0.0]
    """
    A = np.asarray(matrices, dtype=np.float64)
    x = np.asarray(x_init, dtype=np.float64)
    d = A.shape[0]
    scale = max(float(np.max(np.abs(A))), 1e-300)
    comm = np.einsum("aij,bjk->abik", A, A)
    gap = float(np.max(np.abs(comm - np.swapaxes(comm, 0, 1))))
    if gap > tol * scale**2:
        raise NotCommutingError(
            f"the matrices do not commute: max |A_i A_j - A_j A_i| = {gap:.3e} "
            f"(tol {tol:g} relative to max|A|^2 = {scale**2:.3e})"
        )
    mix = np.einsum("a,aij->ij", np.random.default_rng(0).standard_normal(d), A)
    _, V = np.linalg.eigh(mix)
    diag = np.einsum("ik,akl,lj->aij", V.T, A, V)
    lam = np.einsum("aii->ai", diag)  # (d, D)
    if np.max(np.abs(diag - lam[:, :, None] * np.eye(A.shape[1]))) > 1e-9 * scale:
        raise ConvergenceError(  # degenerate mix: V does not diagonalize every A_i
            "no common eigenbasis of the matrices from a random combination of them"
        )
    z2 = (V.T @ x) ** 2
    K0 = lam @ (z2[:, None] * lam.T)
    eig = np.linalg.eigvalsh(K0)
    if eig[0] <= 1e-12 * max(eig[-1], 1e-300):
        raise NotRegularError(
            f"the quadratic family is not regular at x_init: K has eigenvalues in "
            f"[{eig[0]:.3e}, {eig[-1]:.3e}]"
        )

    def exponent(mu):
        return 2.0 * anp.einsum("ak,...a->...k", lam, mu)

    def conjugate(mu):
        return 0.25 * anp.sum(z2 * anp.expm1(exponent(mu)), axis=-1)

    def grad_conjugate(mu):
        return 0.5 * anp.einsum("ak,...k->...a", lam, z2 * anp.exp(exponent(mu)))

    def hessian_conjugate(mu):
        weights = z2 * anp.exp(exponent(mu))
        return anp.einsum("ak,...k,bk->...ab", lam, weights, lam)

    w0 = grad_conjugate(np.zeros(d))
    mu_scale = 0.5 * max(1.0, float(np.max(np.abs(w0)))) / np.linalg.eigvalsh(K0)[-1]
    return Legendre.from_conjugate(
        conjugate,
        d,
        grad_conjugate=grad_conjugate,
        hessian_conjugate=hessian_conjugate,
        domain=MirrorImage(w0, grad_conjugate, mu_scale),
        name="commuting quadratic potential",
        check_derivatives=False,
    )
