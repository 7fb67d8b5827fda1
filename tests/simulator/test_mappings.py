"""The mapping is data: the simulator runs the mapping an implementation rule names."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest

from sparsim.errors import SparsimError
from sparsim.hwprofiles import load_profile
from sparsim.impls import get_impl
from sparsim.models import build_work
from sparsim.simulator import mappings
from sparsim.simulator.des import predict_des

H200 = load_profile("h200-sxm-141gb")


def _with_mapping(impl: str, kernel: str, mapping):
    """``impl`` with its ``kernel`` rule's mapping replaced (as an edited TOML file would)."""
    implementation = get_impl(impl)
    rule = implementation.rules[kernel]
    by_kind = dict(mapping) if isinstance(mapping, dict) else {}
    rule = dataclasses.replace(rule, mapping=by_kind.get("gpu", mapping), mapping_by_kind=MappingProxyType(by_kind))
    return dataclasses.replace(implementation, rules=MappingProxyType({**implementation.rules, kernel: rule}))


def test_changing_a_rules_mapping_changes_which_mapping_runs(monkeypatch):
    work = build_work("2:4", m=4096, k=4096, n=256)
    ran = []
    real = dict(mappings.MAPPINGS)
    for name in real:
        monkeypatch.setitem(mappings.MAPPINGS, name,
                            lambda w, m, seed, tile, name=name: ran.append(name) or real["gemm"](w, m, seed, tile))
    predict_des(work, H200, impl="cusparselt")
    predict_des(work, H200, impl=_with_mapping("cusparselt", "2:4", "gather"))
    predict_des(work, H200, impl=_with_mapping("cusparselt", "2:4", {"gpu": "cpu"}))
    assert ran == ["gemm", "gather", "cpu"]


def test_a_2_4_rule_that_names_the_gather_mapping_runs_the_gather_mapping():
    # before the mapping was data, this edit changed nothing: des.py chose by kernel
    with pytest.raises(SparsimError, match="--kernel: got '2:4'; allowed: coo, csr, bsr, grouped"):
        predict_des(build_work("2:4", m=1024, k=1024, n=64), H200, impl=_with_mapping("cusparselt", "2:4", "gather"))


def test_the_reference_implementation_maps_by_the_kind_of_hardware():
    rule = get_impl("reference").rule("csr")
    assert (rule.mapping_for("gpu"), rule.mapping_for("cpu")) == ("gather", "cpu")
    # a library's fixed plan and a reference search differ only by their rule's data
    work = build_work("2:4", m=4096, k=4096, n=16)
    fixed, searched = predict_des(work, H200, impl="cusparselt"), predict_des(work, H200, impl="reference")
    assert "tile 128x16x64" in fixed.notes[0] and "fastest of 7 candidate" in searched.notes[0]
    assert searched.kernel_s < fixed.kernel_s


def test_one_carrier_a_problem_on_a_machine_built_once():
    import sparsim
    from sparsim.api import resolve_calibration
    from sparsim.problem import Problem
    from sparsim.simulator import machine_for, predict_work

    problem = Problem("csr", m=4096, k=4096, n=64, density=0.01, impl="torch")
    cal = resolve_calibration(None, H200)
    machine = machine_for(problem, H200, cal)
    assert machine.call.index_policy == "int64" and machine.hw.l2_bytes == cal.measured["l2_bytes"]
    p = predict_work(problem, machine)
    q = sparsim.predict("csr", m=4096, k=4096, n=64, hw=H200, density=0.01, impl="torch", compare=False)
    assert (p.time_s, p.bytes_index, p.basis) == (q.time_s, q.bytes_index, q.basis)
    with pytest.raises(SparsimError, match="machine: built for torch csr, not cusparse csr"):
        predict_work(problem.with_impl("cusparse"), machine)


def test_a_gemm_rule_that_names_no_tiles_searches_the_reference_candidates_with_its_own_split_k():
    # an implementation file may leave the tiles to the mapping (as a new library's first draft does)
    impl = get_impl("cublas")
    rule = dataclasses.replace(impl.rules["dense"], tiles=MappingProxyType({}), split_k=(1,), split_k_by=MappingProxyType({}))
    bare = dataclasses.replace(impl, name="draft", rules=MappingProxyType({"dense": rule}))
    p = predict_des(build_work("dense", m=4096, k=4096, n=256), H200, impl=bare)
    assert "fastest of 12 candidate tiles/splits" in p.notes[0] and "split-K" not in p.notes[0]
