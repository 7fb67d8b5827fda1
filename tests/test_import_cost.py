"""``import sparsim`` stays cheap: no pandas, pyarrow, altair, scipy or validation code.

Every CLI call pays for the package import, so the heavy stacks load only where they are
used (issue 14 item 4; ``benchmarks/bench_import.py`` prints the times). These are checks
of what is loaded, not timings, so they hold on a busy machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("pandas", "pyarrow", "altair", "scipy", "simpy", "sparsim.validate", "sparsim.studies",
             "sparsim.reports")


def _modules_after(code: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def _heavy(modules: set[str], names=FORBIDDEN) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_import_sparsim_loads_no_heavy_stack():
    modules = _modules_after("import sparsim")
    assert "sparsim" in modules and "numpy" in modules
    assert _heavy(modules) == []


def test_a_dense_prediction_loads_no_data_frame_or_validation_code():
    modules = _modules_after("import sparsim\nsparsim.predict('dense', m=1024, k=1024, n=1024, hw='a100-sxm4-80gb')")
    assert "sparsim.simulator.des" in modules and "simpy" in modules  # it did run the discrete-event model
    assert _heavy(modules, ("pandas", "pyarrow", "altair", "scipy", "sparsim.validate")) == []


def test_the_predict_command_imports_no_other_command():
    modules = _modules_after("from sparsim.cli import main\n"
                             "main(['predict', '--hw', 'l4', '--kernel', 'dense', '--m', '64', '--k', '64', '--n', '64'])")
    assert "sparsim.cli.predict" in modules
    assert _heavy(modules, ("pandas", "pyarrow", "altair", "sparsim.validate", "sparsim.cli.study",
                            "sparsim.cli.report", "sparsim.cli.calibrate")) == []
