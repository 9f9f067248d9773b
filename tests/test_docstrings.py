"""Every example in the docstrings runs and prints what it shows (the API docs render them)."""

import doctest
import importlib
import pkgutil

import pytest

import riemflow

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(riemflow.__path__, prefix="riemflow.")
    if name != "riemflow.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
