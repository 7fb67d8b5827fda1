"""The kernel registry: one object per kernel name, its properties parsed once."""

import pytest

from sparsim.errors import SparsimError
from sparsim.models import build_work
from sparsim.models.kernels import KERNEL_OBJECTS, KERNELS, kernel_of


def test_every_kernel_name_has_one_object_and_the_names_keep_their_order():
    assert KERNELS == ("dense", "coo", "csr", "bsr", "grouped", "2:4", "1:2", "channel")
    assert all(kernel_of(name).name == name for name in KERNELS)


@pytest.mark.parametrize("name, keep, group", [("2:4", 2, 4), ("1:2", 1, 2)])
def test_n_m_kernels_carry_their_kept_values_per_group(name, keep, group):
    k = kernel_of(name)
    assert (k.is_nm, k.keep, k.group, k.math_pipe("fp16")) == (True, keep, group, "sparse_tensor")


def test_only_gathers_need_the_pattern_and_every_gather_call_has_a_sourced_cta_shape():
    from sparsim.impls import get_impl, impl_names, plan_rule

    gathers = {name for name, k in KERNEL_OBJECTS.items() if k.needs_pattern}
    assert gathers == {"coo", "csr", "bsr", "grouped"}
    # the CTA a library launches is mapping data of the implementation, with its source
    for impl in impl_names(public_only=False):
        for kernel, rule in get_impl(impl).rules.items():
            has_cta = plan_rule(impl, kernel).cta is not None
            assert has_cta == (rule.mapping_for("gpu") == "gather"), (impl, kernel)
    csr = plan_rule("cusparse", "csr")
    assert csr.cta.warps * 32 * csr.cta.registers_per_thread == 16384 and "Euro-Par 2018" in csr.sources["cta"]


@pytest.mark.parametrize("name", KERNELS)
def test_the_work_of_a_kernel_takes_its_depth_and_pipe_from_the_registry(name):
    dtype = "fp32" if name == "1:2" else "fp16"
    work = build_work(name, m=64, k=64, n=32, dtype=dtype, density=0.5)
    assert work.dependent_access_depth == kernel_of(name).dependent_access_depth
    assert work.math == kernel_of(name).math_pipe(dtype)
    assert work.spec is kernel_of(name)


def test_an_unknown_kernel_is_refused_with_the_choices():
    with pytest.raises(SparsimError, match=r"--kernel: got 'csc'; allowed: dense, coo, csr"):
        kernel_of("csc")


def test_the_work_holds_the_kernel_object_itself():
    import dataclasses

    from sparsim.models.work import build_work

    work = build_work("csr", m=64, k=64, n=8, density=0.1)
    assert work.spec is KERNEL_OBJECTS["csr"] and dataclasses.replace(work, n=16).spec is work.spec
    assert "spec" not in work.to_dict()
