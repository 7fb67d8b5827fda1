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
    from ..calibration import Calibration
    from ..errors import SparsimError
    from ..validate.probe import format_probe
    from ..validate.probe import probe as run

    if out_file and not out_file.endswith((".json", ".toml")):
        raise SparsimError(f"--out: got {out_file!r}; allowed: a path ending in .json or .toml")
    result = run(backend, quick=quick)
    result["hw"] = hw or _profile_name(backend, result["device"])
    if out_file:
        path = Path(out_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        if out_file.endswith(".toml"):
            if result["hw"] is None:
                raise SparsimError(f"--hw: no built-in profile matches {result['device']!r}; "
                                   "allowed: --hw NAME (see 'sparsim hw list') for a .toml --out")
            Calibration(hw=result["hw"], measured=result["measured"],
                        provenance={"device": result["device"], "date": result["date"],
                                    "source": f"sparsim probe --backend {backend}" + (" --quick" if quick else "")}
                        ).save(path)
        else:
            path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(format_probe(result))
    if out_file:
        click.echo(f"wrote {out_file}")


def _profile_name(backend: str, device: str) -> str | None:
    if backend == "numpy":
        from ..hwprofiles.host import detect_host, host_name

        return host_name(detect_host())
    from ..validate.backends.cupy_backend import match_profile

    return match_profile(device)
