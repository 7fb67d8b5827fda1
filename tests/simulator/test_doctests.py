"""The examples in the simulator's module docstrings run as tests (SimPy's habit)."""

import doctest
import importlib

import pytest

MODULES = ["fluid", "engine", "dispatch", "reuse", "gemm", "gather", "des", "params", "roofline", "analytic"]


@pytest.mark.parametrize("name", MODULES)
def test_module_examples(name):
    module = importlib.import_module(f"sparsim.simulator.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
