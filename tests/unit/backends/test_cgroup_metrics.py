"""The counters of the CRI metrics RPCs from cgroup v1 and v2 files, the processes in them and
a network namespace, on fake /proc and /sys trees."""

from __future__ import annotations

from pathlib import Path

from crio_py.backends import cgroup_metrics

NET_DEV = (
    "Inter-|   Receive ...\n face |bytes packets ...\n"
    "    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n"
    "  eth0: 2000 20 3 4 0 0 0 0 1000 10 5 6 0 0 0 0\n"
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _process(proc: Path, pid: int, *, fds: dict[str, str], threads: int) -> None:
    (proc / str(pid) / "fd").mkdir(parents=True)
    for name, target in fds.items():
        (proc / str(pid) / "fd" / name).symlink_to(target)
    _write(proc / str(pid) / "status", f"Name:\tsh\nThreads:\t{threads}\n")


def test_cgroup_v1(tmp_path: Path) -> None:
    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    _write(
        proc / "42" / "cgroup",
        "8:pids:/c1\n7:blkio:/c1\n4:memory:/c1\n2:cpuacct:/c1\n1:cpu:/c1\n0::/c1\n",
    )
    _write(root / "cpuacct/c1/cpuacct.usage", "3500000000\n")
    _write(root / "cpuacct/c1/cpuacct.usage_user", "2000000000\n")
    _write(root / "cpuacct/c1/cpuacct.usage_sys", "1500000000\n")
    _write(root / "cpu/c1/cpu.stat", "nr_periods 10\nnr_throttled 4\nthrottled_time 2000000000\n")
    memory = root / "memory/c1"
    _write(memory / "memory.usage_in_bytes", "1000\n")
    _write(memory / "memory.memsw.usage_in_bytes", "1200\n")
    _write(memory / "memory.max_usage_in_bytes", "1500\n")
    _write(memory / "memory.failcnt", "2\n")
    _write(memory / "memory.kmem.usage_in_bytes", "64\n")
    _write(memory / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    _write(
        memory / "memory.stat",
        "total_cache 100\ntotal_rss 600\ntotal_mapped_file 50\ntotal_inactive_file 300\n"
        "total_pgfault 7\ntotal_pgmajfault 1\n",
    )
    _write(root / "pids/c1/pids.current", "2\n")
    _write(root / "pids/c1/pids.max", "max\n")
    _write(root / "pids/c1/cgroup.procs", "42\n43\n")
    _write(
        root / "blkio/c1/blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n",
    )
    _write(root / "blkio/c1/blkio.throttle.io_serviced_recursive", "8:0 Read 1\n8:0 Write 2\n")
    _process(proc, 42, fds={"0": "/dev/null", "3": "socket:[77]"}, threads=1)
    _process(proc, 43, fds={"0": "/dev/null"}, threads=3)

    sample = cgroup_metrics.container_sample(42, proc, root)
    assert sample is not None
    assert sample.values == {
        "container_cpu_usage_seconds_total": 3,
        "container_cpu_user_seconds_total": 2,
        "container_cpu_system_seconds_total": 1,
        "container_cpu_cfs_periods_total": 10,
        "container_cpu_cfs_throttled_periods_total": 4,
        "container_cpu_cfs_throttled_seconds_total": 2,
        "container_memory_usage_bytes": 1000,
        "container_memory_working_set_bytes": 700,
        "container_memory_max_usage_bytes": 1500,
        "container_memory_failcnt": 2,
        "container_memory_cache": 100,
        "container_memory_rss": 600,
        "container_memory_mapped_file": 50,
        "container_memory_kernel_usage": 64,
        "container_memory_swap": 200,
        "container_oom_events_total": 1,
        "container_processes": 2,
        "container_threads_max": 0,
        "container_file_descriptors": 3,
        "container_sockets": 1,
        "container_threads": 4,
    }
    assert sample.labelled["container_memory_failures_total"] == [
        (("pgfault", "container"), 7),
        (("pgmajfault", "container"), 1),
    ]
    assert sample.labelled["container_blkio_device_usage_total"] == [
        (("8:0", "8", "0", "read"), 4096),
        (("8:0", "8", "0", "write"), 8192),
    ]
    assert sample.labelled["container_fs_writes_total"] == [(("8:0",), 2)]


def test_cgroup_v2(tmp_path: Path) -> None:
    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    _write(proc / "7" / "cgroup", "0::/pod1/c2\n")
    base = root / "pod1/c2"
    _write(base / "cpu.stat", "usage_usec 5000000\nuser_usec 3000000\nsystem_usec 2000000\n"
           "nr_periods 3\nnr_throttled 1\nthrottled_usec 1500000\n")  # fmt: skip
    _write(base / "memory.current", "4096\n")
    _write(base / "memory.peak", "8192\n")
    _write(base / "memory.swap.current", "0\n")
    _write(base / "memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n")
    _write(base / "memory.stat", "anon 1024\nfile 2048\nfile_mapped 16\nkernel 32\n"
           "inactive_file 96\npgfault 2\npgmajfault 0\n")  # fmt: skip
    _write(base / "pids.current", "1\n")
    _write(base / "pids.max", "512\n")
    _write(base / "cgroup.procs", "7\n")
    _write(base / "io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n")
    _process(proc, 7, fds={"0": "/dev/null"}, threads=2)

    sample = cgroup_metrics.container_sample(7, proc, root)
    assert sample is not None
    values = sample.values
    assert values["container_cpu_usage_seconds_total"] == 5
    assert values["container_cpu_cfs_throttled_seconds_total"] == 1
    assert values["container_memory_working_set_bytes"] == 4000
    assert values["container_memory_max_usage_bytes"] == 8192
    assert values["container_memory_failcnt"] == 5
    assert values["container_memory_kernel_usage"] == 32
    assert values["container_threads_max"] == 512
    assert sample.labelled["container_fs_reads_bytes_total"] == [(("8:0",), 10)]
    assert "container_blkio_device_usage_total" not in sample.labelled  # v1 only


def test_a_gone_process_has_no_sample(tmp_path: Path) -> None:
    assert cgroup_metrics.container_sample(99, tmp_path, tmp_path) is None


def test_network_counters_of_every_interface(tmp_path: Path) -> None:
    _write(tmp_path / "5" / "net" / "dev", NET_DEV)
    found = cgroup_metrics.network_sample(5, tmp_path)
    assert set(found) == {"lo", "eth0"}
    assert found["eth0"] == {
        "container_network_receive_bytes_total": 2000,
        "container_network_receive_packets_total": 20,
        "container_network_receive_errors_total": 3,
        "container_network_receive_packets_dropped_total": 4,
        "container_network_transmit_bytes_total": 1000,
        "container_network_transmit_packets_total": 10,
        "container_network_transmit_errors_total": 5,
        "container_network_transmit_packets_dropped_total": 6,
    }
