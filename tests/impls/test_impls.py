"""Implementations are sourced data: every built-in file loads, every number cites its
source, and a call of each library runs what its file says."""

import pytest

import sparsim
from sparsim.errors import SparsimError
from sparsim.hwprofiles import load_profile
from sparsim.impls import check_impl, default_impl, get_impl, impl_names, load_impl
from sparsim.impls.spec import parse_impl
from sparsim.problem import Problem
from sparsim.simulator.library import call_params, library_call
from sparsim.simulator.params import DEFAULT_PARAMS

H200 = "h200-sxm-141gb"
KERNELS = ("dense", "coo", "csr", "bsr", "grouped", "2:4", "1:2", "channel")
DTYPES = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")


def test_the_issue_names_are_all_built_in():
    assert {"cublas", "cusparse", "cusparselt", "cusparselt-search", "torch"} <= set(impl_names())


def test_every_kernel_has_a_default_that_runs_it():
    for kernel in KERNELS:
        name = default_impl(kernel)
        assert kernel in get_impl(name).rules
    assert [default_impl(k) for k in ("dense", "channel", "csr", "coo", "bsr", "2:4", "1:2")] == [
        "cublas", "cublas", "cusparse", "cusparse", "cusparse", "cusparselt", "cusparselt"]


@pytest.mark.parametrize("name", impl_names())
def test_every_parameter_an_implementation_sets_is_a_model_parameter(name):
    assert set(get_impl(name).params) <= set(DEFAULT_PARAMS)


def _minimal(**rule):
    return {"version": 1, "name": "x", "display_name": "X", "library": "X", "kind": "gpu",
            "kernel": {"dense": {"mapping": "gemm", "dtypes": ["fp16"], **rule}}}


def test_a_number_without_a_source_is_refused():
    with pytest.raises(SparsimError, match=r"kernel.dense.host_s.source: got nothing; allowed: a non-empty string"):
        parse_impl(_minimal(host_s={"value": 1e-6}), "x.toml", kernels=KERNELS, dtypes=DTYPES)


@pytest.mark.parametrize("rule, message", [
    ({"mapping": "magic"}, "kernel.dense.mapping: got 'magic'"),
    ({"split_k": {"value": [2], "source": "s"}}, "includes 1"),
    ({"tiles": {"sm90": {"value": [[128]], "source": "s"}}}, "tile_m, tile_n"),
    ({"host_s": {"value": 50.0, "source": "s"}}, r"seconds in \[0, 10"),
    ({"index_bits": {"value": 16, "source": "s"}}, "32 or 64"),
    ({"frobnicate": 1}, "kernel.dense.frobnicate"),
])
def test_malformed_rules_name_the_key_and_what_is_allowed(rule, message):
    with pytest.raises(SparsimError, match=message):
        parse_impl(_minimal(**rule), "x.toml", kernels=KERNELS, dtypes=DTYPES)


def test_a_library_refuses_a_dtype_it_does_not_run():
    with pytest.raises(SparsimError, match="--dtype: got 'fp64' with --impl cusparselt --kernel 2:4; allowed: fp16, bf16, int8, fp8$"):
        check_impl("cusparselt", "2:4", "fp64")
    with pytest.raises(SparsimError, match="allowed kernels for cublas: dense, channel"):
        check_impl("cublas", "csr", "fp16")
    with pytest.raises(SparsimError, match="--impl: got 'cutlass'; allowed: "):
        get_impl("cutlass")


def test_tiles_are_chosen_by_arch_then_dtype():
    rule = get_impl("cusparselt").rule("2:4")
    assert rule.tiles_for(cc="9.0", dtype="fp16") == ((128, 256),)
    assert rule.tiles_for(cc="9.0", dtype="bf16") == ((64, 256),)
    assert rule.tiles_for(cc="8.0", dtype="fp16") == ((128, 128),)


def test_parameters_layer_defaults_file_calibration_and_impl_table():
    from sparsim.calibration import Calibration

    call = library_call("torch", "csr", "fp16", load_profile(H200))
    assert call.params_key == "cusparse" and call.index_policy == "int64"
    assert call_params(call)["index64_efficiency"] == get_impl("cusparse").params["index64_efficiency"]
    cal = Calibration(hw=H200, params={"gather_efficiency": 0.5},
                      impl_params={"cusparse": {"gather_efficiency": 0.3}, "torch": {"gather_efficiency": 0.9}})
    # torch's CSR runs cuSPARSE kernels: cuSPARSE's table applies, not torch's
    assert call_params(call, cal)["gather_efficiency"] == 0.3
    assert call_params(library_call("cublas", "dense", "fp16", load_profile(H200)), cal)["gather_efficiency"] == 0.5


def test_problem_stores_indices_as_the_library_does():
    torch_csr = Problem("csr", m=1024, k=1024, n=8, density=0.01, impl="torch").work()
    cusparse_csr = Problem("csr", m=1024, k=1024, n=8, density=0.01).work()
    assert torch_csr.nnz == cusparse_csr.nnz
    # int64 column indices and row pointers: twice the index bytes of int32
    assert torch_csr.bytes_index == 2 * cusparse_csr.bytes_index
    explicit = Problem("csr", m=1024, k=1024, n=8, density=0.01, impl="torch", options={"index_policy": "library"})
    assert explicit.work().bytes_index == cusparse_csr.bytes_index


