"""The torch backend: refuses cleanly without torch or a GPU; its plans; real runs on a GPU only."""

import importlib.util

import pytest

from sparsim.errors import SparsimError
from sparsim.validate.backends import BACKENDS, get_backend
from sparsim.validate.backends.torch_backend import TorchBackend, torch_available
from sparsim.validate.spec import MeasureSpec, atlas_plan, plan

OK, WHY = torch_available()


def test_torch_is_a_backend_with_a_plan_of_what_users_run():
    assert "torch" in BACKENDS
    specs = plan("torch", quick=True)
    assert {s.impl for s in specs} == {"torch"}
    assert {s.kernel for s in specs} == {"dense", "csr", "coo", "2:4"}
    assert {s.index_bits for s in specs if s.kernel in ("csr", "coo")} == {64}  # PyTorch's default
    assert {s.split for s in specs} == {"train", "test"}


def test_the_atlas_has_the_shared_shapes_and_every_n():
    specs = atlas_plan("torch")
    assert {(s.m, s.k) for s in specs} == {(4096, 4096), (4096, 11008), (8192, 8192)}
    assert sorted({s.n for s in specs}) == [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    assert sorted({s.density for s in specs if s.kernel == "csr"}) == [0.01, 0.05, 0.1, 0.3, 0.5]
    cupy = atlas_plan("cupy")
    assert {s.impl for s in cupy} == {"cublas", "cusparselt", "cusparselt-search", "cusparse"}
    assert {(s.b_layout, s.index_bits) for s in cupy if s.kernel == "csr"} == {("row", 32), ("row", 64)}
    assert len({s.key for s in cupy}) == len(cupy)


@pytest.mark.skipif(OK, reason="torch sees a GPU here")
def test_without_torch_or_a_gpu_the_backend_refuses_in_one_line():
    assert WHY and "\n" not in WHY
    with pytest.raises(SparsimError, match=r"^--backend torch: .*allowed: a machine with torch and an NVIDIA GPU$"):
        get_backend("torch")


GPU = pytest.mark.skipif(not OK, reason=f"needs torch with a CUDA GPU: {WHY}")


@pytest.mark.gpu
@GPU
@pytest.mark.parametrize("kernel,dtype,density", [("dense", "fp16", 1.0), ("dense", "bf16", 1.0),
                                                  ("csr", "fp16", 0.05), ("coo", "fp32", 0.05), ("2:4", "fp16", 0.5)])
def test_gpu_calls_are_checked_and_both_times_recorded(kernel, dtype, density):
    from sparsim.validate.timing import TimingPolicy

    backend = TorchBackend(policy=TimingPolicy(warmup_s=0.01, target_s=0.02, min_reps=3, max_reps=10))
    try:
        m = backend.run(MeasureSpec(kernel, 1024, 1024, 256, dtype, density))
    finally:
        backend.close()
    assert m.status == "ok", m.error
    assert m.impl == "torch" and m.time_s == m.kernel_s > 0 and m.call_s > 0
    if kernel in ("csr", "coo"):
        assert m.index_bits == 64 and m.b_layout == "row"


def test_the_torch_extra_is_declared():
    import tomllib
    from pathlib import Path

    data = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    extras = data["project"]["optional-dependencies"]
    assert any(dep.startswith("torch") for dep in extras["torch"])
    assert importlib.util.find_spec("sparsim.validate.backends.torch_backend") is not None
