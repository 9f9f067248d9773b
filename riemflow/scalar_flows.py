"""A batch of one-dimensional forward constructions, represented by Chebyshev panels.

For a block of a separable map with one output `g` ([Concepts: the forward
theorem](concepts.md#the-forward-theorem)), the joint flow is the flow of the single field `grad g`
on the block's inputs, so along the block's dual coordinate `mu` (a scalar)

    psi(mu) = Phi^mu_{grad g}(x_b0),   r*'(mu) = g(psi(mu)),   r*''(mu) = |grad g|^2(psi(mu)),
    r*(mu) = int_0^mu r*'.

One trajectory of the field, followed in both directions from `x_b0`, gives the whole
function: no ODE per evaluation. It is computed panel by panel: on a panel
`mu in [a, a + h]` (`s = (mu - a) / h in [0, 1]`) the state solves `dx/ds = h grad g(x)`,
found by Chebyshev-Picard iteration on `n` Chebyshev points of the second kind,

    X^{m+1}(s_j) = x(a) + sum_i S_ji h grad g(X^m(s_i))    (S: spectral integration),

which converges for `|h| Lip(grad g) < ~1` to the degree `n - 1` collocation solution.
Every iteration is one batched pullback of `G` with covector `h` at all nodes: all
problems and both directions (two *lanes*, `mu < 0` and `mu > 0`) advance in the same call
of `G` (the blocks are disjoint, so one point `x` carries all of them). Convergence is
decided per problem and direction in the max norm.

An accepted panel stores the Chebyshev coefficients of `r*'` (`g` at the nodes), of `r*''`
(`|grad g|^2` at the nodes: exact values, not a differentiated interpolant) and of the
antiderivative of `r*'`. It is accepted when the iteration converged and the last three
coefficients of both interpolants are below `tol` relative to their size; otherwise it is
shortened. Panel lengths adapt per problem. A direction ends (its *edge*) when `r*'` has
moved by `cap` times its scale, when the panel length underflows near a finite-time
blow-up of the flow (depth `>= 3` networks, `u^3`), when `r*'` reaches an asymptote to
round-off, or after `max_panels` panels; points past an edge are outside the represented
domain (NaN here, `DomainError` in the potential). The represented interval grows on
demand: a query outside it extends the problems concerned from their stored end states
(nothing is recomputed), and every other problem on that side to twice its interval in the
same calls of `G`, which costs almost nothing.

Evaluations are Clenshaw sums (vectorized over coordinates); the inverse `r*'^{-1}`
(`grad R`) is a safeguarded Newton solve on the interpolant inside its panel. The
interpolation error is measured: `error_estimate` is the largest relative Chebyshev tail
over the accepted panels. Panels built by later extensions depend on which queries came
first only through their lengths, so values agree to that error, not bit for bit.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.polynomial import chebyshev as C
from threadpoolctl import threadpool_limits

from ._validation import as_positive, as_positive_int
from .errors import ConvergenceError, NotRegularError
from .structure import BatchedMap

__all__ = ["ChebyshevRule", "ScalarFlows", "clenshaw"]


class ChebyshevRule:
    """Chebyshev points of the second kind on `[-1, 1]` (increasing) and the matrices
    between node values, coefficients and integrals.

    Attributes:
        n: number of points.
        t: the points `(n,)` on `[-1, 1]`; `s = (t + 1) / 2` the same on `[0, 1]`.
        to_coef: node values -> Chebyshev coefficients `(n, n)`.
        int_coef: coefficients -> coefficients of `int_{-1}^t` `(n + 1, n)`.
        S: node values -> `int_0^{s_j}` on `[0, 1]` `(n, n)` (spectral integration).

    Examples:
        >>> import numpy as np
        >>> from riemflow.scalar_flows import ChebyshevRule
        >>> rule = ChebyshevRule(9)
        >>> bool(np.allclose(rule.S @ np.cos(rule.s), np.sin(rule.s), atol=1e-9))
        True
    """

    def __init__(self, n: int):
        self.n = as_positive_int(n, "n_nodes")
        self.t = -np.cos(np.pi * np.arange(n) / (n - 1))
        self.s = 0.5 * (self.t + 1.0)
        self.to_coef = np.linalg.inv(C.chebvander(self.t, n - 1))
        self.int_coef = np.stack([C.chebint(np.eye(n)[k], lbnd=-1) for k in range(n)], axis=1)
        self.S = 0.5 * C.chebvander(self.t, n) @ self.int_coef @ self.to_coef


def clenshaw(coef, t) -> np.ndarray:
    """`sum_k coef[:, k] T_k(t)` row by row: `coef: (N, n)`, `t: (N,)` -> `(N,)`.

    Examples:
        >>> import numpy as np
        >>> from riemflow.scalar_flows import clenshaw
        >>> clenshaw(np.array([[1.0, 2.0, 3.0]]), np.array([0.5])).tolist()  # 1 + 1 - 1.5
        [0.5]
    """
    coef = np.asarray(coef, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    b1 = np.zeros_like(t)
    b2 = np.zeros_like(t)
    for k in range(coef.shape[-1] - 1, 0, -1):
        b1, b2 = coef[:, k] + 2.0 * t * b1 - b2, b1
    return coef[:, 0] + t * b1 - b2


class _Side:
    """The panels of all problems in one direction (`sign = +1`: `mu > 0`, `-1`: `mu < 0`),
    in arrays `(P, capacity, ...)` that double when full."""

    FIELDS = ("ends", "starts", "f_ends", "F_starts", "cf", "cK", "cI", "nodes_f", "tail")

    def __init__(self, sign: int, n_problems: int, n: int, capacity: int = 8):
        self.sign = sign
        self.count = np.zeros(n_problems, dtype=int)
        self.capacity = capacity
        P, pad = n_problems, sign * np.inf
        self.ends = np.full((P, capacity), pad)  # mu at the far end of each panel
        self.starts = np.zeros((P, capacity))
        self.f_ends = np.full((P, capacity), pad)  # r*' at the far end (monotone in mu)
        self.F_starts = np.zeros((P, capacity))  # r* at the start
        self.cf = np.zeros((P, capacity, n))
        self.cK = np.zeros((P, capacity, n))
        self.cI = np.zeros((P, capacity, n + 1))
        self.nodes_f = np.zeros((P, capacity, n))
        self.tail = np.zeros((P, capacity))

    def grow(self):
        cap, pad = self.capacity, self.sign * np.inf
        for name in self.FIELDS:
            arr = getattr(self, name)
            fill = pad if name in ("ends", "f_ends") else 0.0
            out = np.full(arr.shape[:1] + (2 * cap,) + arr.shape[2:], fill)
            out[:, :cap] = arr
            setattr(self, name, out)
        self.capacity = 2 * cap


class ScalarFlows:
    """The one-dimensional forward constructions of the scalar blocks of a separable map.

    Args:
        bmap: the separable map `g` (a `structure.BatchedMap`: `G`, or `A^{-1} G`).
        x_init: the initialization `(D,)`.
        outputs: `(P,)` the output of each problem's representative block.
        inputs: `P` index arrays, the representative blocks' inputs.
        family: `(P,)` the family of each problem (identical maps), with
        hosts: per family, `(outputs (m_f,), inputs (m_f, k_f))` of its blocks: any of them
            evaluates the family's map, so a row of `G` carries up to `m_f` states of the
            family's problems (a balanced initialization, one problem for `d` blocks, then
            costs `d` times fewer rows). Default: each problem evaluated in its own block.
        n_nodes: Chebyshev points per panel.
        tol: relative tolerance of the Picard iteration (in the max norm of the block's
            state) and of the coefficient tails of `r*'` and `r*''`; `1e-13` resolves the
            functions to about `1e-12` relative, near round-off.
        max_iter: Picard iterations per panel attempt.
        cap: a direction ends once `|r*' - w0|` exceeds `cap` times the problem's scale
            (`|w0|`, or the change of `r*'` over a first panel when `w0 = 0`).
        max_panels: panels per problem and direction.
        max_seconds: time budget of one extension (the first construction or one
            extension on demand).

    Attributes:
        w0: `r*'(0)` per problem `(P,)`.
        K0: `r*''(0)` per problem `(P,)`.
        edge: per sign, whether the direction has ended `(P,)`; `edge_reason` why
            (`"blow-up"`, `"cap"`, `"limit"`, `"panels"`).
        mu_end: per sign, the end of the represented dual interval `(P,)`.
        f_end: per sign, `r*'` there `(P,)`.
        n_attempts: panel attempts (each one Chebyshev-Picard iteration loop).
        n_accepted: accepted panels.
        n_rejected: rejected panel attempts (shortened and retried).
        n_iterations: Picard iterations.
        n_extensions: extensions (the first construction is one).

    Raises:
        NotRegularError: `grad g = 0` at `x_init` for some problem.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> from riemflow.scalar_flows import ScalarFlows
        >>> from riemflow.structure import BatchedMap
        >>> G, x0 = rf.models.diagonal_network(1, init=(np.array([0.7]), np.array([0.4])))
        >>> flows = ScalarFlows(BatchedMap(G), x0, [0], [np.array([0, 1])])
        >>> # u*u - v*v along the flow: u0^2 e^{4mu} - v0^2 e^{-4mu}
        >>> mu = np.array([0.3])
        >>> f = flows.evaluate(np.array([0]), mu)["f"]
        >>> bool(np.isclose(f[0], 0.49 * np.exp(1.2) - 0.16 * np.exp(-1.2), rtol=1e-12))
        True
    """

    def __init__(
        self,
        bmap: BatchedMap,
        x_init,
        outputs,
        inputs,
        *,
        family=None,
        hosts=None,
        n_nodes: int = 21,
        tol: float = 1e-13,
        max_iter: int = 40,
        cap: float = 1e8,
        max_panels: int = 400,
        max_seconds: float = 300.0,
    ):
        self.bmap = bmap
        self.x0 = np.asarray(x_init, dtype=np.float64)
        self.outputs = np.asarray(outputs, dtype=int)
        self.inputs = [np.asarray(i, dtype=int) for i in inputs]
        self.P = P = self.outputs.size
        self.rule = ChebyshevRule(n_nodes)
        self.n = n_nodes
        self.tol = as_positive(tol, "tol")
        self.max_iter = as_positive_int(max_iter, "max_iter")
        self.cap = as_positive(cap, "cap")
        self.max_panels = as_positive_int(max_panels, "max_panels")
        self.max_seconds = as_positive(max_seconds, "max_seconds")
        sizes = np.array([i.size for i in self.inputs])
        if np.any(sizes == 0):
            raise NotRegularError(
                f"output {int(self.outputs[np.argmin(sizes)])} of the separable map depends on "
                "no input: dG loses rank (no mirror map)"
            )
        # each problem's inputs as a padded (P, m) gather (padding repeats the first input
        # and is masked)
        m = int(sizes.max())
        self.gather = np.stack(
            [np.concatenate([i, np.full(m - i.size, i[0])]) for i in self.inputs]
        )
        self.mask = np.arange(m)[None, :] < sizes[:, None]
        self._hosts(family, hosts, m)
        self.sides = {+1: _Side(+1, P, n_nodes), -1: _Side(-1, P, n_nodes)}
        local = np.where(self.mask, self.x0[self.gather], 0.0)
        self.state = {+1: local.copy(), -1: local.copy()}  # each problem's end state
        self.mu_end = {+1: np.zeros(P), -1: np.zeros(P)}
        self.F_end = {+1: np.zeros(P), -1: np.zeros(P)}
        self.edge = {+1: np.zeros(P, dtype=bool), -1: np.zeros(P, dtype=bool)}
        self.edge_reason = {+1: np.full(P, "", dtype="<U8"), -1: np.full(P, "", dtype="<U8")}
        self.n_attempts = self.n_accepted = self.n_rejected = 0
        self.n_iterations = self.n_extensions = 0
        problems = np.arange(P)
        self.w0, F = self._evaluate(local, problems, np.ones(P))
        self.K0 = np.sum(F**2, axis=-1)
        if not np.all(self.K0 > 0):
            bad = int(np.argmax(~(self.K0 > 0)))
            raise NotRegularError(
                f"output {int(self.outputs[bad])} of the separable map has a zero gradient at "
                "x_init: dG loses rank there (no mirror map)"
            )
        self.f_end = {+1: self.w0.copy(), -1: self.w0.copy()}
        # first panel length: |h| Lip(grad g) ~ 1/2 (Picard converges fast), and r*' moving
        # by at most ~2 |w0| where w0 != 0; Lip from a difference of the field along itself
        scale_x = np.maximum(np.max(np.abs(local), axis=-1), 1e-3)
        eps = 1e-5 * scale_x / np.maximum(np.max(np.abs(F), axis=-1), 1e-300)
        _, F2 = self._evaluate(local + eps[:, None] * F, problems, np.ones(P))
        with np.errstate(all="ignore"):
            lip = np.sqrt(np.sum((F2 - F) ** 2, axis=-1) / self.K0) / eps
        lip = np.where(np.isfinite(lip), lip, 1.0)
        w_ref = np.abs(self.w0) + 0.1 * float(np.max(np.abs(self.w0)))
        h0 = np.minimum(
            0.5 / np.maximum(lip, 1e-300), np.where(w_ref > 0, 2.0 * w_ref / self.K0, np.inf)
        )
        self.h = {+1: h0.copy(), -1: -h0}
        self.fscale = (
            np.maximum(
                np.maximum(np.abs(self.w0), 1e-3 * float(np.max(np.abs(self.w0)))),
                self.K0 * h0,
            )
            + 1e-300
        )
        self.mu_scale = h0.copy()

    # -- evaluation of many problem states in few rows of G ------------------------------------
    def _hosts(self, family, hosts, m: int):
        """The blocks that can evaluate each problem's map (its family's members): a table of
        host blocks, global block ids per family, and each problem's family."""
        if family is None:
            family = np.arange(self.P)
            hosts = [(self.outputs[p : p + 1], self.inputs[p][None, :]) for p in range(self.P)]
        self.family = np.asarray(family, dtype=int)
        outs, ins, table = [], [], []
        for host_out, host_in in hosts:
            host_in = np.atleast_2d(np.asarray(host_in, dtype=int))
            pad = np.repeat(host_in[:, :1], m - host_in.shape[1], axis=1)
            table.append(np.arange(len(outs), len(outs) + host_in.shape[0]))
            outs.extend(np.asarray(host_out, dtype=int).tolist())
            ins.extend(np.concatenate([host_in, pad], axis=1))
        self.host_out = np.array(outs, dtype=int)
        self.host_in = np.array(ins, dtype=int)
        self.family_size = np.array([t.size for t in table])
        width = int(self.family_size.max())
        self.family_table = np.stack(
            [np.concatenate([t, np.full(width - t.size, -1)]) for t in table]
        )

    def _layout(self, problems):
        """Where the states of `problems (N,)` go: the `k`-th state of a family to row
        `k // m_f`, in the `(k % m_f)`-th block of that family (all other blocks of a row
        stay at `x_init`)."""
        family = self.family[problems]
        order = np.argsort(family, kind="stable")
        ranked = family[order]
        rank = np.empty(family.size, dtype=int)
        rank[order] = np.arange(family.size) - np.searchsorted(ranked, ranked, side="left")
        size = self.family_size[family]
        row, block = rank // size, self.family_table[family, rank % size]
        idx, mask = self.host_in[block], self.mask[problems]
        return {
            "rows": int(row.max()) + 1,
            "row": row,
            "out": self.host_out[block],
            "idx": idx,
            "mask": mask,
            "scatter": (np.repeat(row, idx.shape[1])[mask.ravel()], idx[mask]),
        }

    def _evaluate(self, states, problems, speeds, layout=None):
        """`(g_p(z), speed grad g_p(z))` for local states `z: (N, m)` of `problems (N,)`,
        in as few rows of `G` as the hosts allow (`_layout`, computed unless given).

        Returns:
            `(N,)` values and `(N, m)` fields (0 in the padding).
        """
        layout = self._layout(problems) if layout is None else layout
        row, out, idx, mask = layout["row"], layout["out"], layout["idx"], layout["mask"]
        X = np.broadcast_to(self.x0, (layout["rows"], self.x0.size)).copy()
        X[layout["scatter"]] = states[mask]
        H = np.zeros((layout["rows"], self.bmap.output_dim))
        H[row, out] = speeds
        W, F = self.bmap.pullback(X, H)
        return W[row, out], np.where(mask, F[row[:, None], idx], 0.0)

    # -- one panel for every active (direction, problem) ------------------------------------
    def _attempt(self, active):
        """Chebyshev-Picard on one panel per active problem and direction."""
        rule, n = self.rule, self.n
        lanes = [s for s in (+1, -1) if np.any(active[s])]
        which = [np.flatnonzero(active[s]) for s in lanes]
        prob = np.concatenate(which)
        speed = np.concatenate([self.h[s][w] for s, w in zip(lanes, which, strict=True)])
        A = prob.size
        mask = self.mask[prob][:, None, :]
        X0 = np.concatenate([self.state[s][w] for s, w in zip(lanes, which, strict=True)])
        prob_n, speed_n = np.repeat(prob, n), np.repeat(speed, n)
        layout, layout_n = self._layout(prob), self._layout(prob_n)
        converged = np.full(A, -1)
        previous = np.full(A, np.inf)
        rising = np.zeros(A, dtype=int)
        failed = np.zeros(A, dtype=bool)
        with np.errstate(all="ignore"):
            F0 = self._evaluate(X0, prob, speed, layout)[1]
            X = X0[:, None, :] + rule.s[None, :, None] * F0[:, None, :]
            for it in range(1, self.max_iter + 1):
                F = self._evaluate(X.reshape(A * n, -1), prob_n, speed_n, layout_n)[1]
                F = F.reshape(X.shape)
                Xn = X0[:, None, :] + np.swapaxes(np.tensordot(rule.S, F, axes=(1, 1)), 0, 1)
                delta = np.max(np.where(mask, np.abs(Xn - X), 0.0), axis=(1, 2))
                scale = np.max(np.where(mask, np.abs(Xn), 0.0), axis=(1, 2))
                X = Xn
                ok = np.isfinite(delta) & np.isfinite(scale)
                done = ok & (delta <= self.tol * scale)
                converged = np.where((converged < 0) & done, it, converged)
                rising = np.where(ok & (delta > previous), rising + 1, 0)
                failed |= ~ok | (rising >= 3)
                previous = np.where(ok, delta, np.inf)
                self.n_iterations += 1
                if np.all((converged > 0) | failed):
                    break
                # stragglers: once 90% of the problems converged, wait at most twice their
                # median iteration count (the rest are retried on shorter panels)
                its = converged[converged > 0]
                if its.size >= 0.9 * A and it >= max(12, 2 * np.median(its)):
                    break
            W, F = self._evaluate(X.reshape(A * n, -1), prob_n, speed_n, layout_n)
            W = W.reshape(A, n)
            K = np.sum(F**2, axis=-1).reshape(A, n) / speed[:, None] ** 2
            cf = W @ rule.to_coef.T
            cK = K @ rule.to_coef.T
            tail_f = np.max(np.abs(cf[:, -3:]), axis=-1) / (
                np.max(np.abs(W), axis=-1) + self.fscale[prob]
            )
            tail_K = np.max(np.abs(cK[:, -3:]), axis=-1) / np.maximum(
                np.max(np.abs(K), axis=-1), 1e-300
            )
            tail = np.maximum(tail_f, tail_K)
            finite = np.all(np.isfinite(W), axis=-1) & np.all(np.isfinite(K) & (K > 0), axis=-1)
            good = (converged > 0) & ~failed & finite & (tail <= 10.0 * self.tol)
        self.n_attempts += 1
        out, start = {}, 0
        for s, w in zip(lanes, which, strict=True):
            sel = slice(start, start + w.size)
            start += w.size

            def full(values, fill, w=w, sel=sel):
                arr = np.full((self.P,) + values.shape[1:], fill, dtype=values.dtype)
                arr[w] = values[sel]
                return arr

            out[s] = {
                "good": full(good, False),
                "failed": full(failed | ~finite, False),
                "X_end": full(X[:, -1], 0.0),
                "W": full(W, 0.0).T,
                "cf": full(cf, 0.0),
                "cK": full(cK, 0.0),
                "tail": full(tail, np.inf),
                "iterations": full(converged, -1),
            }
        return out

    def _store(self, s, mask, data):
        side = self.sides[s]
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        while np.max(side.count[idx]) >= side.capacity:
            side.grow()
        k = side.count[idx]
        h = self.h[s][idx]
        cf = data["cf"][idx]
        cI = np.einsum("ij,pj->pi", self.rule.int_coef, cf)
        side.starts[idx, k] = self.mu_end[s][idx]
        side.ends[idx, k] = self.mu_end[s][idx] + h
        side.F_starts[idx, k] = self.F_end[s][idx]
        side.cf[idx, k] = cf
        side.cK[idx, k] = data["cK"][idx]
        side.cI[idx, k] = cI
        side.nodes_f[idx, k] = data["W"][:, idx].T
        side.f_ends[idx, k] = data["W"][-1, idx]
        side.tail[idx, k] = data["tail"][idx]
        side.count[idx] += 1
        self.F_end[s][idx] += 0.5 * h * C.chebval(1.0, cI.T, tensor=False)
        self.mu_end[s][idx] += h
        self.f_end[s][idx] = data["W"][-1, idx]
        self.state[s][idx] = data["X_end"][idx]

    def extend(self, mu_target=None, f_target=None):
        """Extend every problem until it covers `mu_target[s]` and `f_target[s]` (per sign
        `s`, `(P,)` arrays, NaN for no target) or reaches its edge.

        BLAS runs on one thread here: the products are small (a few dozen rows), and a
        threaded BLAS on a loaded machine spends more time waiting than computing.

        Raises:
            ConvergenceError: the time budget `max_seconds` is spent.
        """
        with threadpool_limits(limits=1, user_api="blas"):
            self._extend(mu_target, f_target)

    def _extend(self, mu_target, f_target):
        self.n_extensions += 1
        start = time.perf_counter()
        rows = np.arange(self.P)
        while True:
            active = {}
            for s in (+1, -1):
                need = np.zeros(self.P, dtype=bool)
                for target, end in ((mu_target, self.mu_end[s]), (f_target, self.f_end[s])):
                    if target is not None and target.get(s) is not None:
                        with np.errstate(invalid="ignore"):
                            need |= np.isfinite(target[s]) & (s * end < s * target[s])
                active[s] = need & ~self.edge[s]
            if not (np.any(active[+1]) or np.any(active[-1])):
                return
            if time.perf_counter() - start > self.max_seconds:
                raise ConvergenceError(
                    f"the one-dimensional flows did not reach their targets within "
                    f"max_seconds={self.max_seconds:g} ({self.n_attempts} panel attempts, "
                    f"{self.n_accepted} panels)",
                    iterations=self.n_attempts,
                )
            for s, data in self._attempt(active).items():
                good = data["good"]
                self._store(s, good, data)
                self.n_accepted += int(np.sum(good))
                self.n_rejected += int(np.sum(active[s] & ~good))
                it = data["iterations"]
                # step control: the coefficient tail decays geometrically with the degree,
                # so the length meeting the tolerance scales like (tol / tail)^(1/n);
                # slow Picard convergence (its rate is ~ |h| Lip) asks for shorter panels
                tail = np.maximum(data["tail"], 1e-300)
                by_tail = np.clip((self.tol / tail) ** (1.0 / self.n), 0.5, 2.0)
                by_picard = np.where(it <= 12, 1.5, np.where(it <= 20, 1.15, 0.8))
                by_picard = np.where(it > 0, by_picard, 0.5)
                factor = np.where(
                    good,
                    np.minimum(by_tail, by_picard),
                    np.where(data["failed"], 0.25, np.minimum(0.9 * by_tail, by_picard)),
                )
                self.h[s] = np.where(active[s], self.h[s] * factor, self.h[s])
                side = self.sides[s]
                tiny = np.abs(self.h[s]) < 1e-12 * np.maximum(np.abs(self.mu_end[s]), self.mu_scale)
                with np.errstate(invalid="ignore"):
                    big = np.abs(self.f_end[s] - self.w0) > self.cap * self.fscale
                full = side.count >= self.max_panels
                # an asymptote (r*' -> 0 as mu -> -inf for u*u): the last panel moved r*' by
                # less than round-off, so the end of the range is its limit
                last = side.f_ends[rows, np.maximum(side.count - 1, 0)]
                before = np.where(
                    side.count > 1, side.f_ends[rows, np.maximum(side.count - 2, 0)], self.w0
                )
                flat = good & (np.abs(last - before) <= 4e-16 * (np.abs(before) + self.fscale))
                for flag, reason in (
                    (tiny, "blow-up"),
                    (big, "cap"),
                    (full, "panels"),
                    (flat, "limit"),
                ):
                    new = flag & ~self.edge[s]
                    self.edge[s] |= new
                    self.edge_reason[s][new] = reason

    # -- evaluation ---------------------------------------------------------------------------
    def _others(self, s, missed):
        """Targets for the problems not `missed` on side `s` when some were: twice their
        covered interval (the same calls of `G` extend them at almost no cost, and later
        queries, e.g. a line search probing toward a blow-up coordinate by coordinate, find
        the interval already built)."""
        if not np.any(missed):
            return np.full(self.P, np.nan)
        grow = s * 2.0 * np.maximum(np.abs(self.mu_end[s]), self.mu_scale)
        return np.where(~missed & ~self.edge[s], grow, np.nan)

    def _locate(self, prob, mu):
        """Side, panel and local `t` of the points `mu` of problems `prob` (1-D arrays), and
        whether the represented interval covers them."""
        side_of = np.where(mu >= 0, 1, -1)
        panel = np.zeros(mu.shape, dtype=int)
        inside = np.zeros(mu.shape, dtype=bool)
        t = np.zeros(mu.shape)
        for s in (+1, -1):
            sel = side_of == s
            if not np.any(sel):
                continue
            side = self.sides[s]
            p, m = prob[sel], mu[sel]
            k = np.sum(s * side.ends[p] < s * m[:, None], axis=1)
            ok = k < side.count[p]
            kk = np.where(ok, k, 0)
            a, b = side.starts[p, kk], side.ends[p, kk]
            t[sel] = np.clip(2.0 * (m - a) / np.where(ok, b - a, 1.0) - 1.0, -1.0, 1.0)
            panel[sel], inside[sel] = kk, ok
        return side_of, panel, t, inside

    def ensure_mu(self, prob, mu):
        """Extend the problems `prob` whose represented interval does not cover `mu`."""
        _, _, _, inside = self._locate(prob, mu)
        if np.all(inside):
            return
        targets = {}
        for s in (+1, -1):
            sel = ~inside & (np.sign(mu) == s) & np.isfinite(mu)
            m = np.full(self.P, np.nan)
            if np.any(sel):
                far = np.zeros(self.P)
                np.maximum.at(far, prob[sel], s * mu[sel])
                missed = (far > 0) & ~self.edge[s]
                m = np.where(far > 0, s * far * 1.05, self._others(s, missed))
            targets[s] = m
        self.extend(mu_target=targets)

    def ensure_f(self, prob, w):
        """Extend the problems `prob` whose represented range does not reach `w`."""
        w0 = self.w0[prob]
        f_targets, mu_targets = {}, {}
        for s in (+1, -1):
            sel = (np.sign(w - w0) == s) & np.isfinite(w)
            f_targets[s] = mu_targets[s] = np.full(self.P, np.nan)
            if np.any(sel):
                far = np.full(self.P, -np.inf)
                np.maximum.at(far, prob[sel], s * w[sel])
                beyond = far > s * self.f_end[s]
                f_targets[s] = np.where(beyond, s * far, np.nan)
                mu_targets[s] = self._others(s, beyond & ~self.edge[s])
        if any(np.any(np.isfinite(v)) for v in f_targets.values()):
            self.extend(mu_target=mu_targets, f_target=f_targets)

    def _gather(self, name, side_of, prob, panel):
        first = getattr(self.sides[1], name)
        out = np.empty((prob.size,) + first.shape[2:])
        for s in (+1, -1):
            sel = side_of == s
            if np.any(sel):
                out[sel] = getattr(self.sides[s], name)[prob[sel], panel[sel]]
        return out

    def evaluate(self, prob, mu, what=("f",)) -> dict[str, np.ndarray]:
        """Values at `mu` of the problems `prob` (1-D arrays of one size): any of `"f"`
        (`r*'`), `"K"` (`r*''`), `"dK"` (`r*'''`), `"F"` (`r*`), extending the represented
        interval where needed. NaN past an edge."""
        prob = np.asarray(prob, dtype=int)
        mu = np.asarray(mu, dtype=np.float64)
        finite = np.isfinite(mu)
        mu0 = np.where(finite, mu, 0.0)
        self.ensure_mu(prob, mu0)
        side_of, panel, t, inside = self._locate(prob, mu0)
        inside &= finite
        out = {}
        h = self._gather("ends", side_of, prob, panel) - self._gather(
            "starts", side_of, prob, panel
        )
        if "f" in what:
            out["f"] = clenshaw(self._gather("cf", side_of, prob, panel), t)
        if "K" in what or "dK" in what:
            cK = self._gather("cK", side_of, prob, panel)
            if "K" in what:
                out["K"] = clenshaw(cK, t)
            if "dK" in what:
                out["dK"] = clenshaw(C.chebder(cK, axis=1), t) * 2.0 / h
        if "F" in what:
            out["F"] = self._gather("F_starts", side_of, prob, panel) + 0.5 * h * clenshaw(
                self._gather("cI", side_of, prob, panel), t
            )
        return {k: np.where(inside, v, np.nan) for k, v in out.items()}

    def invert(self, prob, w, *, max_iter: int = 30) -> np.ndarray:
        """`mu` with `r*'(mu) = w` for the problems `prob` (1-D arrays): Newton on the
        interpolant inside its panel, bisection as safeguard, started by linear
        interpolation between the panel's node values; extends the represented range
        where needed. NaN outside it."""
        prob = np.asarray(prob, dtype=int)
        w = np.asarray(w, dtype=np.float64)
        self.ensure_f(prob, w)
        side_of = np.where(w >= self.w0[prob], 1, -1)
        panel = np.zeros(w.shape, dtype=int)
        inside = np.zeros(w.shape, dtype=bool)
        for s in (+1, -1):
            sel = side_of == s
            if np.any(sel):
                side, p = self.sides[s], prob[sel]
                k = np.sum(s * side.f_ends[p] < s * w[sel][:, None], axis=1)
                ok = k < side.count[p]
                panel[sel], inside[sel] = np.where(ok, k, 0), ok
        inside &= np.isfinite(w)
        cf = self._gather("cf", side_of, prob, panel)
        dcf = C.chebder(cf, axis=1)
        nodes = self._gather("nodes_f", side_of, prob, panel)
        tj = self.rule.t
        # r*' increases with mu: with t on the positive side, against it on the negative
        sgn = side_of[:, None]
        j = np.clip(np.sum(sgn * nodes < sgn * w[:, None], axis=1), 1, self.n - 1)
        rows = np.arange(w.size)
        f_lo, f_hi = nodes[rows, j - 1], nodes[rows, j]
        with np.errstate(all="ignore"):
            frac = np.where(
                f_hi != f_lo, (w - f_lo) / np.where(f_hi != f_lo, f_hi - f_lo, 1.0), 0.5
            )
        t = tj[j - 1] + np.clip(frac, 0.0, 1.0) * (tj[j] - tj[j - 1])
        lo, hi = tj[j - 1].copy(), tj[j].copy()
        scale = np.abs(w) + np.abs(nodes).max(axis=1)
        done = ~inside
        eps = np.finfo(np.float64).eps
        with np.errstate(all="ignore"):
            for _ in range(max_iter):
                f = clenshaw(cf, t) - w
                up = side_of * f > 0  # the residual's sign along t
                hi = np.where(~done & up, np.minimum(hi, t), hi)
                lo = np.where(~done & ~up, np.maximum(lo, t), lo)
                new = t - f / clenshaw(dcf, t)
                ok = np.isfinite(new) & (new >= lo) & (new <= hi)
                new = np.where(ok, new, 0.5 * (lo + hi))
                small = np.abs(f) <= 2 * eps * scale
                converged = small | (ok & (np.abs(new - t) <= 4 * eps))
                t = np.where(done | small, t, new)
                done |= converged
                if np.all(done):
                    break
        a = self._gather("starts", side_of, prob, panel)
        b = self._gather("ends", side_of, prob, panel)
        return np.where(inside, a + 0.5 * (t + 1.0) * (b - a), np.nan)

    # -- reports ------------------------------------------------------------------------------
    def error_estimate(self) -> float:
        """Largest relative Chebyshev tail over all accepted panels (the resolution of the
        interpolants of `r*'` and `r*''`)."""
        worst = 0.0
        for s in (+1, -1):
            side = self.sides[s]
            used = np.arange(side.capacity)[None, :] < side.count[:, None]
            worst = max(worst, float(np.max(np.where(used, side.tail, 0.0), initial=0.0)))
        return worst

    @property
    def n_panels(self) -> int:
        """Accepted panels over all problems and both directions."""
        return int(np.sum(self.sides[-1].count) + np.sum(self.sides[+1].count))
