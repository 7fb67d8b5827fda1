"""Software stacks as data: what cuBLAS, cuSPARSE, cuSPARSELt, PyTorch, NumPy and SciPy
run for one call of a kernel (:mod:`~sparsim.impls.spec`), and the registry of the
built-in implementation files (:mod:`~sparsim.impls.registry`).

>>> from sparsim.impls import default_impl, impl_names
>>> default_impl("2:4"), default_impl("csr"), "cusparselt-search" in impl_names()
('cusparselt', 'cusparse', True)
"""

from .registry import check_impl, default_impl, get_impl, impl_names, load_impl, plan_library, plan_rule
from .spec import CtaShape, ExtraKernel, Implementation, KernelRule

__all__ = ["CtaShape", "ExtraKernel", "Implementation", "KernelRule", "check_impl", "default_impl", "get_impl",
           "impl_names", "load_impl", "plan_library", "plan_rule"]
