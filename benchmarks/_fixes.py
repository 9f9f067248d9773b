"""The code before the issue-8 fixes, swapped back in by monkeypatching, so the suite
measures before and after side by side in one run (`[before fix: ...]` rows).

Both fixes are now in riemflow's source; docs/performance.md has the findings.

- `stacked_jacobian`: `riemflow._autodiff.jacobian` as it was, `k` vector-Jacobian products
  stacked row by row. Under forward mode (the Lie brackets of `check_commuting`),
  autograd's JVP of that `stack` pads each row with `k - 1` zero blocks: O(k^2) memory
  traffic per Jacobian. The fix (`jacobian(..., tiled=True)` for vectorized maps) evaluates
  the map once on the batch tiled `k` times and pulls back the identity cotangents in ONE
  backward pass.
- `before_lm`: `riemflow.converse._lm_solve` as it was: `np.linalg.cholesky` followed by two
  `np.linalg.solve` calls on the triangular factors (two general LU factorizations per
  damping trial), with BLAS on its default threads. On a 2-core machine with other work
  running, OpenBLAS's second thread spins against the other process, and the 196 x 196
  systems take seconds instead of milliseconds. The fix uses `scipy.linalg.cho_factor` /
  `cho_solve` and one BLAS thread (threadpoolctl) for the loop.
"""

from __future__ import annotations

import contextlib

import numpy as np

from riemflow import _autodiff, converse

_original_jacobian = _autodiff.jacobian
_original_lm_solve = converse._lm_solve


def _stacked(fn, xb, name="fn", *, tiled=False):
    return _original_jacobian(fn, xb, name, tiled=False)


def _lu_lm_solve(col, C, target, scale, *, tol, max_iter):
    """`riemflow.converse._lm_solve` before the fix: LU solves on the Cholesky factors, BLAS
    threads as configured."""
    nb, D = C.shape
    n = nb * D

    def residual(Cm):
        dF = [B @ Cm for B in col.B]
        r = np.stack([np.sum(dF[i] * dF[j], axis=1) for i, j in col.pairs]) - target
        return r / scale, dF

    r, dF = residual(C)
    cost = float(np.sum(r * r))
    lam = 1e-6
    it = 0
    maxima = [float(np.max(np.abs(r)))]
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is returned
        if maxima[-1] <= tol:
            break
        if len(maxima) >= 4 and maxima[-1] > 0.7 * maxima[-4]:
            break
        JTJ = np.zeros((n, n))
        JTr = np.zeros(n)
        for (i, j), rp in zip(col.pairs, r, strict=True):
            Jp = col.B[i][:, :, None] * dF[j][:, None, :] + col.B[j][:, :, None] * dF[i][:, None, :]
            Jp = Jp.reshape(Jp.shape[0], n) / scale
            JTJ += Jp.T @ Jp
            JTr += Jp.T @ rp
        diag = np.mean(np.diag(JTJ))
        accepted = False
        for _ in range(30):
            A = JTJ + lam * diag * np.eye(n)
            try:
                L = np.linalg.cholesky(A)
            except np.linalg.LinAlgError:
                lam *= 10.0
                continue
            step = -np.linalg.solve(L.T, np.linalg.solve(L, JTr)).reshape(nb, D)
            r_new, dF_new = residual(C + step)
            cost_new = float(np.sum(r_new * r_new))
            if cost_new < cost:
                C, r, dF, cost = C + step, r_new, dF_new, cost_new
                lam = max(lam / 5.0, 1e-15)
                accepted = True
                maxima.append(float(np.max(np.abs(r))))
                break
            lam *= 4.0
        if not accepted:
            break
    return C, float(np.max(np.abs(r))), it


@contextlib.contextmanager
def stacked_jacobian():
    """`riemflow._autodiff.jacobian` without tiling (before the fix) inside the block."""
    _autodiff.jacobian = _stacked
    try:
        yield
    finally:
        _autodiff.jacobian = _original_jacobian


@contextlib.contextmanager
def before_lm():
    """`riemflow.converse._lm_solve` before the fix (LU solves, BLAS on its default
    threads) inside the block."""
    converse._lm_solve = _lu_lm_solve
    try:
        yield
    finally:
        converse._lm_solve = _original_lm_solve
