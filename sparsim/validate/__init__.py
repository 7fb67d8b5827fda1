"""Validation: run the kernels for real, fit the simulator to them, report held-out error.

A cost model earns trust only against measurements it was not fitted to. This package
times real kernels on two backends that share one interface (``numpy``: NumPy/SciPy on
the host CPU, which is profiled at run time as ``--hw host``; ``cupy``: cuBLAS, cuSPARSE
and cuSPARSELt on an NVIDIA GPU, with NVML telemetry), writes every measurement to a JSON
lines file as it is taken, fits the simulator's parameters on a training split of shapes
(:class:`Calibrator`), and reports the error on the held-out shapes, densities and
patterns (:func:`evaluate`).

>>> from sparsim.validate import plan, NumpyBackend, run_sweep, Calibrator, evaluate
>>> from sparsim.validate import usable_records
>>> specs = plan("numpy", quick=True)
>>> {s.split for s in specs} == {"train", "test"}
True
>>> run_sweep(NumpyBackend(), specs, "out/results.jsonl")                         # doctest: +SKIP
>>> cal = Calibrator(hw="host").fit(usable_records("out/results.jsonl", split="train"))  # doctest: +SKIP
>>> print(evaluate(cal.calibration_, "out/results.jsonl", hw="host").render())   # doctest: +SKIP

Command line: ``sparsim calibrate --backend numpy --out DIR [--quick]`` and
``sparsim validate --results DIR/results.jsonl --calibration DIR/calibration.toml``.
"""

from .backends import BACKENDS, Backend, Measurement, Unsupported, get_backend
from .backends.numpy_backend import NumpyBackend
from .calibrator import Calibrator, predict_records, usable_records
from .heldout import ErrorReport, evaluate
from .results import RESULTS_SCHEMA, ResultSet, ResultsWriter, read_results
from .runner import SweepSummary, run_sweep
from .spec import MeasureSpec, plan, split_by_shape
from .timing import FULL, QUICK, TimingPolicy

__all__ = [
    "BACKENDS", "Backend", "Measurement", "Unsupported", "get_backend", "NumpyBackend",
    "Calibrator", "predict_records", "usable_records", "ErrorReport", "evaluate",
    "RESULTS_SCHEMA", "ResultSet", "ResultsWriter", "read_results", "SweepSummary", "run_sweep",
    "MeasureSpec", "plan", "split_by_shape", "TimingPolicy", "QUICK", "FULL",
]
