"""usage_nano_cores from successive samples, and where a systemd slice lives."""

from __future__ import annotations

from crio_py.cri.container.cpu_rate import CpuRates
from crio_py.cri.pod_stats import systemd_slice_path


def test_the_rate_is_computed_from_the_previous_sample() -> None:
    rates = CpuRates()
    assert rates.nano_cores("c", 1_000, 10_000_000_000) == 0  # the first sample
    # 0.5 s of CPU in 2 s: a quarter of a core
    assert rates.nano_cores("c", 500_001_000, 12_000_000_000) == 250_000_000
    assert rates.nano_cores("other", 5, 12_000_000_000) == 0  # samples are per object


def test_a_counter_or_clock_going_back_answers_zero() -> None:
    rates = CpuRates()
    rates.nano_cores("c", 1_000, 10)
    assert rates.nano_cores("c", 500, 20) == 0  # the cgroup was made anew
    assert rates.nano_cores("c", 900, 20) == 0  # no time passed
    rates.forget("c")
    assert rates.nano_cores("c", 2_000, 30) == 0


def test_systemd_slices_nest_at_each_dash() -> None:
    assert systemd_slice_path("kubepods-burstable-pod12.slice") == (
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice"
    )
    assert systemd_slice_path("/kubepods/pod1") == "/kubepods/pod1"
