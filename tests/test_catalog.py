"""The catalog the command line and the docs read: every entry builds and is what it says."""

import numpy as np
import pytest

import riemflow as rf
from riemflow import catalog


@pytest.mark.parametrize("name", sorted(catalog.MODELS))
def test_every_model_builds_and_its_commuting_flag_is_what_the_check_finds(name):
    entry = catalog.MODELS[name]
    G, x0 = catalog.model(name, 3, depth=2.0, alpha=0.5, seed=1)
    assert np.all(np.isfinite(G(x0)))
    report = G.check_commuting(n_samples=8)
    assert report.passed == entry.commuting, report


@pytest.mark.parametrize("name", sorted(catalog.POTENTIALS))
def test_every_potential_builds_and_its_curvature_flag_is_what_the_check_finds(name):
    entry = catalog.POTENTIALS[name]
    R = catalog.potential(name, 2)
    assert R.check(n_samples=8).passed
    assert R.check_flat(n_samples=8).passed == (not entry.curved)


@pytest.mark.parametrize("name", sorted(catalog.LOSSES))
def test_every_loss_builds_with_a_finite_value_and_gradient(name):
    w0 = np.array([0.5, -0.25, 1.0])
    L = catalog.loss(name, w0, 4, seed=2)
    assert np.isfinite(L(w0)) and np.all(np.isfinite(rf.losses.gradient(L, w0)))


@pytest.mark.parametrize("name", catalog.REPRODUCTIONS)
def test_every_reproduction_has_the_shared_interface(name):
    module = rf.experiments.get(name)
    assert module.NAME == name and module.PAPER
    assert callable(module.run) and callable(module.compare) and callable(module.plot)


def test_unknown_names_are_refused_with_the_choices():
    with pytest.raises(rf.errors.InputError, match="choose from diagonal"):
        catalog.model("nope", 2)
    with pytest.raises(rf.errors.InputError, match="log_ball"):
        catalog.potential("nope", 2)