def test_time_is_kernels_plus_host_work():
    p = sparsim.predict("2:4", m=4096, k=4096, n=16, hw=H200, impl="torch", calibration=False, compare=False)
    assert p.time_s == pytest.approx(p.kernel_s + p.overhead_s)
    assert p.overhead_s == get_impl("torch").rule("2:4").host_s
    assert [name for name, _ in p.kernels] == [get_impl("torch").rule("2:4").label, "Memset (Device)"]
    assert p.kernel_s == pytest.approx(sum(t for _, t in p.kernels))
    assert p.bound == "overhead"
    lt = sparsim.predict("2:4", m=4096, k=4096, n=16, hw=H200, impl="cusparselt", calibration=False, compare=False)
    assert lt.overhead_s == 0 and lt.kernel_s == pytest.approx(p.kernel_s)


def test_the_default_cusparselt_plan_loses_what_a_search_wins_at_small_n():
    # H200 atlas (4096x4096 fp16 weight): default plan 31.2 us at N = 16 and 27.7 us at
    # N = 256 (one fixed tile: the time hardly moves with N); searched plan 11.8 us at
    # N = 16 (2.6x faster than the default plan)
    kw = dict(m=4096, k=4096, hw=H200, compare=False)
    t16 = sparsim.predict("2:4", n=16, impl="cusparselt", **kw).kernel_s
    t256 = sparsim.predict("2:4", n=256, impl="cusparselt", **kw).kernel_s
    searched = sparsim.predict("2:4", n=16, impl="cusparselt-search", **kw).kernel_s
    assert t16 == pytest.approx(31.2e-6, rel=0.2) and t256 == pytest.approx(27.7e-6, rel=0.25)
    assert t16 / searched > 1.8


def test_the_knob_note_compares_the_alternative():
    p = sparsim.predict("2:4", m=4096, k=4096, n=16, hw=H200, impl="cusparselt")
    note = [n for n in p.notes if n.startswith("cusparselt:")]
    assert len(note) == 1 and "with cusparselt-search this call is predicted" in note[0]


def test_a_chip_without_sparse_tensor_cores_is_named_not_the_dtype():
    # issue 11: "2:4 on V100 blames --dtype"
    with pytest.raises(SparsimError, match=r"^--kernel: got '2:4' on v100-sxm2-32gb, which has no sparse tensor cores"):
        sparsim.predict("2:4", m=4096, k=4096, n=16, hw="v100-sxm2-32gb")


@pytest.mark.parametrize("argv, message", [
    (["--impl", "cusparselt"], "sparsim: error: --impl: got 'cusparselt' with --kernel dense; allowed kernels for cusparselt: 2:4, 1:2"),
    (["--impl", "cutlass"], "sparsim: error: Invalid value for '--impl'"),
    (["--datasheet", "--calibration", "x.toml"], "sparsim: error: --datasheet: given with --calibration"),
])
def test_predict_refuses_an_implementation_that_does_not_fit_in_one_line(capsys, argv, message):
    from sparsim.cli import main

    code = main(["predict", "--hw", "h200-sxm-141gb", "--kernel", "dense", "--m", "64", "--k", "64", "--n", "8", *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(message) and err.count("\n") == 1


def test_impl_cli_lists_and_shows_with_sources(capsys):
    from sparsim.cli import main

    assert main(["impl", "list"]) == 0
    out = capsys.readouterr().out
    assert {line.split()[0] for line in out.splitlines()} >= {"cublas", "cusparse", "cusparselt", "cusparselt-search", "torch"}
    assert main(["impl", "show", "torch"]) == 0
    out = capsys.readouterr().out
    assert "host per call" in out and "0.45 ms" in out and "[atlas]" in out


def test_impl_list_json_and_aligned_columns(capsys):
    """--json gives each implementation's kernels and quantization schemes; the table's
    display-name column starts at one offset even for the longest kernel list (reference)."""
    import json

    from sparsim.cli import main

    assert main(["impl", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["marlin"]["quant"] == ["w4a16"] and rows["marlin"]["kernels"] == ["dense", "channel"]
    assert rows["cublas"]["quant"] == [] and rows["reference"]["kind"] == "gpu"
    assert main(["impl", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    starts = {line.index(rows[line.split()[0]]["display_name"]) for line in lines}
    assert len(starts) == 1 and len(lines) == len(rows)


@pytest.mark.parametrize("pipeline, key", [
    ({"warps": 8, "tile_k": 1024, "stages": 1}, "kernel.dense.pipeline"),            # no source
    ({"warps": 8, "tile_k": 1024, "source": "code"}, "kernel.dense.pipeline"),        # no stages
    ({"warps": 0, "tile_k": 1024, "stages": 1, "source": "code"}, "kernel.dense.pipeline.warps"),
    ({"warps": 8, "tile_k": 1024, "stages": 9, "source": "code"}, "kernel.dense.pipeline.stages"),
])
def test_a_gemm_pipeline_without_a_source_or_out_of_range_is_refused_naming_the_key(pipeline, key):
    with pytest.raises(SparsimError, match=f"key {key.replace('.', '[.]')}") as info:
        parse_impl(_minimal(pipeline=pipeline), "x.toml", kernels=KERNELS, dtypes=DTYPES)
    assert "\n" not in str(info.value)


def test_tinygemm_walks_k_as_its_code_does():
    pipe = get_impl("torchao-int4").rule("dense").pipeline
    assert (pipe.warps, pipe.tile_k, pipe.stages, pipe.smem_bytes) == (8, 1024, 1, 4096)
    assert "int4mm" in get_impl("torchao-int4").rule("dense").sources["pipeline"]
    assert get_impl("marlin").rule("dense").pipeline is None  # Marlin: the multistage cp.async pipeline
