"""A pod's usage from its cgroup parent, and swap from memory.memsw.* (v1) or
memory.swap.* (v2), on fake /sys trees."""

from __future__ import annotations

from pathlib import Path

from crio_py.backends import cgroup_stats


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _v1_pod(root: Path, relative: str = "kubepods/pod1") -> Path:
    memory = root / "memory" / relative
    _write(memory / "memory.usage_in_bytes", "1000\n")
    _write(memory / "memory.limit_in_bytes", "4000\n")
    _write(memory / "memory.stat", "total_inactive_file 100\ntotal_rss 500\n")
    _write(root / "cpuacct" / relative / "cpuacct.usage", "777\n")
    _write(root / "pids" / relative / "pids.current", "4\n")
    return memory


def _with_swap(root: Path, used: str, limit: str) -> cgroup_stats.Usage:
    memory = _v1_pod(root)
    _write(memory / "memory.memsw.usage_in_bytes", used)
    _write(memory / "memory.memsw.limit_in_bytes", limit)
    usage = cgroup_stats.usage_at("/kubepods/pod1", root)
    assert usage is not None
    return usage


def test_a_v1_pod_cgroup_with_swap_accounting(tmp_path: Path) -> None:
    usage = _with_swap(tmp_path, "1300\n", "5000\n")
    assert (usage.cpu_ns, usage.memory_bytes, usage.working_set_bytes) == (777, 1000, 900)
    assert usage.processes == 4
    assert (usage.swap_usage_bytes, usage.swap_available_bytes) == (300, 700)


def test_unlimited_swap_has_no_available_figure(tmp_path: Path) -> None:
    usage = _with_swap(tmp_path, "1000\n", "9223372036854771712\n")
    assert (usage.swap_usage_bytes, usage.swap_available_bytes) == (0, None)


def test_no_swap_accounting_means_no_swap(tmp_path: Path) -> None:
    _v1_pod(tmp_path)
    usage = cgroup_stats.usage_at("kubepods/pod1", tmp_path)
    assert usage is not None
    assert (usage.swap_usage_bytes, usage.swap_available_bytes) == (None, None)


def test_a_missing_pod_cgroup_has_no_usage(tmp_path: Path) -> None:
    _v1_pod(tmp_path)
    assert cgroup_stats.usage_at("kubepods/pod2", tmp_path) is None
    assert cgroup_stats.usage_at("kubepods/pod2", tmp_path / "v2") is None


def test_a_v2_pod_cgroup_with_swap(tmp_path: Path) -> None:
    base = tmp_path / "kubepods.slice/pod1.slice"
    _write(base / "cpu.stat", "usage_usec 9\n")
    _write(base / "memory.current", "2048\n")
    _write(base / "memory.swap.current", "100\n")
    _write(base / "memory.swap.max", "1000\n")
    usage = cgroup_stats.usage_at("kubepods.slice/pod1.slice", tmp_path)
    assert usage is not None
    assert (usage.cpu_ns, usage.memory_bytes) == (9000, 2048)
    assert (usage.swap_usage_bytes, usage.swap_available_bytes) == (100, 900)
