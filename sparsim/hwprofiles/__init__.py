"""Hardware profiles: TOML data files of published GPU limits, their schema and loader.

>>> from sparsim.hwprofiles import load_profile
>>> load_profile("h100-sxm5-80gb").sm_count
132
"""

from .loader import apply_measured, list_profiles, load_profile, read_profile_file, shipped_calibration
from .measured import MEASURED_KEYS, is_measured_key
from .schema import HardwareProfile, parse_profile

__all__ = ["HardwareProfile", "list_profiles", "load_profile", "parse_profile", "read_profile_file",
           "shipped_calibration", "apply_measured", "MEASURED_KEYS", "is_measured_key"]
