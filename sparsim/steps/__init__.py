"""One step of a model on one or more GPUs, and a whole generation request.

:func:`predict_step_on` turns a transformer config into the operators of one step
(:mod:`sparsim.models.step_ops`), times every kernel on the machine (linear layers
through ``sparsim.predict``, passed in by :mod:`sparsim.api`; streaming and attention
kernels through :mod:`sparsim.simulator.streaming` and
:mod:`sparsim.simulator.attention`), lays the launches out per execution mode
(:mod:`.framework`), runs the host/GPU/link timeline (:mod:`.timeline`), and checks the
memory plan (:mod:`.memory`). :mod:`.generation` composes prefill and decode steps into
TTFT, TPOT and tokens/s. Users call ``sparsim.predict_step`` / ``sparsim.predict_generation``.

>>> import sparsim
>>> p = sparsim.predict_step("mistral-7b", hw="h100-sxm5-80gb", batch=8, context=1024, mode="compiled")
>>> p.fits, p.bound, MODES
(True, 'gpu', ('eager', 'cuda-graphs', 'compiled'))
"""

from .framework import MODES
from .memory import LINEAR_FORMATS, MemoryPlan, max_batch, memory_plan
from .prediction import GenerationPrediction, StepPrediction

__all__ = ["MODES", "LINEAR_FORMATS", "MemoryPlan", "memory_plan", "max_batch", "StepPrediction", "GenerationPrediction"]
