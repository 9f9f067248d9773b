"""Losses: values against NumPy formulas, stability, mini-batches, bad data."""

import numpy as np
import pytest
from autograd import grad

import riemflow as rf

RNG = np.random.default_rng(0)
X = RNG.standard_normal((5, 3))
Y = np.array([1.0, -1.0, 1.0, 1.0, -1.0])
W = RNG.standard_normal(3)


def test_values_and_gradients():
    m = Y * (X @ W)
    cases = {
        "squared": (0.5 * np.mean((X @ W - Y) ** 2), X.T @ (X @ W - Y) / 5),
        "exponential": (np.mean(np.exp(-m)), -X.T @ (Y * np.exp(-m)) / 5),
        "logistic": (np.mean(np.log1p(np.exp(-m))), -X.T @ (Y / (1 + np.exp(m))) / 5),
    }
    for kind, (value, gradient) in cases.items():
        loss = getattr(rf.losses, kind)(X, Y)
        assert float(loss(W)) == pytest.approx(value, rel=1e-14)
        np.testing.assert_allclose(grad(loss)(W), gradient, rtol=1e-13)
        total = getattr(rf.losses, kind)(X, Y, reduction="sum")
        assert float(total(W)) == pytest.approx(5 * value, rel=1e-14)


def test_logistic_is_stable_for_large_margins():
    loss = rf.losses.logistic(np.array([[1.0]]), np.array([1.0]))
    assert float(loss(np.array([-800.0]))) == pytest.approx(800.0, rel=1e-15)
    assert float(loss(np.array([800.0]))) == 0.0 or float(loss(np.array([800.0]))) < 1e-300


def test_subset_is_the_loss_on_those_samples():
    loss = rf.losses.squared(X, Y)
    sub = loss.subset(np.array([1, 3]))
    assert float(sub(W)) == pytest.approx(0.5 * np.mean((X[[1, 3]] @ W - Y[[1, 3]]) ** 2))
    with pytest.raises(rf.errors.InputError, match="indices"):
        loss.subset(np.array([7]))


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((np.ones(3), np.ones(3)), rf.errors.ShapeError, "X"),
        ((np.ones((3, 2)), np.ones(2)), rf.errors.ShapeError, "y"),
        ((np.full((3, 2), np.nan), np.ones(3)), rf.errors.NonFiniteError, "X"),
        ((np.ones((3, 2)), None), rf.errors.InputError, "required"),
    ],
)
def test_bad_data(args, error, match):
    with pytest.raises(error, match=match):
        rf.losses.squared(*args)


def test_wrong_w_shape():
    with pytest.raises(rf.errors.ShapeError, match="w of shape"):
        rf.losses.squared(X, Y)(np.ones(4))


@pytest.mark.parametrize("kind", ["squared", "exponential", "logistic"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_closed_form_gradient_and_batched_values_match_autograd(kind, reduction):
    """`gradient` and `values` are what the flows use; `__call__` (traced by autograd) is
    the reference. Same arithmetic in another order: agreement to a few ulps."""
    y = None if kind == "squared" else np.sign(Y)
    loss = rf.losses.DataLoss(X, Y if kind == "squared" else y, kind=kind, reduction=reduction)
    rng = np.random.default_rng(1)
    ws = rng.standard_normal((5, X.shape[1]))
    for w in ws:
        np.testing.assert_allclose(loss.gradient(w), grad(loss)(w), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(loss.values(ws), [float(loss(w)) for w in ws], rtol=1e-13)
    with pytest.raises(rf.errors.ShapeError):
        loss.gradient(np.ones(X.shape[1] + 1))
    with pytest.raises(rf.errors.ShapeError):
        loss.values(np.ones(X.shape[1]))
