"""CPU usage rates (`usage_nano_cores`) from successive samples of a cgroup's cumulative CPU
time, so that the kubelet need not wait for two samples of its own.

Mirrors containerd's `getUsageNanoCores` (`internal/cri/server/container_stats_list.go`):
the previous sample of each container or sandbox is kept, a stats call computes the rate
since it and keeps its own, and the first call (or one whose clock or counter went
backwards) answers 0.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class Sample:
    cpu_ns: int
    taken_at_ns: int


class CpuRates:
    """The last sample per container or sandbox id (stats run in worker threads)."""

    def __init__(self) -> None:
        self._last: dict[str, Sample] = {}
        self._lock = threading.Lock()

    def nano_cores(self, object_id: str, cpu_ns: int, taken_at_ns: int) -> int:
        """The rate since the previous sample of `object_id`, in CPU nanoseconds per second."""
        with self._lock:
            previous = self._last.get(object_id)
            self._last[object_id] = Sample(cpu_ns, taken_at_ns)
        if previous is None:
            return 0
        elapsed_ns = taken_at_ns - previous.taken_at_ns
        used_ns = cpu_ns - previous.cpu_ns
        if elapsed_ns <= 0 or used_ns < 0:
            return 0
        return used_ns * NS_PER_S // elapsed_ns

    def forget(self, object_id: str) -> None:
        """The container or sandbox is gone."""
        with self._lock:
            self._last.pop(object_id, None)
