"""Every public entry point answers every input in bounded time: a correct result or a
`riemflow.errors` exception (or the user's own exception, unchanged), never a hang or a
foreign exception.

Hypothesis draws adversarial inputs for each entry point: wrong types and shapes, NaN/Inf
in any array, concave or indefinite potentials, non-smooth and non-scalar losses, maps
that raise or return NaN on part of their domain, blow-ups, empty data. Each call runs
under a wall-clock limit (`LIMIT` seconds, on a loaded 2-core machine). The default run
draws over 300 examples across the entry points; `-m slow` runs a longer profile.
"""

from __future__ import annotations

import contextlib
import signal

import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import riemflow as rf
from riemflow.errors import RiemflowError

LIMIT = 20.0  # seconds per call


class UserError(Exception):
    """The exception the adversarial user functions raise on purpose."""


class _Hang(BaseException):
    """Raised by the alarm: a call took longer than `LIMIT` (not an `Exception`, so no
    `except Exception` in the code under test can swallow it)."""


@contextlib.contextmanager
def _time_limit(seconds: float):
    def handler(signum, frame):
        raise _Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def answer(call):
    """Run `call()` under the time limit: its result, or the typed (or user's) exception."""
    with _time_limit(LIMIT):
        try:
            return call()
        except (RiemflowError, UserError) as exc:
            return exc


# -- the adversarial pieces -----------------------------------------------------------------
BAD_FLOATS = st.sampled_from([np.nan, np.inf, -np.inf, 1e308, -1e308, 0.0, 1e-320])


def arrays(shape):
    """A finite array of `shape`, or one with a NaN/Inf/huge entry."""
    size = int(np.prod(shape))
    good = st.lists(st.floats(-2.0, 2.0), min_size=size, max_size=size)
    return st.one_of(
        good.map(lambda v: np.array(v).reshape(shape)),
        st.tuples(good, st.integers(0, max(size - 1, 0)), BAD_FLOATS).map(
            lambda t: _poke(np.array(t[0]).reshape(shape), t[1], t[2])
        ),
    )


def _poke(arr, index, value):
    arr = arr.copy()
    if arr.size:
        arr.flat[index] = value
    return arr


WRONG = st.sampled_from(
    [None, "abc", [1.0, "x"], np.zeros(0), np.zeros((2, 2, 2)), np.ones(5), object(), True]
)


def points(dim):
    return st.one_of(arrays((dim,)), WRONG)


def _raise_on_half(fn):
    def wrapped(z):
        if float(np.asarray(getattr(z, "_value", z)).ravel()[0]) > 0.7:
            raise UserError("the user's map refuses this point")
        return fn(z)

    return wrapped


LOSSES = {
    "squared": lambda d: rf.losses.squared(np.eye(d)[:1], np.ones(1)),
    "vector": lambda d: lambda w: w,
    "nan where w > 1": lambda d: (
        lambda w: anp.sum(anp.where(w > 1.0, np.nan, 0.0) + (w - 3.0) ** 2)
    ),
    "non-smooth": lambda d: lambda w: anp.sum(anp.abs(w - 0.3)),
    "raises": lambda d: _raise_on_half(lambda w: anp.sum(w**2)),
    "blows up": lambda d: lambda w: -anp.sum(w**3),
    "not callable": lambda d: 3.0,
    "nan everywhere": lambda d: lambda w: anp.sum(w) * np.nan,
}

MAPS = {
    "square": lambda x: x * x,
    "abs": lambda x: anp.abs(x),
    "nan on half": lambda x: anp.where(x > 0.5, np.nan, x**2),
    "raises on half": _raise_on_half(lambda x: x**3 + x),
    "non-commuting": lambda x: anp.stack([x[..., 0] * x[..., 1], x[..., 1] + 0.0 * x[..., 0]], -1),
}

POTENTIALS = {
    "entropy": lambda d: rf.potentials.negative_entropy(d),
    "concave": lambda d: rf.Legendre(lambda w: -anp.sum(w**2), d),
    "indefinite": lambda d: rf.Legendre(lambda w: w[0] ** 2 - anp.sum(w[1:] ** 2), d),
    "nan outside": lambda d: rf.Legendre(lambda w: anp.sum(anp.where(w > 1.5, np.nan, w**2)), d),
    "log ball": lambda d: rf.potentials.log_ball(d),
    "hyperbolic": lambda d: rf.potentials.hyperbolic_entropy(d, 1e-3),
}

SPANS = st.one_of(
    st.sampled_from([(0.0, 1.0), (0.0, 5.0)]),
    st.sampled_from([(1.0, 0.0), (0.0, np.nan), (0.0, np.inf), "0:1", (0.0,)]),
)

FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
LONG = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# -- the checks ------------------------------------------------------------------------------
def _check_trajectory(out):
    if isinstance(out, BaseException):
        return
    assert isinstance(out, rf.Trajectory)
    assert np.all(np.isfinite(out.w)) and np.all(np.isfinite(out.loss))


def _gradient_flow(map_name, loss_name, x0, span):
    G = rf.Parametrization(MAPS[map_name], 2, name=map_name)
    loss = LOSSES[loss_name](2)
    _check_trajectory(answer(lambda: rf.gradient_flow(G, loss, x0, span)))


