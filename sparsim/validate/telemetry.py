"""GPU telemetry through NVML (``nvidia-ml-py``, imported as ``pynvml``).

With every timed GPU repetition the cupy backend records the SM and memory clocks, board
power, temperature and the clock-event (throttle) reasons. A repetition whose reasons
include a power cap, a thermal slowdown or a hardware slowdown ran below the clocks a
profile assumes: it is flagged ``throttled`` and left out of the median and of the fit.

The NVML module is passed in, so the parsing is tested without a GPU on any object that
answers the same calls.

>>> decode_reasons(0x4 | 0x40)
['sw_power_cap', 'hw_thermal_slowdown']
>>> is_throttled(['gpu_idle']), is_throttled(['sw_thermal_slowdown'])
(False, True)
"""

from __future__ import annotations

__all__ = ["CLOCK_EVENT_REASONS", "THROTTLE_REASONS", "decode_reasons", "is_throttled", "Telemetry"]

#: nvmlClocksEventReason* bits (nvml.h; "ClocksThrottleReason" before driver 535)
CLOCK_EVENT_REASONS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
#: reasons that mean the clocks were held below what the workload asked for
THROTTLE_REASONS = frozenset({"sw_power_cap", "hw_slowdown", "sw_thermal_slowdown",
                              "hw_thermal_slowdown", "hw_power_brake_slowdown"})


def decode_reasons(mask: int) -> list[str]:
    """Names of the set bits of an NVML clock-event reason mask (unknown bits as hex)."""
    mask = int(mask)
    names = [name for bit, name in CLOCK_EVENT_REASONS.items() if mask & bit]
    unknown = mask & ~sum(CLOCK_EVENT_REASONS)
    if unknown:
        names.append(hex(unknown))
    return names


def is_throttled(reasons) -> bool:
    return any(r in THROTTLE_REASONS for r in reasons)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Telemetry:
    """Samples one GPU through an NVML module (``pynvml`` or anything with its calls)."""

    def __init__(self, nvml, index: int = 0):
        self.nvml = nvml
        self.index = index
        nvml.nvmlInit()
        self.handle = nvml.nvmlDeviceGetHandleByIndex(index)
        # driver >= 535 renamed throttle reasons to clock-event reasons
        self._reasons = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) \
            or getattr(nvml, "nvmlDeviceGetCurrentClocksThrottleReasons")

    @classmethod
    def open(cls, index: int = 0) -> tuple["Telemetry | None", str | None]:
        """(telemetry, None), or (None, why it is unavailable)."""
        try:
            import pynvml
        except ImportError as exc:
            return None, f"telemetry unavailable: pynvml not importable ({exc}); pip install nvidia-ml-py"
        try:
            return cls(pynvml, index), None
        except Exception as exc:  # noqa: BLE001 - NVMLError and friends
            return None, f"telemetry unavailable: {type(exc).__name__}: {exc}"

    def _const(self, name: str, default: int) -> int:
        return getattr(self.nvml, name, default)

    def sample(self) -> dict:
        """One reading: clocks (MHz), power (W), temperature (C), reasons, throttled."""
        nv, h = self.nvml, self.handle
        reasons = decode_reasons(self._reasons(h))
        return {
            "sm_clock_mhz": int(nv.nvmlDeviceGetClockInfo(h, self._const("NVML_CLOCK_SM", 1))),
            "mem_clock_mhz": int(nv.nvmlDeviceGetClockInfo(h, self._const("NVML_CLOCK_MEM", 2))),
            "power_w": round(nv.nvmlDeviceGetPowerUsage(h) / 1000.0, 1),  # NVML reports mW
            "temperature_c": int(nv.nvmlDeviceGetTemperature(h, self._const("NVML_TEMPERATURE_GPU", 0))),
            "reasons": reasons,
            "throttled": is_throttled(reasons),
        }

    def device_info(self) -> dict:
        """Name, driver and NVML versions, maximum clocks and power limit."""
        nv, h = self.nvml, self.handle
        info = {"name": _text(nv.nvmlDeviceGetName(h)),
                "driver_version": _text(nv.nvmlSystemGetDriverVersion())}
        for key, call in (("nvml_version", lambda: _text(nv.nvmlSystemGetNVMLVersion())),
                          ("max_sm_clock_mhz", lambda: int(nv.nvmlDeviceGetMaxClockInfo(h, self._const("NVML_CLOCK_SM", 1)))),
                          ("max_mem_clock_mhz", lambda: int(nv.nvmlDeviceGetMaxClockInfo(h, self._const("NVML_CLOCK_MEM", 2)))),
                          ("power_limit_w", lambda: nv.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0)):
            try:
                info[key] = call()
            except Exception:  # noqa: BLE001 - optional fields
                pass
        return info

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def clocks_seen(samples) -> dict:
    """Range of SM/memory clocks, power and temperature over many samples (provenance)."""
    out = {}
    for key in ("sm_clock_mhz", "mem_clock_mhz", "power_w", "temperature_c"):
        values = [s[key] for s in samples if isinstance(s, dict) and s.get(key) is not None]
        if values:
            out[key] = [min(values), max(values)]
    return out
