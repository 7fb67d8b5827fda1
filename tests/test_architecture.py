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


def _names():
    from sparsim.impls import get_impl, impl_names
    from sparsim.models.kernels import KERNELS

    impls = set(impl_names(public_only=False))
    params_tables = {r.params_from for n in impls for r in get_impl(n).rules.values() if r.params_from}
    return sorted(set(KERNELS) | impls | params_tables, key=len, reverse=True)


_LITERAL = "[\"'](?:" + "|".join(re.escape(n) for n in _names()) + ")[\"']"
#: what a kernel or implementation name is held in: a variable, an attribute or a record key
_SUBJECT = r"""(?:\b(?:kernel|impl|fmt)\b|\.(?:kernel|impl|name)\b|\[\s*["'](?:kernel|impl|format)["']\s*\])"""
NAME_COMPARISON = re.compile(
    rf"""{_SUBJECT}\s*(?:==|!=|not\s+in|in)\s*(?:{_LITERAL}|[(\[{{]\s*{_LITERAL})|{_LITERAL}\s*(?:==|!=)\s*\w*{_SUBJECT}""")
#: the registries own the names; the measurement backends each drive named libraries
NAME_OWNERS = ("sparsim/models/kernels.py", "sparsim/impls/", "sparsim/validate/backends/")


def name_comparisons(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), 1)
            if ">>>" not in line and NAME_COMPARISON.search(line.split("#")[0])]


def test_the_name_check_finds_what_it_should():
    found = name_comparisons('if kernel == "csr":\n'
                             'x = spec.kernel in ("2:4", "1:2")\n'
                             'rows = df[df["format"] != "dense"]\n'
                             'ok = impl.name != "reference"\n'
                             'y = "cusparse" == r.impl\n'
                             'if backend == "numpy":  # a backend, not an implementation\n'
                             'if pattern == "channel":\n'
                             'if kernel_of(kernel).is_nm:\n')
    assert found == [1, 2, 3, 4, 5]


def test_no_code_outside_the_registries_compares_kernel_or_implementation_names():
    # a kernel's or an implementation's properties live in its registry (models/kernels.py,
    # impls/); a comparison with a name elsewhere is a second, drifting copy of them
    hits = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "sparsim").rglob("*.py"))
            if not str(path.relative_to(ROOT)).startswith(NAME_OWNERS)
            for n in name_comparisons(path.read_text(encoding="utf-8"))]
    assert hits == []
