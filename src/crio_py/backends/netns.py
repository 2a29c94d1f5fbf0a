"""Pinned namespaces for a sandbox: new network, IPC and UTS namespaces that outlive the
process that made them, because each one is bind-mounted onto a file under `pin_dir`.

This is what CRI-O's `pinns` and iproute2's `ip netns add` do. Here one run of util-linux
`unshare --net=FILE --ipc=FILE --uts=FILE CMD` creates the namespaces and pins them; CMD is
`hostname NAME` (run inside the new UTS namespace) or `true`, so no process is left running
afterwards. The pins live at `pin_dir/netns/<sandbox id>`, `pin_dir/ipcns/<sandbox id>` and
`pin_dir/utsns/<sandbox id>`, CRI-O's layout; a runtime joins them by path (OCI
`linux.namespaces[].path`) and a CNI plugin gets the netns pin as CNI_NETNS.

`pin_dir` is used as it is: pinning net, IPC and UTS namespaces works whether its mount is
private or shared (only a pinned *mount* namespace needs a non-shared mount), so it is not
turned into a bind mount of itself.

Bringing `lo` up inside the network namespace is left to the CNI loopback plugin. Child
processes start only through `_exec`; this module never parses a tool's output beyond
/proc/self/mountinfo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from crio_py.backends import _exec, mountapi
from crio_py.errors import (
    AlreadyExistsError,
    CrioPyError,
    InvalidArgumentError,
    UnavailableError,
    quote,
)

logger = logging.getLogger(__name__)

# Namespace kind (unshare's option name) → the directory under pin_dir that holds its pins.
PIN_DIRS: Mapping[str, str] = {
    "net": "netns", "ipc": "ipcns", "uts": "utsns", "user": "userns",
}  # fmt: skip
# Namespace kind → its name in an OCI runtime spec (`linux.namespaces[].type`).
OCI_TYPES: Mapping[str, str] = {"net": "network", "ipc": "ipc", "uts": "uts", "user": "user"}
DEFAULT_KINDS = ("net", "ipc", "uts")

UNSHARE = "unshare"
TIMEOUT_S = 30.0

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# sethostname(2) takes at most 64 bytes; a leading "-" would read as an option.
_HOSTNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_MOUNTINFO_ESCAPE = re.compile(r"\\([0-7]{3})")


def namespace_paths(
    pin_dir: Path, sandbox_id: str, kinds: Sequence[str] = DEFAULT_KINDS
) -> dict[str, Path]:
    """Where the pins of `sandbox_id` are (or would be), by kind; for recovery after a
    restart, check them with `is_pinned`."""
    _check_id(sandbox_id)
    unknown = [kind for kind in kinds if kind not in PIN_DIRS]
    if unknown:
        raise InvalidArgumentError(
            f"cannot pin namespace kind {', '.join(unknown)}; pinnable kinds: {', '.join(PIN_DIRS)}"
        )
    return {kind: pin_dir / PIN_DIRS[kind] / sandbox_id for kind in kinds}


@dataclass(frozen=True)
class IdMap:
    """One line of a user namespace's uid_map or gid_map."""

    container_id: int
    host_id: int
    size: int

    def line(self) -> str:
        return f"{self.container_id} {self.host_id} {self.size}\n"


@dataclass(frozen=True)
class IdMaps:
    """The uid and gid mappings of a pod's user namespace."""

    uids: IdMap
    gids: IdMap


async def create_namespaces(
    pin_dir: Path,
    sandbox_id: str,
    kinds: Sequence[str] = DEFAULT_KINDS,
    hostname: str | None = None,
    id_maps: IdMaps | None = None,
) -> dict[str, Path]:
    """Create new namespaces of `kinds` for a sandbox, pinned under `pin_dir`; set the
    hostname inside the new UTS namespace when `hostname` is given. With `id_maps` (`kinds`
    then holds "user"), the others are made inside the new user namespace, which owns them,
    as CRI-O's pinns does.

    Raises AlreadyExistsError when the sandbox already has a pinned namespace,
    InvalidArgumentError for a bad id, kind or hostname, and UnavailableError when unshare
    fails; on failure nothing is left pinned.
    """
    paths = namespace_paths(pin_dir, sandbox_id, kinds)
    if not paths:
        raise InvalidArgumentError("no namespace kind to create")
    if hostname is not None:
        if "uts" not in paths:
            raise InvalidArgumentError("a hostname needs a new UTS namespace")
        if not _HOSTNAME.match(hostname):
            raise InvalidArgumentError(f"invalid hostname {quote(hostname)}")
    mounted = _mount_points()
    taken = [str(path) for path in paths.values() if _key(path) in mounted]
    if taken:
        raise AlreadyExistsError(
            f"sandbox {sandbox_id} already has pinned namespaces: {', '.join(taken)}"
        )
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        # The bind mount needs an existing file to cover; iproute2 creates it the same way.
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o444))
    try:
        if id_maps is not None:
            await _create_in_userns(paths, hostname, id_maps)
        else:
            command = ["hostname", hostname] if hostname is not None else ["true"]
            argv = [UNSHARE, *(f"--{kind}={path}" for kind, path in paths.items()), *command]
            await _exec.run(argv, timeout_s=TIMEOUT_S)
    except CrioPyError as exc:
        await remove_namespaces(paths)
        raise UnavailableError(
            f"could not create namespaces for sandbox {sandbox_id}: {exc}"
        ) from exc
    logger.debug("Pinned namespaces %s of sandbox %s", ", ".join(paths), sandbox_id)
    return paths


