"""Shared fixtures for the validation tests.

The host profile is measured once per test session into a private cache directory
(``SPARSIM_CACHE_DIR``), so no test reads or writes the user's cache. The time model is
the discrete-event simulator when it is installed, else the analytic one.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

MODEL = "des" if importlib.util.find_spec("sparsim.simulator.des") else "analytic"


@pytest.fixture(scope="session", autouse=True)
def host_cache(tmp_path_factory, never_contended):
    path = tmp_path_factory.mktemp("sparsim-cache")
    old = os.environ.get("SPARSIM_CACHE_DIR")
    os.environ["SPARSIM_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SPARSIM_CACHE_DIR", None)
    else:
        os.environ["SPARSIM_CACHE_DIR"] = old


@pytest.fixture(scope="session", autouse=True)
def never_contended():
    """Time once and never flag a point as contended: a shared CI machine would otherwise
    make these tests re-time (and re-measure) points at random. The flagging itself is
    tested on its own (test_validate_numpy_backend, test_validate_results)."""
    from sparsim.validate import hostbench
    from sparsim.validate.backends import numpy_backend

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(numpy_backend, "CONTENDED_SHARE", 2.0)
        patch.setattr(hostbench, "BUSY_SHARE", 2.0)
        yield


@pytest.fixture(scope="session")
def host(host_cache):
    from sparsim.hwprofiles.host import host_profile

    return host_profile()


@pytest.fixture(scope="session")
def model():
    return MODEL
