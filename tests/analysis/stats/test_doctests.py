"""The docstring examples of the stats core run and hold."""

import doctest
import importlib
import pkgutil

import pytest

import analysis.stats

MODULES = sorted(m.name for m in pkgutil.iter_modules(analysis.stats.__path__, prefix="analysis.stats."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)

    assert result.failed == 0