def _mirror_flow(potential, loss_name, w0, span):
    def call():
        return rf.mirror_flow(POTENTIALS[potential](2), LOSSES[loss_name](2), w0, span)

    _check_trajectory(answer(call))


def _descents(map_name, potential, loss_name, start, lr):
    G = rf.Parametrization(MAPS[map_name], 2, name=map_name)
    loss = LOSSES[loss_name](2)
    _check_trajectory(answer(lambda: rf.gradient_descent(G, loss, start, lr=lr, steps=20)))
    out = answer(lambda: rf.mirror_descent(POTENTIALS[potential](2), loss, start, lr=lr, steps=20))
    _check_trajectory(out)


def _potential_maps(potential, w, mu):
    def call():
        R = POTENTIALS[potential](2)
        return R(w), R.grad(w), R.hessian(w), R.grad_conjugate(mu), R.bregman(w, w)

    out = answer(call)
    if not isinstance(out, BaseException):
        value, grad, hess, back, zero = out
        assert np.isfinite(value) and np.all(np.isfinite(grad)) and np.all(np.isfinite(back))
        assert abs(zero) <= 1e-12 * max(1.0, abs(value))


def _forward(map_name, x0, mu):
    def call():
        G = rf.Parametrization(MAPS[map_name], 2, name=map_name)
        R = rf.mirror_potential(G, x0, n_check=4)
        return R.grad_conjugate(mu)

    out = answer(call)
    if not isinstance(out, BaseException):
        assert np.all(np.isfinite(out))


def _implicit_bias(potential, X, y, w0):
    out = answer(lambda: rf.implicit_bias(POTENTIALS[potential](2), X, y, w0, max_iter=50))
    if not isinstance(out, BaseException):
        assert np.all(np.isfinite(out))
        assert np.max(np.abs(np.atleast_2d(X) @ out - y)) <= 1e-8 * max(1.0, np.max(np.abs(y)))


def _geometry(map_name, x):
    G = rf.Parametrization(MAPS[map_name], 2, name=map_name)
    for method in (G.jacobian, G.kernel, G.lie_brackets, G.check_commuting, G.check_regular):
        out = answer(lambda method=method: method(x))
        if isinstance(out, np.ndarray):
            assert np.all(np.isfinite(out))


def _converse(potential, width):
    out = answer(
        lambda: rf.commuting_parametrization(
            POTENTIALS[potential](2), [(0.3 - width, 0.3 + width)] * 2, tol=1e-3, max_degree=10
        )
    )
    if not isinstance(out, BaseException):
        assert out.isometry_defect <= 1e-3


def _data_losses(X, y):
    for build in (rf.losses.squared, rf.losses.exponential, rf.losses.logistic):
        out = answer(lambda build=build: build(X, y))
        if not isinstance(out, BaseException):
            assert np.isfinite(answer(lambda out=out: out(np.zeros(out.dim))))


ENTRY_POINTS = {
    "gradient_flow": (
        _gradient_flow,
        st.tuples(st.sampled_from(sorted(MAPS)), st.sampled_from(sorted(LOSSES)), points(2), SPANS),
    ),
    "mirror_flow": (
        _mirror_flow,
        st.tuples(
            st.sampled_from(sorted(POTENTIALS)),
            st.sampled_from(sorted(LOSSES)),
            points(2),
            SPANS,
        ),
    ),
    "descents": (
        _descents,
        st.tuples(
            st.sampled_from(sorted(MAPS)),
            st.sampled_from(sorted(POTENTIALS)),
            st.sampled_from(sorted(LOSSES)),
            points(2),
            st.one_of(st.sampled_from([0.01, 0.5, 10.0]), BAD_FLOATS, WRONG),
        ),
    ),
    "Legendre": (
        _potential_maps,
        st.tuples(st.sampled_from(sorted(POTENTIALS)), points(2), points(2)),
    ),
    "mirror_potential": (
        _forward,
        st.tuples(st.sampled_from(sorted(MAPS)), points(2), points(2)),
    ),
    "implicit_bias": (
        _implicit_bias,
        st.tuples(
            st.sampled_from(sorted(POTENTIALS)),
            st.one_of(arrays((1, 2)), arrays((2, 2)), WRONG),
            st.one_of(arrays((1,)), WRONG),
            points(2),
        ),
    ),
    "Parametrization": (
        _geometry,
        st.tuples(st.sampled_from(sorted(MAPS)), st.one_of(points(2), arrays((3, 2)))),
    ),
    "commuting_parametrization": (
        _converse,
        st.tuples(
            st.sampled_from(["entropy", "concave", "log ball"]),
            st.sampled_from([0.05, 0.2, 0.9]),
        ),
    ),
    "losses": (
        _data_losses,
        st.tuples(st.one_of(arrays((3, 2)), arrays((0, 2)), WRONG), st.one_of(arrays((3,)), WRONG)),
    ),
}


def _run(name, profile):
    check, strategy = ENTRY_POINTS[name]

    @profile
    @given(strategy)
    def test(args):
        check(*args)

    test()


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_every_entry_point_answers_adversarial_inputs_in_bounded_time(name):
    """40 examples per entry point, 360 in all, each call under `LIMIT` seconds."""
    _run(name, FAST)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_every_entry_point_answers_adversarial_inputs_in_bounded_time_long(name):
    _run(name, LONG)
