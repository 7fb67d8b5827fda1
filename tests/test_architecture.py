"""The package's layering (benchmarks/import_graph.py) and the simulator's architecture rules."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _import_graph():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "benchmarks" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GRAPH = _import_graph()
EDGES = GRAPH.graph()


def test_the_graph_sees_the_simulator_import_the_models():
    assert "sparsim.models.work" in EDGES["sparsim.simulator.gemm"]


def test_no_package_imports_itself_back():
    assert GRAPH.package_cycles(EDGES) == []


def test_no_module_cycles():
    assert GRAPH.module_cycles(EDGES) == []


def test_no_upward_imports():
    # layers bottom to top: shared modules < hwprofiles, models < impls < calibration,
    # prediction, problem, simulator < api < validate, studies < reports < cli
    assert GRAPH.upward(EDGES) == []


KERNEL_NAME_CHECK = re.compile(r"""\bkernel\s*(==|!=)|\bkernel\s+(not\s+)?in\s+[(A-Z_"]|\.split\(":"\)""")


@pytest.mark.parametrize("package", ["models", "simulator"])
def test_models_and_simulator_ask_the_kernel_registry_not_the_name(package):
    # kernel properties live in sparsim/models/kernels.py; elsewhere a name comparison
    # or a parse of "2:4" would be a second, drifting copy of them
    hits = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "sparsim" / package).glob("*.py"))
            if path.name != "kernels.py"
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if KERNEL_NAME_CHECK.search(line.split("#")[0]) and ">>>" not in line]
    assert hits == []
