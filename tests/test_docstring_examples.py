"""Every example in a module docstring of sparsim runs as a test (SimPy's habit)."""

import doctest
import importlib
import pkgutil

import pytest

import sparsim

# __main__ runs the CLI when imported, so it has no examples to collect
MODULES = sorted(m.name for m in pkgutil.walk_packages(sparsim.__path__, "sparsim.") if m.name != "sparsim.__main__")


def test_the_package_has_modules_to_check():
    assert "sparsim.simulator.des" in MODULES and "sparsim.models.work" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_module_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
