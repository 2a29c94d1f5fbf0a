"""Resource usage of a container's processes, read from the cgroups its init process is in
(`/proc/<pid>/cgroup`), which works for both cgroup drivers and for cgroup v1 and v2; and
network counters from `/proc/<pid>/net/dev`, which shows the process's network namespace."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC = Path("/proc")


@dataclass(frozen=True)
class Usage:
    """One sample; None where the host does not say."""

    cpu_ns: int | None = None
    memory_bytes: int | None = None
    working_set_bytes: int | None = None
    rss_bytes: int | None = None
    page_faults: int | None = None
    major_page_faults: int | None = None
    processes: int | None = None
    swap_usage_bytes: int | None = None
    swap_available_bytes: int | None = None


@dataclass(frozen=True)
class InterfaceCounters:
    name: str
    rx_bytes: int
    rx_errors: int
    tx_bytes: int
    tx_errors: int


def cgroup_dirs(pid: int, proc: Path = PROC, root: Path = CGROUP_ROOT) -> dict[str, Path]:
    """Controller → the process's cgroup directory ("" for the unified v2 hierarchy)."""
    try:
        text = (proc / str(pid) / "cgroup").read_text()
    except OSError:
        return {}
    found: dict[str, Path] = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if not controllers:
            unified = root / "unified" if (root / "unified").is_dir() else root
            found[""] = unified / relative
        for controller in controllers.split(","):
            if controller and not controller.startswith("name="):
                found[controller] = root / controller / relative
    return found


def usage(pid: int, proc: Path = PROC, root: Path = CGROUP_ROOT) -> Usage | None:
    """The usage of the cgroups `pid` is in; None when the process is gone."""
    dirs = cgroup_dirs(pid, proc, root)
    if not dirs:
        return None
    if "memory" in dirs or "cpuacct" in dirs:
        return _v1(dirs)
    return _v2(dirs[""]) if "" in dirs else None


UNLIMITED_FROM = 2**62
"""A cgroup v1 limit at or above this is "no limit" (the kernel shows PAGE_COUNTER_MAX pages)."""


def usage_at(relative: str, root: Path = CGROUP_ROOT) -> Usage | None:
    """The usage of the cgroup at `relative` (a pod's cgroup parent) in every hierarchy;
    None when it does not exist."""
    relative = relative.strip("/")
    if (root / "memory").is_dir():
        dirs = {
            controller: root / controller / relative
            for controller in ("cpuacct", "memory", "pids")
            if (root / controller / relative).is_dir()
        }
        return _v1(dirs) if dirs else None
    directory = root / relative
    return _v2(directory) if relative and directory.is_dir() else None


def _v1_swap(memory: Path, used: int | None) -> tuple[int | None, int | None]:
    """(swap used, swap left) from memory.memsw.*, which exist only with swap accounting."""
    both = read_number(memory / "memory.memsw.usage_in_bytes")
    if both is None or used is None:
        return None, None
    swapped = max(both - used, 0)
    both_limit = read_number(memory / "memory.memsw.limit_in_bytes")
    memory_limit = read_number(memory / "memory.limit_in_bytes")
    if both_limit is None or memory_limit is None or both_limit >= UNLIMITED_FROM:
        return swapped, None
    return swapped, max(both_limit - memory_limit - swapped, 0)


def _v1(dirs: dict[str, Path]) -> Usage:
    memory = dirs.get("memory")
    stat = read_keyed(memory / "memory.stat") if memory else {}
    used = read_number(memory / "memory.usage_in_bytes") if memory else None
    inactive = stat.get("total_inactive_file", 0)
    swapped, swap_left = _v1_swap(memory, used) if memory else (None, None)
    return Usage(
        cpu_ns=read_number(dirs["cpuacct"] / "cpuacct.usage") if "cpuacct" in dirs else None,
        memory_bytes=used,
        working_set_bytes=max(used - inactive, 0) if used is not None else None,
        rss_bytes=stat.get("total_rss"),
        page_faults=stat.get("total_pgfault"),
        major_page_faults=stat.get("total_pgmajfault"),
        processes=read_number(dirs["pids"] / "pids.current") if "pids" in dirs else None,
        swap_usage_bytes=swapped,
        swap_available_bytes=swap_left,
    )


def _v2(directory: Path) -> Usage:
    cpu = read_keyed(directory / "cpu.stat")
    stat = read_keyed(directory / "memory.stat")
    used = read_number(directory / "memory.current")
    usec = cpu.get("usage_usec")
    swapped = read_number(directory / "memory.swap.current")
    swap_limit = read_number(directory / "memory.swap.max")  # None for "max"
    return Usage(
        cpu_ns=usec * 1000 if usec is not None else None,
        memory_bytes=used,
        working_set_bytes=max(used - stat.get("inactive_file", 0), 0) if used is not None else None,
        rss_bytes=stat.get("anon"),
        page_faults=stat.get("pgfault"),
        major_page_faults=stat.get("pgmajfault"),
        processes=read_number(directory / "pids.current"),
        swap_usage_bytes=swapped,
        swap_available_bytes=max(swap_limit - swapped, 0)
        if swap_limit is not None and swapped is not None
        else None,
    )


def interfaces(pid: int, proc: Path = PROC) -> list[InterfaceCounters]:
    """Counters of every interface but lo in the network namespace of `pid`."""
    return [
        InterfaceCounters(name, fields[0], fields[2], fields[8], fields[10])
        for name, fields in net_dev(pid, proc).items()
        if name != "lo"
    ]


def net_dev(pid: int, proc: Path = PROC) -> dict[str, list[int]]:
    """Interface → the 16 counters of /proc/<pid>/net/dev (receive bytes, packets, errs,
    drop, …, then transmit's), for the network namespace of `pid`."""
    found = {}
    for line in read_lines(proc / str(pid) / "net" / "dev")[2:]:
        name, _, numbers = line.partition(":")
        fields = numbers.split()
        if len(fields) >= 16 and all(f.isdigit() for f in fields):
            found[name.strip()] = [int(f) for f in fields]
    return found


def read_text(path: Path) -> str | None:
    """A cgroup or /proc file, stripped; None when it cannot be read."""
    try:
        return path.read_text().strip()
    except OSError:
        return None


def read_lines(path: Path) -> list[str]:
    text = read_text(path)
    return text.splitlines() if text else []


def read_number(path: Path) -> int | None:
    """A file holding one number; None when missing or not a number ("max")."""
    text = read_text(path)
    return int(text) if text is not None and text.isdigit() else None


def read_keyed(path: Path, separator: str = " ") -> dict[str, int]:
    """`key value` lines (memory.stat, cpu.stat; `key: value` with separator ":")."""
    found = {}
    for line in read_lines(path):
        key, _, value = line.partition(separator)
        if value.strip().isdigit():
            found[key] = int(value)
    return found
