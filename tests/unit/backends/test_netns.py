"""Pinned namespaces: the exact unshare/umount argv, the pin layout, validation, and cleanup
on failure. Mounts are faked: the module's view of mountinfo is replaced."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_subprocess import FakeProcess

from crio_py.backends import netns
from crio_py.errors import AlreadyExistsError, InvalidArgumentError, UnavailableError

SID = "b" * 64


class FakeMounts:
    """Stands in for /proc/self/mountinfo and umount(2): unmounting a path removes it, unless
    the path is `busy`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.points: list[str] = []
        self.unmounted: list[Path] = []
        self.busy: set[Path] = set()
        monkeypatch.setattr(netns, "_mount_points", lambda: set(self.points))
        monkeypatch.setattr(netns.mountapi, "unmount", self._unmount)

    def mount(self, path: Path) -> None:
        self.points.append(str(path))

    def _unmount(self, path: Path) -> None:
        self.unmounted.append(path)
        if path in self.busy:
            raise UnavailableError(f"unmount {path}: Device or resource busy")
        self.points.remove(str(path))


@pytest.fixture
def mounts(monkeypatch: pytest.MonkeyPatch) -> FakeMounts:
    return FakeMounts(monkeypatch)


def test_namespace_paths_follow_cri_o_layout(tmp_path: Path) -> None:
    assert netns.namespace_paths(tmp_path, SID) == {
        "net": tmp_path / "netns" / SID,
        "ipc": tmp_path / "ipcns" / SID,
        "uts": tmp_path / "utsns" / SID,
    }
    assert netns.namespace_paths(tmp_path, SID, ("uts",)) == {"uts": tmp_path / "utsns" / SID}
    assert {netns.OCI_TYPES[k] for k in netns.DEFAULT_KINDS} == {"network", "ipc", "uts"}


async def test_create_runs_unshare_once_and_sets_the_hostname(
    fp: FakeProcess, mounts: FakeMounts, tmp_path: Path
) -> None:
    paths = netns.namespace_paths(tmp_path, SID)
    fp.register(["unshare", f"--net={paths['net']}", f"--ipc={paths['ipc']}",
                 f"--uts={paths['uts']}", "hostname", "web-0"])
    assert await netns.create_namespaces(tmp_path, SID, hostname="web-0") == paths
    assert all(path.is_file() for path in paths.values())  # the bind mount targets
    assert len(fp.calls) == 1


async def test_create_without_a_hostname_runs_true(
    fp: FakeProcess, mounts: FakeMounts, tmp_path: Path
) -> None:
    pin = tmp_path / "netns" / SID
    fp.register(["unshare", f"--net={pin}", "true"])
    assert await netns.create_namespaces(tmp_path, SID, kinds=("net",)) == {"net": pin}


@pytest.mark.parametrize(
    ("sandbox_id", "kinds", "hostname", "message"),
    [
        ("../etc", ("net",), None, "invalid sandbox id"),
        ("", ("net",), None, "invalid sandbox id"),
        (SID, ("pid",), None, "cannot pin namespace kind pid"),
        (SID, (), None, "no namespace kind"),
        (SID, ("net",), "web", "needs a new UTS namespace"),
        (SID, ("uts",), "-rf", "invalid hostname"),
        (SID, ("uts",), "a b", "invalid hostname"),
        (SID, ("uts",), "x" * 65, "invalid hostname"),
    ],
)
async def test_invalid_requests_run_nothing(
    fp: FakeProcess, mounts: FakeMounts, tmp_path: Path, sandbox_id: str,
    kinds: tuple[str, ...], hostname: str | None, message: str,
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        await netns.create_namespaces(tmp_path, sandbox_id, kinds, hostname)
    assert len(fp.calls) == 0


async def test_an_existing_pin_is_not_mounted_over(
    fp: FakeProcess, mounts: FakeMounts, tmp_path: Path
) -> None:
    mounts.mount(tmp_path / "utsns" / SID)
    with pytest.raises(AlreadyExistsError, match=f"sandbox {SID} already has"):
        await netns.create_namespaces(tmp_path, SID)
    assert len(fp.calls) == 0


async def test_a_failed_unshare_leaves_no_pin(
    fp: FakeProcess, mounts: FakeMounts, tmp_path: Path
) -> None:
    paths = netns.namespace_paths(tmp_path, SID, ("net", "uts"))
    fp.register(["unshare", fp.any()], returncode=1,
                stderr="unshare: mount /proc/1/ns/net on x failed: Permission denied\n")
    with pytest.raises(UnavailableError, match="Permission denied"):
        await netns.create_namespaces(tmp_path, SID, ("net", "uts"))
    assert not any(path.exists() for path in paths.values())


async def test_remove_unmounts_deletes_and_is_idempotent(
    fp: FakeProcess, mounts: FakeMounts, tmp_path: Path
) -> None:
    paths = netns.namespace_paths(tmp_path, SID)
    for path in paths.values():
        path.parent.mkdir()
        path.touch()
        mounts.mount(path)
    mounts.mount(paths["net"])  # pinned twice: unmounted twice
    await netns.remove_namespaces(paths)
    assert len(mounts.unmounted) == 4
    assert mounts.points == []
    assert not any(path.exists() for path in paths.values())
    await netns.remove_namespaces(list(paths.values()))  # already gone: nothing to do
    assert len(mounts.unmounted) == 4


async def test_a_failed_unmount_is_reported(
    fp: FakeProcess, mounts: FakeMounts, tmp_path: Path
) -> None:
    pin = tmp_path / "netns" / SID
    mounts.mount(pin)
    mounts.busy.add(pin)
    with pytest.raises(UnavailableError, match=r"could not unmount namespace pin .*busy"):
        await netns.remove_namespaces({"net": pin})


def test_is_pinned(mounts: FakeMounts, tmp_path: Path) -> None:
    pin = tmp_path / "netns" / SID
    assert not netns.is_pinned(pin)
    mounts.mount(pin)
    assert netns.is_pinned(pin)


def test_parse_mountinfo_decodes_escapes() -> None:
    text = (
        "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
        "45 27 0:4 net:[4026532179] /run/my\\040pins/netns/x rw - nsfs nsfs rw\n"
    )
    assert netns.parse_mountinfo(text) == {"/proc", "/run/my pins/netns/x"}
