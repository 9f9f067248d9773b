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


#: characters of code that fit the docs column (733 px at about 8.5 px per character of the
#: code font, measured in headless Chromium by .ci/check_site.py)
COLUMN = 84


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_fit_the_docs_column(name):
    """Examples render as code blocks in the API reference: every line of an example (its
    inputs and the output it shows) fits the column, so nothing is cut off at its edge."""
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    wide = []
    for test in finder.find(module):
        for example in test.examples:
            lines = [">>> " + line for line in example.source.splitlines()]
            lines += example.want.splitlines()  # an exception's message included
            wide += [f"{test.name}: {line}" for line in lines if len(line) > COLUMN]
    assert not wide, "lines wider than the docs column:\n" + "\n".join(wide)
