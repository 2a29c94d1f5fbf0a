"""Usage from cgroup v1 and v2 files and network counters, on fake /proc and /sys trees."""

from __future__ import annotations

from pathlib import Path

from crio_py.backends import cgroup_stats


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v1(tmp_path: Path) -> None:
    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    _write(
        proc / "42" / "cgroup",
        "12:memory:/k8s.io/c1\n11:cpu,cpuacct:/k8s.io/c1\n10:pids:/k8s.io/c1\n"
        "1:name=systemd:/k8s.io/c1\n0::/k8s.io/c1\n",
    )
    (root / "unified").mkdir(parents=True)
    _write(root / "memory/k8s.io/c1/memory.usage_in_bytes", "1000\n")
    _write(
        root / "memory/k8s.io/c1/memory.stat",
        "total_inactive_file 300\ntotal_rss 600\ntotal_pgfault 7\ntotal_pgmajfault 1\n",
    )
    _write(root / "cpuacct/k8s.io/c1/cpuacct.usage", "123456789\n")
    _write(root / "pids/k8s.io/c1/pids.current", "3\n")
    usage = cgroup_stats.usage(42, proc, root)
    assert usage == cgroup_stats.Usage(
        cpu_ns=123456789,
        memory_bytes=1000,
        working_set_bytes=700,
        rss_bytes=600,
        page_faults=7,
        major_page_faults=1,
        processes=3,
    )
    dirs = cgroup_stats.cgroup_dirs(42, proc, root)
    assert dirs[""] == root / "unified" / "k8s.io/c1" and "name=systemd" not in dirs


def test_cgroup_v2(tmp_path: Path) -> None:
    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    _write(proc / "7" / "cgroup", "0::/kubepods/pod1/c2\n")
    base = root / "kubepods/pod1/c2"
    _write(base / "cpu.stat", "usage_usec 5\nuser_usec 3\n")
    _write(base / "memory.current", "4096\n")
    _write(base / "memory.stat", "anon 1024\ninactive_file 96\npgfault 2\npgmajfault 0\n")
    _write(base / "pids.current", "1\n")
    usage = cgroup_stats.usage(7, proc, root)
    assert usage is not None
    assert (usage.cpu_ns, usage.working_set_bytes, usage.rss_bytes) == (5000, 4000, 1024)


def test_a_gone_process_has_no_usage(tmp_path: Path) -> None:
    assert cgroup_stats.usage(99, tmp_path, tmp_path) is None


def test_interfaces_skip_loopback(tmp_path: Path) -> None:
    _write(
        tmp_path / "5" / "net" / "dev",
        "Inter-|   Receive ...\n face |bytes packets ...\n"
        "    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n"
        "  eth0: 2000 20 3 0 0 0 0 0 1000 10 4 0 0 0 0 0\n",
    )
    assert cgroup_stats.interfaces(5, tmp_path) == [
        cgroup_stats.InterfaceCounters("eth0", 2000, 3, 1000, 4)
    ]
