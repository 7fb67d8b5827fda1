"""Shared pieces of the study tests: a small study that runs in well under a second."""

import copy

import pytest

SMALL = {
    "version": 1,
    "name": "small",
    "model": "analytic",
    "sweep": {
        "hardware": ["a100-sxm4-80gb", "l4"],
        "formats": ["dense", "2:4", "csr", "bsr", "channel"],
        "densities": [0.05, 0.5],
        "dtypes": ["fp16"],
        "batch_sizes": [1, 64],
    },
    "workloads": [
        {"network": "bert-base", "layers": ["query", "key", "intermediate"]},
        {"name": "custom", "shapes": [{"name": "proj", "m": 512, "k": 256, "count": 3}]},
    ],
}


@pytest.fixture
def small_data():
    """A fresh copy of the small study's data, to edit in a test."""
    return copy.deepcopy(SMALL)


@pytest.fixture
def write_toml():
    """``write_toml(path, text) -> path``"""
    def write(path, text):
        path.write_text(text, encoding="utf-8")
        return path
    return write
