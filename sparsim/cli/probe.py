"""``sparsim probe``: measure hardware ceilings by microbenchmark (:mod:`sparsim.validate.probe`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["probe"]


@click.command()
@click.option("--backend", required=True, type=click.Choice(["numpy", "cupy"]),
              help="numpy: this CPU (about 10 s on 2 cores); cupy: the GPU (about a minute).")
@click.option("--out", "out_file", default=None, type=click.Path(dir_okay=False),
              help="Write the result: FILE.json (values and how each was measured) or FILE.toml "
                   "(a calibration holding only the [measured] table).")
@click.option("--quick", is_flag=True, help="Smaller buffers and fewer repetitions.")
@click.option("--hw", default=None,
              help="Profile the measured values belong to (default: the host's, or the GPU's built-in profile).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as one JSON object.")
def probe(backend, out_file, quick, hw, as_json):
    """Measure DRAM and last-level-cache bandwidth, L1/L2/DRAM latency, launch overhead
    and the matrix-unit (CPU: BLAS) peak per dtype, the way gpu-benches does.

    The values are keyed as a calibration's [measured] table expects; a .toml --out
    writes such a calibration, which 'sparsim hw show NAME --calibration FILE' puts
    beside the datasheet.

    \b
    Examples:
      sparsim probe --backend numpy --out probe.json
      sparsim probe --backend cupy --out h200-measured.toml
    """
    from ..atomic import prepare_out
    from ..calibration import Calibration
    from ..errors import SparsimError, shown
    from ..validate.backends import check_backend_hw
    from ..validate.probe import format_probe
    from ..validate.probe import probe as run

    # every input is checked before anything is measured, and the output's folder written
    if out_file and not out_file.endswith((".json", ".toml")):
        raise SparsimError(f"--out: got {shown(out_file)}; allowed: a path ending in .json or .toml")
    check_backend_hw(backend, hw)
    if out_file:
        prepare_out(out_file, "--out", folder=False)
    result = run(backend, quick=quick)
    result["hw"] = _profile_name(backend, result["device"]) if hw in (None, "host") else _hw_name(hw)
    # the values reach the terminal first: a write that fails then loses nothing
    click.echo(json.dumps(result) if as_json else format_probe(result))
    if not out_file:
        return
    path = Path(out_file)
    if out_file.endswith(".toml"):
        if result["hw"] is None:
            raise SparsimError(f"--hw: no built-in profile matches {result['device']!r}; "
                               "allowed: --hw NAME (see 'sparsim hw list') for a .toml --out")
        Calibration(hw=result["hw"], measured=result["measured"],
                    provenance={"device": result["device"], "date": result["date"],
                                "source": f"sparsim probe --backend {backend}" + (" --quick" if quick else "")}
                    ).save(path)
    else:
        from ..atomic import write_text_atomic

        write_text_atomic(path, json.dumps(result, indent=1) + "\n")
    if not as_json:
        click.echo(f"wrote {out_file}")


def _hw_name(hw: str) -> str:
    """The profile name a calibration for ``--hw`` must carry (a path gives its profile's name)."""
    from ..hwprofiles import load_profile

    return load_profile(hw).name


def _profile_name(backend: str, device: str) -> str | None:
    if backend == "numpy":
        from ..hwprofiles.host import detect_host, host_name

        return host_name(detect_host())
    from ..validate.backends.cupy_backend import match_profile

    return match_profile(device)
