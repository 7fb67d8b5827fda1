"""The cuSPARSELt ctypes binding's CPU side: struct sizes, marshalling, status checks, the
call sequence; checked against a fake library that records what it is called with."""

import ctypes

import pytest

from sparsim.validate.backends import cusparselt as lt


class FakeFunction:
    def __init__(self, lib, name):
        self.lib, self.name = lib, name
        self.argtypes, self.restype = None, None

    def __call__(self, *args):
        self.lib.calls.append((self.name, args))
        if self.name == "cusparseLtGetVersion":
            ctypes.cast(args[1], ctypes.POINTER(ctypes.c_int))[0] = self.lib.version
        elif self.name == "cusparseLtMatmulGetWorkspace":
            args[2]._obj.value = 4096
        elif self.name == "cusparseLtSpMMACompressedSize":
            args[2]._obj.value, args[3]._obj.value = 1 << 20, 256
        elif self.name == "cusparseLtMatmulAlgGetAttribute":
            args[3]._obj.value = 7
        return self.lib.status.get(self.name, 0)


class FakeLib:
    def __init__(self, version=801, status=None, missing=()):
        self.calls, self.version, self.status = [], version, status or {}
        for name in lt.SIGNATURES:
            if name not in missing:
                setattr(self, name, FakeFunction(self, name))

    def names(self):
        return [name for name, _ in self.calls]


def test_opaque_objects_are_1024_bytes_aligned_to_16_as_the_header_declares():
    objects = [lt.Opaque(kind) for kind in ("handle", "dense", "matmul", "alg_selection", "plan")]
    assert lt.OPAQUE_BYTES == 1024
    for obj in objects:
        assert obj.address % 16 == 0
        assert ctypes.addressof(obj._buffer) <= obj.address
        assert obj.address + 1024 <= ctypes.addressof(obj._buffer) + ctypes.sizeof(obj._buffer)
    assert len({o.address for o in objects}) == 5


def test_every_function_gets_its_c_signature():
    lib = FakeLib()
    lt.CusparseLt(lib)
    assert lib.cusparseLtDenseDescriptorInit.argtypes == [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                                          ctypes.c_int64, ctypes.c_int64, ctypes.c_uint32,
                                                          ctypes.c_int, ctypes.c_int]
    assert len(lib.cusparseLtMatmul.argtypes) == 11 and lib.cusparseLtMatmul.argtypes[-1] is ctypes.c_int
    assert len(lib.cusparseLtSpMMACompress.argtypes) == 6  # >= 0.5: with the compress buffer
    assert len(lib.cusparseLtMatmulPlanInit.argtypes) == 4  # >= 0.5: no workspace size
    assert all(getattr(lib, n).restype is ctypes.c_int for n in lt.SIGNATURES)


