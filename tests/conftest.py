"""Fixtures every test folder can use."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _fake_step_module():
    if "fake_step" in sys.modules:
        return sys.modules["fake_step"]
    spec = importlib.util.spec_from_file_location("fake_step", ROOT / "benchmarks" / "fake_step.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fake_step"] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_steps(monkeypatch):
    """The study sweep's step model replaced by benchmarks/fake_step.py (deterministic,
    cheap, inputs-dependent; not a performance model). Returns the fake's module."""
    module = _fake_step_module()
    module.install(monkeypatch)
    return module


_fake_step_module()  # loaded once, so every test (hypothesis ones too) can find it in sys.modules
