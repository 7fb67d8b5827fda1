"""How long a kernel's work takes on a hardware profile.

``des`` is the discrete-event (simpy) model of SMs, tensor cores, caches and HBM that
``sparsim.predict`` uses by default; ``analytic`` is the roofline reference; ``roofline``
gives the floor no prediction may go below; ``params`` the tunable efficiencies.
"""

from .params import DEFAULT_PARAMS
from .roofline import math_peak, roofline_floor

__all__ = ["DEFAULT_PARAMS", "math_peak", "roofline_floor"]