def test_the_official_call_sequence_and_its_arguments():
    lib = FakeLib(version=801)
    api = lt.CusparseLt(lib)
    a = api.structured(4096, 2048, 2048, "fp16")
    b = api.dense(2048, 64, 64, "fp16")
    c = api.dense(4096, 64, 64, "fp16")
    mm = api.matmul_descriptor(a, b, c, "fp16")
    sel = api.alg_selection(mm)
    plan = api.plan(mm, sel)
    assert api.workspace_size(plan) == 4096
    api.prune_check(mm, 0x1000, 0x2000)
    assert api.compressed_size(plan) == (1 << 20, 256)
    api.compress(plan, 0x1000, 0x3000, 0x4000)
    api.matmul(plan, 11, 0x3000, 0x5000, 12, 0x6000, 0x6000, 0x7000)
    api.search(plan, 11, 0x3000, 0x5000, 12, 0x6000, 0x6000, 0x7000)
    assert api.alg_id(sel) == 7
    assert lib.names() == [
        "cusparseLtInit", "cusparseLtGetVersion", "cusparseLtStructuredDescriptorInit",
        "cusparseLtDenseDescriptorInit", "cusparseLtDenseDescriptorInit", "cusparseLtMatmulDescriptorInit",
        "cusparseLtMatmulAlgSelectionInit", "cusparseLtMatmulPlanInit", "cusparseLtMatmulGetWorkspace",
        "cusparseLtSpMMAPruneCheck", "cusparseLtSpMMACompressedSize", "cusparseLtSpMMACompress",
        "cusparseLtMatmul", "cusparseLtMatmulSearch", "cusparseLtMatmulAlgGetAttribute"]
    calls = dict(lib.calls)
    handle = api.handle.ptr.value
    structured = calls["cusparseLtStructuredDescriptorInit"]
    assert structured[0].value == handle and structured[2:] == (4096, 2048, 2048, 16, lt.CUDA_R_16F,
                                                                 lt.CUSPARSE_ORDER_ROW, 0)
    matmul_desc = calls["cusparseLtMatmulDescriptorInit"]
    assert matmul_desc[2:4] == (0, 0) and matmul_desc[6].value == matmul_desc[7].value == c.address
    assert matmul_desc[8] == 2  # CUSPARSE_COMPUTE_32F from 0.6 on
    matmul = calls["cusparseLtMatmul"]
    assert [x.value for x in matmul[2:9]] == [11, 0x3000, 0x5000, 12, 0x6000, 0x6000, 0x7000]
    assert matmul[9:] == (None, 0)
    compress = calls["cusparseLtSpMMACompress"]
    assert [x.value for x in compress[2:5]] == [0x1000, 0x3000, 0x4000] and compress[5].value in (None, 0)


def test_bf16_and_the_older_compute_numbering():
    lib = FakeLib(version=502)
    api = lt.CusparseLt(lib)
    desc = api.dense(8, 8, 8, "bf16")
    api.matmul_descriptor(desc, desc, desc, "bf16")
    calls = dict(lib.calls)
    assert calls["cusparseLtDenseDescriptorInit"][6] == lt.CUDA_R_16BF == 14
    assert calls["cusparseLtMatmulDescriptorInit"][8] == 0  # CUSPARSE_COMPUTE_16F before 0.6


def test_a_failing_status_names_the_function_and_the_status():
    api = lt.CusparseLt(FakeLib(status={"cusparseLtDenseDescriptorInit": 10}))
    with pytest.raises(lt.CusparseLtError, match=r"^cusparseLtDenseDescriptorInit: CUSPARSE_STATUS_NOT_SUPPORTED \(10\)$"):
        api.dense(4096, 1, 1, "fp16")


def test_a_library_older_than_0_5_or_missing_says_which_wheel_to_install(monkeypatch):
    with pytest.raises(ImportError, match="older than 0.5; pip install nvidia-cusparselt-cu12"):
        lt.CusparseLt(FakeLib(version=402))
    monkeypatch.setattr(lt, "find_library", lambda: None)
    with pytest.raises(ImportError, match=r"^libcusparseLt.so not found; pip install nvidia-cusparselt-cu12 \(CUDA 12\) "
                                          r"or nvidia-cusparselt-cu13 \(CUDA 13\)$"):
        lt.load()


def test_the_library_is_found_in_the_wheel_directory(tmp_path, monkeypatch):
    lib_dir = tmp_path / "nvidia" / "cusparselt" / "lib"
    lib_dir.mkdir(parents=True)
    (lib_dir / "libcusparseLt.so.0").write_bytes(b"")
    (tmp_path / "nvidia" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("SPARSIM_CUSPARSELT_LIB", raising=False)
    import sys

    monkeypatch.delitem(sys.modules, "nvidia", raising=False)
    assert lt.find_library() == str(lib_dir / "libcusparseLt.so.0")
    monkeypatch.setenv("SPARSIM_CUSPARSELT_LIB", "/opt/x/libcusparseLt.so")
    assert lt.find_library() == "/opt/x/libcusparseLt.so"


def test_compute_type_refuses_other_dtypes():
    with pytest.raises(ValueError, match="dtype 'fp32' for cuSPARSELt; allowed: fp16, bf16"):
        lt.compute_type("fp32", 800)
