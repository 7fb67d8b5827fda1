"""Fixtures every test folder can use."""

import importlib
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _fake_step_module():
    spec = importlib.util.spec_from_file_location("fake_step", ROOT / "benchmarks" / "fake_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_steps(monkeypatch):
    """The study sweep's step model replaced by benchmarks/fake_step.py (deterministic,
    cheap, inputs-dependent; not a performance model). Returns the fake's module."""
    module = _fake_step_module()
    module.install(monkeypatch)
    return module


#: marks a test that needs the real step model (steps-core's sparsim.predict_step)
needs_step_model = pytest.mark.skipif(
    not hasattr(importlib.import_module("sparsim"), "predict_step"),
    reason="sparsim.predict_step is not on this branch yet (steps-core); the integrator un-skips this")
