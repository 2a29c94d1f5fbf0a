"""The pure parts of bench/load.py: percentiles, medians over rounds, ratios, targets, and
the profiling hook the daemon's interpreter loads."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import load
from bench.load import Figures, latency, median_of_rounds, percentile, ratios, targets


def test_percentile_is_the_nearest_rank() -> None:
    samples = [float(n) for n in range(100, 0, -1)]  # 100 .. 1, unsorted
    assert percentile(samples, 0.5) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile(samples, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0


def test_percentile_p99_of_few_samples_is_the_slowest() -> None:
    assert percentile([0.001, 0.002, 1.5], 0.99) == 1.5
    assert percentile([0.001, 0.002, 1.5], 0.5) == 0.002


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 0.5)


def test_latency_is_in_milliseconds() -> None:
    assert latency([0.001, 0.002, 0.003, 0.25]) == {"p50_ms": 2.0, "p99_ms": 250.0, "calls": 4}


def test_median_of_rounds_takes_each_figure_alone() -> None:
    rounds: list[Figures] = [
        {"images": {"ListImages": {"p50_ms": 1.0, "p99_ms": 9.0, "calls": 100}}},
        {"images": {"ListImages": {"p50_ms": 3.0, "p99_ms": 2.0, "calls": 100}}},
        {"images": {"ListImages": {"p50_ms": 2.0, "p99_ms": 5.0, "calls": 100}}},
    ]
    assert median_of_rounds(rounds) == {
        "images": {"ListImages": {"p50_ms": 2.0, "p99_ms": 5.0, "calls": 100}}}


def test_ratios_leave_out_counts_and_zero_denominators() -> None:
    ours: Figures = {"images": {"ImageStatus": {"p50_ms": 3.0, "p99_ms": 4.0, "calls": 9}}}
    theirs: Figures = {"images": {"ImageStatus": {"p50_ms": 1.5, "p99_ms": 0.0, "calls": 9}}}
    assert ratios(ours, theirs) == {"images": {"ImageStatus.p50_ms": 2.0}}


def _figures(scale: float, status_p99: float, wall: float) -> Figures:
    stats = {"p50_ms": scale, "p99_ms": scale, "calls": 1}
    return {
        "pod_start": {"pod_start": stats},
        "under_load": {"ContainerStatus": {"p50_ms": 1.0, "p99_ms": status_p99, "calls": 1}},
        "run_pod_sandbox_concurrent": {"all": {"wall_ms": wall}},
        "list_containers": {"ListContainers": stats},
        "images": {"ImageStatus": stats, "ListImages": stats},
    }


def test_targets_met_at_their_limits() -> None:
    found = targets(_figures(0.6, 50.0, 800.0), _figures(1.0, 999.0, 800.0))
    assert {label: entry["met"] for label, entry in found.items()} == {
        "container_status_p99_under_load": True, "run_pod_sandbox_concurrent_wall": True,
        "list_containers": True, "image_status": True, "list_images": True, "pod_start": True,
    }  # fmt: skip
    assert found["container_status_p99_under_load"] == {
        "crio_py": 50.0, "containerd": 999.0, "limit_ms": 50.0, "met": True}


def test_targets_missed_just_past_their_limits() -> None:
    found = targets(_figures(1.51, 50.01, 801.0), _figures(1.0, 1.0, 800.0))
    assert not any(entry["met"] for entry in found.values())
    assert found["list_containers"]["ratio"] == 1.51
    assert found["pod_start"] == {"crio_py": 1.51, "containerd": 1.0, "ratio": 1.51,
                                  "max_ratio": 0.6, "met": False}


def test_a_zero_figure_of_containerd_is_never_met() -> None:
    found = targets(_figures(1.0, 1.0, 1.0), _figures(0.0, 1.0, 1.0))
    assert found["image_status"]["ratio"] == math.inf
    assert found["image_status"]["met"] is False


def test_profile_hook_writes_a_profile_between_two_signals(tmp_path: Path) -> None:
    env = {**os.environ, **load._profile_env(tmp_path)}
    script = "import time\nfor _ in range(400):\n    sum(range(1000)); time.sleep(0.01)\n"
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        time.sleep(1.0)  # the interpreter has loaded the hook
        os.kill(child.pid, signal.SIGUSR1)
        time.sleep(0.3)
        os.kill(child.pid, signal.SIGUSR1)
        written = tmp_path / "phase.1.prof"
        deadline = time.monotonic() + 5
        while not written.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert written.stat().st_size > 0
        assert child.poll() is None  # SIGUSR1 did not end it
    finally:
        child.kill()
        child.wait()
