"""``sparsim predict``: one kernel on one profile, as a table or one JSON object."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..api import MODELS, predict as predict_fn
from ..dtypes import DTYPES
from ..impls import impl_names
from ..models.formats import INDEX_POLICIES
from ..models.quant import SCHEMES
from ..models.patterns import PATTERNS
from ..models.work import B_LAYOUTS, KERNELS
from .format import human_bytes, human_count, human_seconds, kv_table

__all__ = ["predict"]

#: largest M, K or N the command takes: a signed 64-bit integer, what every library indexes with
MAX_DIM = 2**63 - 1


class _Dimension(click.ParamType):
    """A matrix dimension: a whole number in [1, 2^63 - 1], refused in one line otherwise
    (Python ints are unbounded; a 23-digit --m must not reach NumPy)."""

    name = "integer"

    def convert(self, value, param, ctx):
        from ..errors import SparsimError, shown

        flag = f"--{param.name}" if param is not None else "dimension"
        try:
            number = int(str(value).strip().replace("_", ""), 10) if not isinstance(value, int) else value
        except ValueError:
            raise SparsimError(f"{flag}: got {shown(value)}; allowed: a whole number in [1, {MAX_DIM:,}]") from None
        if number < 1:  # the same words as the library's check of a shape
            raise SparsimError(f"{flag}: got {number}; allowed: a whole number >= 1")
        if number > MAX_DIM:
            raise SparsimError(f"{flag}: got {shown(number)}; allowed: a whole number in [1, {MAX_DIM:,}]")
        return number


DIM = _Dimension()
#: --quant choices: the quantization schemes (sparsim.models.quant)
QUANT_CHOICES = tuple(SCHEMES)


@click.command()
@click.option("--hw", required=True, help="Profile name (see 'sparsim hw list'), 'host', or a path to a profile .toml.")
@click.option("--kernel", required=True, type=click.Choice(KERNELS), help="Kernel to model.")
@click.option("--m", "m", required=True, type=DIM, help="Rows of A (the sparse operand) and C.")
@click.option("--k", "k", required=True, type=DIM, help="Columns of A, rows of B.")
@click.option("--n", "n", required=True, type=DIM, help="Columns of B and C (batch x tokens).")
@click.option("--dtype", default="fp16", show_default=True, type=click.Choice(list(DTYPES)),
              help="Element type of A and B (int8/fp8: OP/s); 2:4 needs a 16- or 8-bit type, 1:2 fp32/tf32.")
@click.option("--density", default=1.0, show_default=True, type=float,
              help="Fraction of A that is nonzero, in [0, 1] (channel: fraction of rows kept).")
@click.option("--pattern", default="uniform", show_default=True, type=click.Choice(PATTERNS),
              help="How the nonzeros of A are placed.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the generated pattern.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Take A's pattern from a .npy or .safetensors weight file (zeros are pruned).")
@click.option("--tensor", "weights_tensor", default=None, help="Tensor name inside a .safetensors file.")
@click.option("--model", default="des", show_default=True, type=click.Choice(MODELS),
              help="Time model: discrete-event simulator or analytic roofline.")
@click.option("--impl", default=None, type=click.Choice(impl_names()),
              help="Software stack that runs the kernel (see 'sparsim impl list'); default: the kernel's "
                   "library (dense/channel cublas, csr/coo/bsr cusparse, 2:4/1:2 cusparselt).")
@click.option("--calibration", type=click.Path(dir_okay=False), default=None,
              help="Calibration TOML written by 'sparsim calibrate' (default: the one shipped for the profile, if any).")
@click.option("--datasheet", is_flag=True, help="Use datasheet figures only, not the profile's shipped calibration.")
@click.option("--index-policy", default=None, type=click.Choice(INDEX_POLICIES),
              help="Index widths: as the implementation stores them (default), library (int32, int64 past 2^31), "
                   "int32, int64, or minimal.")
@click.option("--b-layout", default=None, type=click.Choice(B_LAYOUTS),
              help="Storage order of the dense operand B (default: as the implementation calls it, else row).")
@click.option("--group-size", default=8, show_default=True, type=int, help="Rows per group (kernel grouped).")
@click.option("--block", default=16, show_default=True, type=int, help="Square block edge (kernel bsr).")
@click.option("--l2", "l2", default="cold", show_default=True, type=click.Choice(["cold", "warm"]),
              help="L2 when the call starts: cold (flushed, as the atlas measures) or warm (back-to-back calls "
                   "on the same operands: what fits in L2 starts there).")
@click.option("--power-limit", "power_limit_w", type=float, default=None,
              help="Board power cap in W (default: the profile's board power); tensor-core kernels run at the "
                   "clock they sustain under it.")
@click.option("--quant", default=None, type=click.Choice(QUANT_CHOICES),
              help="Quantize the weights: w8a16 / w4a16 weight-only, fp8 / w8a8 (W8A8, per-token activations). "
                   "--dtype is then the activations' dtype; default --impl: the scheme's (e.g. marlin for w4a16).")
@click.option("--group", default=None, type=int, help="Inputs per weight scale for --quant w4a16 (default 128).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with every Prediction field.")
def predict(hw, kernel, m, k, n, dtype, density, pattern, seed, weights, weights_tensor, model, impl,
            calibration, datasheet, index_policy, b_layout, group_size, block, l2, power_limit_w, quant, group, as_json):
    """Predict one library call of C[MxN] = A[MxK] @ B[KxN] on one GPU profile.

    The time is the device time of the kernels the call launches plus the host work per
    call the GPU waits for (PyTorch's, for --impl torch).

    \b
    Examples:
      sparsim predict --hw h100-sxm5-80gb --kernel csr --m 4096 --k 4096 --n 256 --density 0.1
      sparsim predict --hw h200-sxm-141gb --kernel 2:4 --impl cusparselt-search --m 4096 --k 4096 --n 16
      sparsim predict --hw a100-sxm4-80gb --kernel dense --m 16384 --k 16384 --n 16384 --power-limit 330
      sparsim predict --hw a100-sxm4-80gb --kernel 2:4 --quant w4a16 --m 4096 --k 4096 --n 1
    """
    if datasheet and calibration:
        from ..errors import SparsimError

        raise SparsimError("--datasheet: given with --calibration; allowed: one of the two")
    _check_weights_flags(weights, weights_tensor, density, pattern)
    options = {key: value for key, value in (("index_policy", index_policy), ("b_layout", b_layout))
               if value is not None}
    p = predict_fn(kernel, m=m, k=k, n=n, hw=hw, dtype=dtype, density=density, pattern=pattern,
                   calibration=False if datasheet else calibration, model=model, seed=seed, impl=impl,
                   weights=weights, weights_tensor=weights_tensor, group_size=group_size, block=block,
                   l2=l2, power_limit_w=power_limit_w, quant=quant, group=group, **options)
    if as_json:
        click.echo(json.dumps({**p.to_dict(), "l2": l2, "power_limit_w": power_limit_w}, sort_keys=False))
        return
    click.echo(render(p, l2=l2, power_limit_w=power_limit_w))


def _check_weights_flags(weights, tensor, density, pattern) -> None:
    """A weight file fixes A's pattern: a --density or --pattern given beside it would be
    ignored in silence, so it is refused (as is --tensor without a file)."""
    from click.core import ParameterSource

    from ..errors import SparsimError, shown

    ctx = click.get_current_context()
    given = {name for name in ("density", "pattern")
             if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)}
    if weights is not None and given:
        flag = sorted(given)[0]
        value = density if flag == "density" else pattern
        raise SparsimError(f"--{flag}: got {shown(value)} with --weights; allowed: one of them (the weight "
                           "file's zeros are the pattern, and its density follows from them)")
    if tensor is not None and weights is None:
        raise SparsimError(f"--tensor: got {shown(tensor)} without --weights; allowed: --tensor NAME with "
                           "--weights FILE.safetensors")


def render(p, *, l2: str = "cold", power_limit_w: float | None = None) -> str:
    """The table of one prediction; the hardware row names a --power-limit and a warm L2."""
    rows = [
        ("kernel", f"{p.kernel}  {p.m}x{p.k} @ {p.k}x{p.n}  {p.dtype}  density {p.density:.4g} ({p.pattern})"
                   + (f"  weights quantized {p.quant}" if p.quant else "")),
        ("hardware", p.hw + (f"  power limit {power_limit_w:g} W" if power_limit_w is not None else "")
                     + ("  L2 warm" if l2 == "warm" else "")),
        ("implementation", p.impl),
        ("figures", p.basis + (f"  ({Path(p.calibration).name})" if p.calibration else "")),
        ("model", p.model),
        ("time per call", f"{human_seconds(p.time_s)}   = kernels {human_seconds(p.kernel_s)} + host "
                          f"{human_seconds(p.overhead_s)}"),
        ("kernels", "; ".join(f"{name} {human_seconds(t)}" for name, t in p.kernels) or "-"),
        ("roofline floor", human_seconds(p.roofline_floor_s)),
        ("bound", p.bound),
        ("useful FLOP/s", human_count(p.flops_per_s, "FLOP/s")),
        ("FLOPs useful", human_count(p.flops_useful)),
        ("FLOPs executed", f"{human_count(p.flops_executed)}  ({_pct(p.flops_executed - p.flops_useful, p.flops_executed)} wasted)"),
        ("bytes HBM", human_bytes(p.bytes_hbm)),
        ("bytes L2", human_bytes(p.bytes_l2)),
        ("A values", human_bytes(p.bytes_values)),
        ("A index+metadata", human_bytes(p.bytes_index)),
        ("B / C", f"{human_bytes(p.bytes_b)} / {human_bytes(p.bytes_c)}"),
        ("dependent loads", f"depth {p.dependent_access_depth}, {p.dependent_accesses:,} loads"),
    ]
    if p.ctas:
        rows.append(("CTAs / waves", f"{p.ctas:,} / {p.waves:.2f}"))
    if p.busy:
        rows.append(("busy", ", ".join(f"{k} {v:.0%}" for k, v in p.busy.items())))
    if p.breakdown:
        rows.append(("breakdown", ", ".join(f"{k} {human_seconds(v)}" for k, v in p.breakdown.items())))
    for note in p.notes:
        rows.append(("note", note))
    return kv_table(rows)


def _pct(part, whole) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0%"
