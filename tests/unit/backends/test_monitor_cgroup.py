"""conmon's cgroup: the path monitor_cgroup names, its creation in every hierarchy (cpuset
filled from the parent), and its removal once conmon is gone; on a fake cgroup tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from crio_py.backends import monitor_cgroup
from crio_py.errors import InvalidArgumentError

CID = "c" * 64


@pytest.mark.parametrize(
    ("configured", "cgroups_path", "expected"),
    [
        ("", f"/k8s.io/{CID}", ""),
        ("pod", f"/kubepods/besteffort/pod1/{CID}", f"/kubepods/besteffort/pod1/crio-conmon-{CID}"),
        ("pod", f"/k8s.io/{CID}", f"/k8s.io/crio-conmon-{CID}"),
        ("system.slice", f"/k8s.io/{CID}", f"/system.slice/crio-conmon-{CID}"),
        ("/monitors/", f"/k8s.io/{CID}", f"/monitors/crio-conmon-{CID}"),
    ],
)
def test_the_path_follows_the_setting(configured: str, cgroups_path: str, expected: str) -> None:
    assert monitor_cgroup.monitor_cgroup_path(configured, cgroups_path, CID) == expected


def test_pod_with_the_systemd_driver_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="systemd scopes"):
        monitor_cgroup.monitor_cgroup_path("pod", f"kubepods.slice:cri-containerd:{CID}", CID)


def test_a_path_leaving_the_hierarchy_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="not a cgroup path"):
        monitor_cgroup.monitor_cgroup_path("../../etc", f"/k8s.io/{CID}", CID)


def fake_v1(root: Path) -> None:
    for name in ("cpuset", "memory", "systemd"):
        (root / name).mkdir(parents=True)
        (root / name / "cgroup.procs").write_text("")
    (root / "cpuset" / "cpuset.cpus").write_text("0-1\n")
    (root / "cpuset" / "cpuset.mems").write_text("0\n")
    (root / "cpu,cpuacct").mkdir()
    (root / "cpu").symlink_to("cpu,cpuacct")


class FakeKernel:
    """mkdir in a fake hierarchy makes the files the kernel would (cpuset ones empty)."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        real_mkdir = Path.mkdir

        def mkdir(path: Path, *args: object, **kwargs: object) -> None:
            real_mkdir(path, *args, **kwargs)  # type: ignore[arg-type]
            (path / "cgroup.procs").write_text("")
            if path.is_relative_to(root / "cpuset"):
                (path / "cpuset.cpus").write_text("")
                (path / "cpuset.mems").write_text("")

        monkeypatch.setattr(Path, "mkdir", mkdir)


def test_hierarchies_skip_symlinks_and_plain_dirs(tmp_path: Path) -> None:
    fake_v1(tmp_path)
    names = [p.name for p in monitor_cgroup.hierarchies(tmp_path)]
    assert names == ["cpuset", "memory", "systemd"]


def test_place_writes_the_pid_in_every_hierarchy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_v1(tmp_path)
    FakeKernel(tmp_path, monkeypatch)
    path = f"/k8s.io/crio-conmon-{CID}"
    monitor_cgroup.place(4242, path, tmp_path)
    for name in ("cpuset", "memory", "systemd"):
        assert (tmp_path / name / path[1:] / "cgroup.procs").read_text() == "4242"
    assert (tmp_path / "cpuset" / "k8s.io" / "cpuset.cpus").read_text() == "0-1\n"
    assert (tmp_path / "cpuset" / path[1:] / "cpuset.mems").read_text() == "0\n"


async def test_remove_takes_the_cgroup_out_of_every_hierarchy(tmp_path: Path) -> None:
    fake_v1(tmp_path)
    for name in ("cpuset", "memory"):
        (tmp_path / name / "k8s.io" / f"crio-conmon-{CID}").mkdir(parents=True)
    await monitor_cgroup.remove(f"/k8s.io/crio-conmon-{CID}", tmp_path)
    assert not list(tmp_path.glob("*/k8s.io/crio-conmon-*"))
    assert (tmp_path / "memory" / "k8s.io").is_dir()  # the parent is not conmon's


async def test_a_busy_cgroup_is_left_after_the_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake_v1(tmp_path)
    busy = tmp_path / "memory" / f"crio-conmon-{CID}"
    busy.mkdir()

    def rmdir(path: object) -> None:
        raise OSError(16, "Device or resource busy")

    monkeypatch.setattr(monitor_cgroup.os, "rmdir", rmdir)
    await monitor_cgroup.remove(f"/crio-conmon-{CID}", tmp_path, wait_s=0.0)
    assert busy.is_dir()
    assert "still in use" in caplog.text
