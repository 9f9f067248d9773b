"""Pesme and Flammarion (2023): the saddle algorithm against closed forms, and the flows'
staircase converging to it as alpha -> 0."""

import numpy as np
import pytest

from riemflow import losses
from riemflow.errors import InputError
from riemflow.experiments import pesme


@pytest.fixture(scope="module")
def quick():
    return pesme.run(**pesme.QUICK, progress=False)


def test_saddle_sequence_closed_forms():
    X, y = pesme.problem()
    saddles = pesme.saddle_sequence(X, y)
    g0 = losses.squared(X, y).gradient(np.zeros(X.shape[1]))
    # first jump: the coordinate with the largest |grad L(0)|, at 1 / (2 |grad L(0)|_inf)
    assert saddles[1].support == (int(np.argmax(np.abs(g0))),)
    assert saddles[1].t == pytest.approx(1 / (2 * np.max(np.abs(g0))), rel=1e-12)
    # the first saddle is the 1-D least-squares fit on that coordinate
    i = saddles[1].support[0]
    assert saddles[1].w[i] == pytest.approx(X[:, i] @ y / (X[:, i] @ X[:, i]), rel=1e-12)
    # times increase, losses decrease, and the last saddle interpolates (n < d)
    assert np.all(np.diff([s.t for s in saddles]) > 0)
    assert np.all(np.diff([s.loss for s in saddles]) < 0)
    assert saddles[-1].loss < 1e-25
    with pytest.raises(InputError, match="X"):
        pesme.saddle_sequence(np.ones(3), y)


def test_every_claim_agrees_at_the_quick_size(quick):
    table = pesme.compare(quick)
    assert table["agrees"].all(), table.to_string()


def test_first_jump_converges_like_one_over_log(quick):
    jumps = quick[(quick["kind"] == "jump") & (quick["k"] == 1)].sort_values("alpha")
    err = (jumps["t_flow"] - jumps["t_limit"]).abs().to_numpy()
    # alpha = 1e-30, 1e-12, 1e-4: the error decreases with log(1/alpha)
    assert err[0] < err[1] < err[2]
    assert err[0] < 2.0 / np.log(1e30)
    assert len(pesme.plot(quick).axes) == 2
