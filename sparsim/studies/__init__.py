"""What-if capacity studies: sweep layers × formats × densities × GPUs × batch sizes, or
whole model steps × software paths × modes × GPUs × batch sizes (:mod:`~sparsim.studies.steps`).

A study file (TOML, see :mod:`sparsim.studies.spec`) names what to sweep; :func:`run_study`
plans it into tasks (:mod:`~sparsim.studies.sweep`), runs them on a local or Dask executor
(:mod:`~sparsim.studies.executor`) and returns the table that
:mod:`sparsim.reports` turns into an HTML report; :mod:`~sparsim.studies.results` saves
and reloads it with its provenance.

>>> import sparsim.studies as studies
>>> "llama2-7b" in studies.list_examples()
True
"""

from .examples import example_path, list_examples
from .executor import SerialExecutor, SweepResult, open_executor, run_sweep
from .modelspec import ModelWorkload
from .spec import STUDY_VERSION, KernelOptions, Study, Workload, load_study, parse_study

__all__ = [
    "STUDY_VERSION", "Study", "Workload", "ModelWorkload", "KernelOptions", "load_study", "parse_study",
    "SerialExecutor", "SweepResult", "open_executor", "run_sweep", "example_path", "list_examples",
]
