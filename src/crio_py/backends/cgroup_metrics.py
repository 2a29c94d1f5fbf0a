"""The counters behind the CRI metrics RPCs (cAdvisor's names, as containerd and CRI-O fill
them): a container's cgroups, v1 or v2, found through its init process, the processes in
them (/proc/<pid>/fd and status), and a network namespace's interfaces. Reads only; a value
the host does not have is left out, never guessed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from crio_py.backends.cgroup_stats import (
    CGROUP_ROOT,
    PROC,
    cgroup_dirs,
    net_dev,
    read_keyed,
    read_lines,
    read_number,
    read_text,
)

NS_PER_S = 1_000_000_000


@dataclass
class Sample:
    """Counters by cAdvisor metric name, plus those with extra label values."""

    values: dict[str, int] = field(default_factory=dict)
    # name → [(extra label values, value)]: memory failures, block I/O per device
    labelled: dict[str, list[tuple[tuple[str, ...], int]]] = field(default_factory=dict)

    def put(self, name: str, value: int | None) -> None:
        if value is not None:
            self.values[name] = max(value, 0)

    def add(self, name: str, labels: tuple[str, ...], value: int | None) -> None:
        if value is not None:
            self.labelled.setdefault(name, []).append((labels, max(value, 0)))


def container_sample(pid: int, proc: Path = PROC, root: Path = CGROUP_ROOT) -> Sample | None:
    """What the cgroups of `pid` (a container's init) and their processes say; None when the
    process is gone."""
    dirs = cgroup_dirs(pid, proc, root)
    if not dirs:
        return None
    sample = Sample()
    if "memory" in dirs or "cpuacct" in dirs:
        _v1(sample, dirs)
        procs_dir = dirs.get("pids") or dirs.get("memory") or next(iter(dirs.values()))
    else:
        unified = dirs.get("")
        if unified is None:
            return None
        _v2(sample, unified)
        procs_dir = unified
    _processes(sample, _pids(procs_dir / "cgroup.procs"), proc)
    return sample


def _v1(sample: Sample, dirs: dict[str, Path]) -> None:
    cpuacct, cpu, memory = dirs.get("cpuacct"), dirs.get("cpu"), dirs.get("memory")
    if cpuacct is not None:
        sample.put(
            "container_cpu_usage_seconds_total", _seconds(read_number(cpuacct / "cpuacct.usage"))
        )
        sample.put(
            "container_cpu_user_seconds_total",
            _seconds(read_number(cpuacct / "cpuacct.usage_user")),
        )
        sample.put(
            "container_cpu_system_seconds_total",
            _seconds(read_number(cpuacct / "cpuacct.usage_sys")),
        )
    if cpu is not None:
        stat = read_keyed(cpu / "cpu.stat")
        _throttling(
            sample, stat.get("nr_periods"), stat.get("nr_throttled"), stat.get("throttled_time")
        )
    if memory is not None:
        stat = read_keyed(memory / "memory.stat")
        used = read_number(memory / "memory.usage_in_bytes")
        with_swap = read_number(memory / "memory.memsw.usage_in_bytes")
        _memory(sample, used, stat.get("total_inactive_file"))
        sample.put(
            "container_memory_max_usage_bytes", read_number(memory / "memory.max_usage_in_bytes")
        )
        sample.put("container_memory_failcnt", read_number(memory / "memory.failcnt"))
        sample.put("container_memory_cache", stat.get("total_cache"))
        sample.put("container_memory_rss", stat.get("total_rss"))
        sample.put("container_memory_mapped_file", stat.get("total_mapped_file"))
        sample.put(
            "container_memory_kernel_usage", read_number(memory / "memory.kmem.usage_in_bytes")
        )
        sample.put(
            "container_memory_swap",
            with_swap - used if with_swap is not None and used is not None else None,
        )
        sample.put(
            "container_oom_events_total", read_keyed(memory / "memory.oom_control").get("oom_kill")
        )
        _faults(sample, stat.get("total_pgfault"), stat.get("total_pgmajfault"))
    pids = dirs.get("pids")
    if pids is not None:
        _pids_limits(sample, pids)
    blkio = dirs.get("blkio")
    if blkio is not None:
        _blkio_v1(sample, blkio)


def _v2(sample: Sample, directory: Path) -> None:
    cpu = read_keyed(directory / "cpu.stat")
    usec = {key: cpu.get(key) for key in ("usage_usec", "user_usec", "system_usec")}
    sample.put("container_cpu_usage_seconds_total", _usec_seconds(usec["usage_usec"]))
    sample.put("container_cpu_user_seconds_total", _usec_seconds(usec["user_usec"]))
    sample.put("container_cpu_system_seconds_total", _usec_seconds(usec["system_usec"]))
    throttled = cpu.get("throttled_usec")
    _throttling(
        sample,
        cpu.get("nr_periods"),
        cpu.get("nr_throttled"),
        throttled * 1000 if throttled is not None else None,
    )
    stat = read_keyed(directory / "memory.stat")
    _memory(sample, read_number(directory / "memory.current"), stat.get("inactive_file"))
    sample.put("container_memory_max_usage_bytes", read_number(directory / "memory.peak"))
    sample.put("container_memory_failcnt", read_keyed(directory / "memory.events").get("max"))
    sample.put("container_memory_cache", stat.get("file"))
    sample.put("container_memory_rss", stat.get("anon"))
    sample.put("container_memory_mapped_file", stat.get("file_mapped"))
    sample.put("container_memory_kernel_usage", stat.get("kernel", stat.get("kernel_stack")))
    sample.put("container_memory_swap", read_number(directory / "memory.swap.current"))
    sample.put(
        "container_oom_events_total", read_keyed(directory / "memory.events").get("oom_kill")
    )
    _faults(sample, stat.get("pgfault"), stat.get("pgmajfault"))
    _pids_limits(sample, directory)
    for line in read_lines(directory / "io.stat"):
        device, *pairs = line.split()
        counters = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
        for key, name in _IO_STAT.items():
            if counters.get(key, "").isdigit():
                sample.add(name, (device,), int(counters[key]))


_IO_STAT = {
    "rbytes": "container_fs_reads_bytes_total",
    "wbytes": "container_fs_writes_bytes_total",
    "rios": "container_fs_reads_total",
    "wios": "container_fs_writes_total",
}


def _blkio_v1(sample: Sample, blkio: Path) -> None:
    names = {
        ("blkio.throttle.io_service_bytes_recursive", "Read"): "container_fs_reads_bytes_total",
        ("blkio.throttle.io_service_bytes_recursive", "Write"): "container_fs_writes_bytes_total",
        ("blkio.throttle.io_serviced_recursive", "Read"): "container_fs_reads_total",
        ("blkio.throttle.io_serviced_recursive", "Write"): "container_fs_writes_total",
    }
    for line in read_lines(blkio / "blkio.throttle.io_service_bytes_recursive"):
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0] and parts[2].isdigit():
            major, minor = parts[0].split(":", 1)
            operation = parts[1].lower()
            sample.add(
                "container_blkio_device_usage_total",
                (parts[0], major, minor, operation),
                int(parts[2]),
            )
    for (file_name, operation), name in names.items():
        for line in read_lines(blkio / file_name):
            parts = line.split()
            if len(parts) == 3 and parts[1] == operation and parts[2].isdigit():
                sample.add(name, (parts[0],), int(parts[2]))


def _throttling(sample: Sample, periods: int | None, throttled: int | None, ns: int | None) -> None:
    sample.put("container_cpu_cfs_periods_total", periods)
    sample.put("container_cpu_cfs_throttled_periods_total", throttled)
    sample.put("container_cpu_cfs_throttled_seconds_total", _seconds(ns))


def _memory(sample: Sample, used: int | None, inactive_file: int | None) -> None:
    sample.put("container_memory_usage_bytes", used)
    if used is not None:
        sample.put("container_memory_working_set_bytes", used - (inactive_file or 0))


def _faults(sample: Sample, minor: int | None, major: int | None) -> None:
    sample.add("container_memory_failures_total", ("pgfault", "container"), minor)
    sample.add("container_memory_failures_total", ("pgmajfault", "container"), major)


def _pids_limits(sample: Sample, directory: Path) -> None:
    sample.put("container_processes", read_number(directory / "pids.current"))
    limit = read_text(directory / "pids.max")
    if limit is not None:
        sample.put("container_threads_max", int(limit) if limit.isdigit() else 0)  # 0: no limit


def _processes(sample: Sample, pids: list[int], proc: Path) -> None:
    """Open descriptors, sockets and threads of the cgroup's processes (cAdvisor's scan)."""
    descriptors = sockets = threads = 0
    for pid in pids:
        fd_dir = proc / str(pid) / "fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        descriptors += len(names)
        for name in names:
            try:
                sockets += os.readlink(fd_dir / name).startswith("socket:")
            except OSError:
                continue
        status = read_keyed(proc / str(pid) / "status", ":")
        threads += status.get("Threads", 0)
    sample.put("container_file_descriptors", descriptors)
    sample.put("container_sockets", sockets)
    sample.put("container_threads", threads)


def network_sample(pid: int, proc: Path = PROC) -> dict[str, dict[str, int]]:
    """Interface → counters by metric name, for every interface (lo too, as CRI-O reports)
    of the network namespace of `pid`."""
    return {
        name: {metric: counts[index] for metric, index in _NET_DEV.items()}
        for name, counts in net_dev(pid, proc).items()
    }


_NET_DEV = {  # metric → field of /proc/<pid>/net/dev
    "container_network_receive_bytes_total": 0,
    "container_network_receive_packets_total": 1,
    "container_network_receive_errors_total": 2,
    "container_network_receive_packets_dropped_total": 3,
    "container_network_transmit_bytes_total": 8,
    "container_network_transmit_packets_total": 9,
    "container_network_transmit_errors_total": 10,
    "container_network_transmit_packets_dropped_total": 11,
}


def _seconds(ns: int | None) -> int | None:
    return ns // NS_PER_S if ns is not None else None


def _usec_seconds(usec: int | None) -> int | None:
    return usec // 1_000_000 if usec is not None else None


def _pids(path: Path) -> list[int]:
    return [int(line) for line in read_lines(path) if line.strip().isdigit()]
