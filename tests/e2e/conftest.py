"""End-to-end fixtures: local registries with every test image pushed, and a check that no
test leaves a process behind.

Session-scoped (started once, stopped at the end of the session):
    plain_registry, tls_registry, auth_registry  -- tests.fixtures.registry.Registry
    built_images      -- {"busybox": BuiltImage, ..., "multi": BuiltIndex, "malicious-dotdot": ...}
    pushed_images     -- PushedImages: pushed_images.ref("auth", "layered") -> "HOST/layered:1"
    large_image       -- BuiltImage of random data (CRIO_PY_LARGE_IMAGE_MB, default 200 MiB)
    large_image_ref   -- large_image pushed to plain_registry as large:1 (only when asked for)

Tests that kill or restart a registry should start their own Registry, not use these.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.node import Node, node
from tests.fixtures.catalog import PushedImages, build_catalog, push_catalog
from tests.fixtures.images import BuiltImage, BuiltIndex
from tests.fixtures.images import large_image as build_large_image
from tests.fixtures.procs import Process, descendants
from tests.fixtures.registry import Registry

REGISTRY_TOOLS = ("docker-registry", "skopeo", "openssl", "htpasswd")
LEAK_GRACE_S = 2.0

# The processes of session fixtures: they outlive the test that first asks for them.
_session_pids: set[int] = set()


def _serve(*, tls: bool, auth: bool) -> Iterator[Registry]:
    missing = [tool for tool in REGISTRY_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"registry fixtures need {', '.join(missing)}")
    with Registry(tls=tls, auth=auth) as registry:
        assert registry.pid is not None
        pid = registry.pid
        _session_pids.add(pid)
        yield registry
        _session_pids.discard(pid)


@pytest.fixture(scope="session")
def plain_registry() -> Iterator[Registry]:
    """A registry over plain HTTP (clients need --tls-verify=false)."""
    yield from _serve(tls=False, auth=False)


@pytest.fixture(scope="session")
def tls_registry() -> Iterator[Registry]:
    """A registry over HTTPS with its own CA (`ca_file`, `cert_dir`)."""
    yield from _serve(tls=True, auth=False)


@pytest.fixture(scope="session")
def auth_registry() -> Iterator[Registry]:
    """A registry over HTTPS that wants basic auth (`username`, `password`)."""
    yield from _serve(tls=True, auth=True)


@pytest.fixture(scope="session")
def built_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltImage | BuiltIndex]:
    """Every standard test image as an OCI layout, by repository name."""
    return build_catalog(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="session")
def pushed_images(
    plain_registry: Registry,
    tls_registry: Registry,
    auth_registry: Registry,
    built_images: dict[str, BuiltImage | BuiltIndex],
) -> PushedImages:
    """built_images pushed to all three registries, each as NAME:1."""
    registries = {"plain": plain_registry, "tls": tls_registry, "auth": auth_registry}
    return push_catalog(registries, built_images)


@pytest.fixture(scope="session")
def large_image(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    """Four uncompressed layers of random data, CRIO_PY_LARGE_IMAGE_MB MiB in all."""
    total_mb = int(os.environ.get("CRIO_PY_LARGE_IMAGE_MB", "200"))
    return build_large_image(tmp_path_factory.mktemp("large"), total_mb=total_mb)


@pytest.fixture(scope="session")
def large_image_ref(plain_registry: Registry, large_image: BuiltImage) -> str:
    """large_image pushed to plain_registry: "HOST/large:1"."""
    return plain_registry.push_image(large_image)


def outlives_tests(pid: int) -> None:
    """Marks the process of a module-scoped fixture that a test restarted (a daemon) as
    not leaked by that test; the fixture stops it."""
    _session_pids.add(pid)


def _leftovers(before: set[int]) -> list[Process]:
    """Running descendants of this process that were not there before the test."""
    return [
        process
        for pid, process in descendants(os.getpid()).items()
        if pid not in before and pid not in _session_pids and process.running
    ]


@pytest.fixture(autouse=True)
def no_leaked_processes() -> Iterator[None]:
    """Fails the test if it leaves a child process (or a child's child) running; kills those."""
    before = set(descendants(os.getpid()))
    yield
    deadline = time.monotonic() + LEAK_GRACE_S
    leaked = _leftovers(before)
    while leaked and time.monotonic() < deadline:  # a process being stopped may need a moment
        time.sleep(0.05)
        leaked = _leftovers(before)
    if not leaked:
        return
    report = "\n".join(f"  pid {p.pid} (parent {p.ppid}): {p.cmdline()}" for p in leaked)
    for process in leaked:
        with contextlib.suppress(ProcessLookupError):  # it may have exited meanwhile
            os.kill(process.pid, signal.SIGKILL)
    pytest.fail(f"the test left processes running (now killed):\n{report}", pytrace=False)



@pytest.fixture
def searchable_tmp(tmp_path: Path) -> Iterator[None]:
    """pytest's temporary dirs are 0700: a pod root that is not host root could not reach
    its rootfs below them. Opened (0711) for the test, as /var/lib is, then closed again."""
    above = [tmp_path, *tmp_path.parents]
    closed = [p for p in above if p != Path("/") and not p.stat().st_mode & 0o001]
    modes = {p: p.stat().st_mode & 0o7777 for p in closed}
    for path, mode in modes.items():
        path.chmod(mode | 0o711)
    try:
        yield
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


@pytest.fixture
def cluster(tmp_path: Path, pushed_images: PushedImages) -> Iterator[Node]:
    """A daemon with a CNI network of its own, busybox and configured pulled; afterwards
    nothing of its pods may be left (mounts, pins, cgroups, processes)."""
    with node(tmp_path, pushed_images.registries["plain"].host) as current:
        current.busybox = current.pull(pushed_images.ref("plain", "busybox"))
        current.configured = current.pull(pushed_images.ref("plain", "configured"))
        yield current
        current.remove_everything()
        assert current.leaks() == []
