"""sparsim: will this pruned model actually run faster on that GPU, and why?

sparsim predicts what a matrix-multiply kernel costs on a GPU before anyone runs it:
bytes moved at each memory level, dependent (pointer-chasing) accesses, useful and
wasted FLOPs, and time, for dense GEMM, COO/CSR/BSR SpMM, 2:4 structured sparsity and
channel pruning, for the software stack that runs it (cuBLAS, cuSPARSE, cuSPARSELt,
PyTorch: ``sparsim.impls``). Data flows one way: problem -> work -> (implementation,
machine) -> time -> table -> report.

>>> import sparsim
>>> p = sparsim.predict("2:4", m=4096, k=4096, n=4096, hw="a100-sxm4-80gb", dtype="fp16")
>>> p.bytes_index == 4096 * 4096 // 8   # 2 bits of metadata per kept value
True
"""

from .api import MODELS, predict, predict_generation, predict_step
from .calibration import Calibration, load_calibration
from .errors import SparsimError
from .hwprofiles import HardwareProfile, list_profiles, load_profile
from .models.work import KERNELS, KernelWork, build_work
from .prediction import Prediction
from .problem import Problem
from .version import __version__
from .hwprofiles.host import register_host_measurer as _register_host_measurer


def _measure_host_lazily(facts: dict) -> tuple[dict, bool]:
    """Time this CPU for ``hw="host"``; the microbenchmarks (sparsim.validate, which loads
    pandas) are imported only here, so ``import sparsim`` stays cheap."""
    from .validate import hostbench

    return hostbench.measure_quietly(facts)


_register_host_measurer(_measure_host_lazily)

__all__ = [
    "predict", "predict_step", "predict_generation", "MODELS", "Prediction", "KERNELS", "KernelWork", "build_work",
    "HardwareProfile", "list_profiles", "load_profile", "Calibration", "load_calibration",
    "SparsimError", "Problem", "__version__",
]
