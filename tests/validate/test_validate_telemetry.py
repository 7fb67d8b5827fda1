"""NVML telemetry parsing, on an object that answers NVML's calls (no GPU involved)."""

from __future__ import annotations

from sparsim.validate.telemetry import Telemetry, clocks_seen, decode_reasons, is_throttled


class FakeNvml:
    """Answers the NVML calls Telemetry makes, with fixed readings."""

    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU = 1, 2, 0

    def __init__(self, reasons=0x0, new_api=True):
        self.reasons = reasons
        self.calls = []
        if new_api:
            self.nvmlDeviceGetCurrentClocksEventReasons = lambda h: self.reasons
        else:
            self.nvmlDeviceGetCurrentClocksThrottleReasons = lambda h: self.reasons

    def nvmlInit(self):
        self.calls.append("init")

    def nvmlShutdown(self):
        self.calls.append("shutdown")

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("handle", index)

    def nvmlDeviceGetClockInfo(self, handle, which):
        return {1: 1755, 2: 2619}[which]

    def nvmlDeviceGetMaxClockInfo(self, handle, which):
        return {1: 1980, 2: 2619}[which]

    def nvmlDeviceGetPowerUsage(self, handle):
        return 412_345  # mW

    def nvmlDeviceGetTemperature(self, handle, which):
        return 67

    def nvmlDeviceGetName(self, handle):
        return b"NVIDIA H100 80GB HBM3"

    def nvmlSystemGetDriverVersion(self):
        return "550.54.15"

    def nvmlSystemGetNVMLVersion(self):
        return "12.550.54.15"

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        return 700_000


def test_decode_reasons_names_each_bit():
    assert decode_reasons(0) == []
    assert decode_reasons(0x1 | 0x20) == ["gpu_idle", "sw_thermal_slowdown"]
    assert decode_reasons(0x1000) == ["0x1000"]


def test_idle_or_app_clocks_are_not_throttling_but_power_and_heat_are():
    assert not is_throttled(["gpu_idle", "applications_clocks_setting", "sync_boost"])
    for reason in ("sw_power_cap", "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown",
                   "hw_power_brake_slowdown"):
        assert is_throttled([reason])


def test_a_sample_has_clocks_power_temperature_and_reasons():
    telemetry = Telemetry(FakeNvml(reasons=0x4))
    sample = telemetry.sample()
    assert sample == {"sm_clock_mhz": 1755, "mem_clock_mhz": 2619, "power_w": 412.3, "temperature_c": 67,
                      "reasons": ["sw_power_cap"], "throttled": True}


def test_older_drivers_name_it_throttle_reasons():
    sample = Telemetry(FakeNvml(reasons=0x1, new_api=False)).sample()
    assert sample["reasons"] == ["gpu_idle"] and sample["throttled"] is False


def test_device_info_and_shutdown():
    nvml = FakeNvml()
    telemetry = Telemetry(nvml)
    info = telemetry.device_info()
    assert info["name"] == "NVIDIA H100 80GB HBM3" and info["driver_version"] == "550.54.15"
    assert info["max_sm_clock_mhz"] == 1980 and info["power_limit_w"] == 700.0
    telemetry.close()
    assert nvml.calls == ["init", "shutdown"]


def test_clocks_seen_is_the_range_over_samples():
    samples = [{"sm_clock_mhz": 1755, "power_w": 300.0}, {"sm_clock_mhz": 1980, "power_w": 410.5}, "junk"]
    assert clocks_seen(samples) == {"sm_clock_mhz": [1755, 1980], "power_w": [300.0, 410.5]}