async def _create_in_userns(paths: Mapping[str, Path], hostname: str | None, maps: IdMaps) -> None:
    """unshare(1) cannot write an arbitrary mapping without newuidmap: a child unshares the
    namespaces and waits while we, root in the parent namespace, write its maps, set the
    hostname and pin each namespace of it."""
    flags = [f"--{kind}" for kind in paths]
    argv = [UNSHARE, *flags, "--", "sh", "-c", "echo ready; exec sleep 600"]
    child = await _exec.spawn(argv, stdout=asyncio.subprocess.PIPE)
    try:
        assert child.stdout is not None
        async with asyncio.timeout(TIMEOUT_S):
            ready = await child.stdout.readline()
        if not ready:
            assert child.stderr is not None
            said = (await child.stderr.read()).decode("utf-8", "replace").strip()
            raise UnavailableError(f"unshare could not create a user namespace: {said}")
        proc = Path(f"/proc/{child.pid}")
        (proc / "uid_map").write_text(maps.uids.line())
        (proc / "gid_map").write_text(maps.gids.line())
        if hostname is not None:
            await _exec.run(
                ["nsenter", "-t", str(child.pid), "-u", "hostname", hostname], timeout_s=TIMEOUT_S
            )
        for kind, path in paths.items():
            mountapi.clone_tree(proc / "ns" / kind, path, recursive=False)
    except (OSError, TimeoutError) as exc:
        raise UnavailableError(f"could not set up the user namespace: {exc}") from exc
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()


async def probe_idmap(scratch_dir: Path) -> bool:
    """Whether a user namespace can be pinned here and mounts in `scratch_dir` idmapped
    through it (what a pod with a user namespace needs)."""
    maps = IdMaps(IdMap(0, 65536, 65536), IdMap(0, 65536, 65536))
    pin_dir = scratch_dir / "userns-probe"
    target = scratch_dir / "idmap-probe"
    await remove_namespaces(namespace_paths(pin_dir, "probe", ["user"]))  # a crashed probe's
    try:
        paths = await create_namespaces(pin_dir, "probe", ["user"], None, maps)
    except CrioPyError as exc:
        logger.info("User namespaces are not available: %s", exc)
        return False
    try:
        target.mkdir(parents=True, exist_ok=True)
        mountapi.clone_tree(target, target, recursive=False, userns_path=paths["user"])
        mountapi.detach(target)
        return True
    except CrioPyError as exc:
        logger.info("Idmapped mounts are not available in %s: %s", scratch_dir, exc)
        return False
    finally:
        await remove_namespaces(paths)
        shutil.rmtree(pin_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            target.rmdir()


async def remove_namespaces(paths: Mapping[str, Path] | Iterable[Path]) -> None:
    """Unmount and delete namespace pins; a pin that is already gone is fine. The namespace
    itself disappears once nothing else (a process, another mount) holds it."""
    targets = list(paths.values()) if isinstance(paths, Mapping) else list(paths)
    for path in targets:
        await _unmount_all(path, "namespace pin")
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise UnavailableError(f"could not remove namespace pin {path}: {exc}") from exc


DEFAULT_SHM_SIZE = 64 * 1024 * 1024
"""A pod's /dev/shm: 64 MiB, as both containerd and CRI-O size it."""


async def mount_shm(path: Path, size_bytes: int = DEFAULT_SHM_SIZE) -> None:
    """Mount a sized tmpfs on `path` for the pod's containers to share as /dev/shm."""
    path.mkdir(parents=True, exist_ok=True, mode=0o755)
    if _key(path) in _mount_points():
        return
    flags = mountapi.MS_NOSUID | mountapi.MS_NODEV | mountapi.MS_NOEXEC
    try:
        await asyncio.to_thread(
            mountapi.mount, "shm", path, "tmpfs", f"mode=1777,size={size_bytes}", flags
        )
    except CrioPyError as exc:
        raise UnavailableError(f"could not mount the pod's /dev/shm on {path}: {exc}") from exc


async def unmount_shm(path: Path) -> None:
    """Unmount and remove a pod's /dev/shm; a missing one is fine."""
    await _unmount_all(path, "pod /dev/shm")
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise UnavailableError(f"could not remove {path}: {exc}") from exc


async def _unmount_all(path: Path, what: str) -> None:
    """Unmount `path` until nothing is mounted there: a path mounted twice (by a crash
    between two attempts) needs two unmounts."""
    while _key(path) in _mount_points():
        try:
            await asyncio.to_thread(mountapi.unmount, path)
        except CrioPyError as exc:
            raise UnavailableError(f"could not unmount {what} {path}: {exc}") from exc


def is_pinned(path: Path) -> bool:
    """Whether a namespace is mounted on `path`."""
    return _key(path) in _mount_points()


def _check_id(sandbox_id: str) -> None:
    if not _ID.match(sandbox_id):
        raise InvalidArgumentError(f"invalid sandbox id {quote(sandbox_id)} for a namespace pin")


def _key(path: Path) -> str:
    """`path` as mountinfo spells it: absolute, with symbolic links in its directory resolved."""
    return os.path.join(os.path.realpath(path.parent), path.name)


def _mount_points() -> set[str]:
    """Every mount point of this process's mount namespace."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as stream:
        return parse_mountinfo(stream.read())


def parse_mountinfo(text: str) -> set[str]:
    """The mount points (field 5) of a mountinfo text, with the kernel's octal escapes
    (`\\040` for a space) decoded."""
    return {
        _MOUNTINFO_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), line.split(" ")[4])
        for line in text.splitlines()
        if line.strip()
    }
