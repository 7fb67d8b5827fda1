"""The host CPU profile: built from sysfs/procfs (hwprofiles.host) and microbenchmarks
(validate.hostbench), schema-checked, cached."""

from __future__ import annotations

import re

import pytest

from sparsim.hwprofiles import load_profile
from sparsim.hwprofiles import host as host_module
from sparsim.hwprofiles.host import cache_dir, detect_host, host_name, host_profile
from sparsim.validate import hostbench

SOURCE = re.compile(r"^(sysfs |procfs |measured on this host by .+ at \d{4}-\d\d-\d\d \d\d:\d\d UTC)")


def test_profile_is_a_cpu_named_after_the_machine(host):
    facts = detect_host()
    assert host.kind == "cpu"
    assert host.name == host_name(facts) and host.name.startswith("host-")
    assert host.name.endswith(f"-{facts['cores'][0]}c")
    assert host.sm_count == facts["cores"][0] >= 1


def test_every_number_says_where_it_came_from(host):
    assert host.sources
    for key, source in host.sources.items():
        assert SOURCE.match(source), (key, source)
    assert host.source("vector_flops_per_s.fp32").startswith("measured on this host by numpy.matmul")
    assert host.source("memory.l2_bytes").startswith("sysfs ")


def test_measured_numbers_are_plausible(host):
    assert host.vector_peak("fp32") > host.vector_peak("fp64") > 1e8  # more than 0.1 GFLOP/s
    assert host.l2_bytes_per_s > host.hbm_bytes_per_s > 1e8
    assert host.l1_latency_ns <= host.l2_latency_ns <= host.hbm_latency_ns
    assert 0 < host.launch_overhead_s < 1e-3
    assert host.l1_bytes_per_sm < host.l2_bytes
    assert host.sector_bytes in (32, 64, 128)


def test_host_is_a_profile_name(host):
    assert load_profile("host") == host


def test_the_profile_is_cached_per_cpu_and_not_measured_twice(host, monkeypatch):
    path = cache_dir() / f"{host.name}.v{host_module.HOST_PROFILE_VERSION}.toml"
    assert path.exists() and path.parent == cache_dir()
    host_module._cached_profile.cache_clear()

    def refuse(facts):
        raise AssertionError("measured again although a cached profile exists")

    monkeypatch.setattr(hostbench, "measure_host", refuse)
    again = host_profile()
    assert again == host and again.origin == str(path)


def test_a_damaged_cache_is_measured_again(host, tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSIM_CACHE_DIR", str(tmp_path))
    path = tmp_path / f"{host.name}.v{host_module.HOST_PROFILE_VERSION}.toml"
    path.write_text("version = [")
    calls = []
    real = hostbench.measure_host
    monkeypatch.setattr(hostbench, "measure_host", lambda facts: calls.append(1) or real(facts))
    host_module._cached_profile.cache_clear()
    fresh = host_profile()
    assert calls == [1] and fresh.name == host.name
    assert "version = 1" in path.read_text()
    host_module._cached_profile.cache_clear()


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SPARSIM_CACHE_DIR", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x"
    monkeypatch.delenv("SPARSIM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "sparsim"


@pytest.mark.parametrize("text,expected", [("32K", 32768), ("1024K", 1 << 20), ("32M", 32 << 20)])
def test_sysfs_sizes(text, expected):
    assert host_module._size_bytes(text) == expected


def test_cpu_lists():
    assert host_module._cpu_list("0-3,8,10-11") == {0, 1, 2, 3, 8, 10, 11}


def test_a_profile_measured_on_a_busy_machine_says_so_and_is_not_cached(host, tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSIM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(hostbench, "BUSY_SHARE", 0.25)
    shares = iter([0.6, 0.5, 0.7])
    monkeypatch.setattr(hostbench, "others_cpu_share", lambda before, after: next(shares))
    monkeypatch.setattr(hostbench.time, "sleep", lambda s: None)
    monkeypatch.setattr(hostbench, "measure_host", lambda facts: _fake_profile_data(host))
    host_module._cached_profile.cache_clear()
    busy = host_profile()
    host_module._cached_profile.cache_clear()
    assert "(machine busy: other processes used 50% of the CPUs; not cached)" in busy.source("memory.hbm_bytes_per_s")
    assert busy.source("memory.l2_bytes").startswith("sysfs ")  # structure is not a measurement
    assert not list(tmp_path.iterdir())


def _fake_profile_data(profile):
    """The TOML data of ``profile`` (sources included), as measure_host returns it."""
    data = {"version": 1, "name": profile.name, "display_name": profile.display_name, "kind": "cpu"}
    for dotted, value in profile.to_dict().items():
        if "." not in dotted or dotted.startswith("tensor_"):
            continue
        section, key = dotted.split(".")
        data.setdefault(section, {})[key] = {"value": value, "source": profile.source(dotted)}
    return data


def test_the_profile_package_never_imports_the_validation_layer():
    import ast
    import pathlib

    import sparsim

    root = pathlib.Path(sparsim.__file__).parent
    for package in ("hwprofiles", "models", "simulator"):
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom):
                    target = "." * node.level + (node.module or "")
                    assert "validate" not in target.split("."), (path, target)
                elif isinstance(node, ast.Import):
                    assert not any("validate" in alias.name.split(".") for alias in node.names), path


def test_without_a_measurer_an_uncached_host_says_what_to_run(tmp_path, monkeypatch):
    from sparsim.errors import SparsimError

    monkeypatch.setenv("SPARSIM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(host_module, "_MEASURER", None)
    host_module._cached_profile.cache_clear()
    with pytest.raises(SparsimError, match=r"^--hw host: no measured profile of this CPU in .*sparsim probe --backend numpy"):
        host_profile()
    host_module._cached_profile.cache_clear()


def test_predict_on_host_measures_a_fresh_machine(tmp_path):
    """A new process with an empty cache: sparsim.predict(hw="host") measures the host;
    importing sparsim registers a measurer (sparsim/__init__.py) that loads the validation
    layer's microbenchmarks only when a host has to be measured, so neither the library
    layer (sparsim.api) nor ``import sparsim`` imports it."""
    import os
    import subprocess
    import sys

    code = ("import sys, sparsim; assert 'sparsim.validate.hostbench' not in sys.modules; "
            "p = sparsim.predict('dense', m=64, k=64, n=64, hw='host', dtype='fp32', model='analytic'); "
            "assert 'sparsim.validate.hostbench' in sys.modules; print(p.hw, p.time_s > 0)")
    env = {**os.environ, "SPARSIM_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    name, positive = out.stdout.split()
    assert name.startswith("host-") and positive == "True"
    # cached unless the shared machine was busy while it measured
    assert {p.name for p in tmp_path.iterdir()} <= {f"{name}.v{host_module.HOST_PROFILE_VERSION}.toml"}
