"""Hostile images through the CRI: each one (tests/fixtures/hostile.py) is served by a real
registry, pulled with PullImage, and either refused with a clear status or pulled and run.

After every case nothing may be written outside the store (the `outside` directory the
entries aim at, and /etc, stay as they were), a refused pull leaves the store as it was, a
pulled one goes away with RemoveImage, and ListImages and ImageFsInfo still answer. Then a good
image pulls and runs, a restarted daemon finds the store clean, and no non-root host user can
reach a pulled image's device nodes or setuid binary. One daemon serves the module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cri_api.v1 import api_pb2

from tests.e2e.conftest import outlives_tests
from tests.e2e.node import Node, container_config, mount_points, node
from tests.e2e.test_host_users import NOBODY
from tests.fixtures.hostile import (
    DEVICE_PATHS,
    ESCAPE_NAME,
    Refused,
    Runs,
    case_names,
    hostile_images,
    push_hostile,
)
from tests.fixtures.images import busybox_image, pause_image
from tests.fixtures.registry import Registry

pytestmark = pytest.mark.e2e

if os.geteuid() != 0:
    pytest.skip("unpacking image layers and running containers needs root", allow_module_level=True)

WATCHED = (Path("/etc/shadow"), Path("/etc/passwd"), Path("/etc/group"))


@dataclass
class Hostile:
    """The module's node, its registry, the pod every container runs in, and the images."""

    node: Node
    registry: Registry
    outside: Path
    refs: dict[str, str]
    outcomes: dict[str, Refused | Runs]
    pod_id: str
    pod: api_pb2.PodSandboxConfig
    busybox_ref: str

    @property
    def root(self) -> Path:
        return self.node.daemon.root


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    # The node's directory is reachable by every host user, as /var/lib is: only the
    # daemon's own directory modes may keep them out of its store.
    workdir = Path(tempfile.mkdtemp(prefix="crio-py-hostile-"))
    workdir.chmod(0o755)
    built = tmp_path_factory.mktemp("built")
    outside = tmp_path_factory.mktemp("outside")
    try:
        with Registry() as registry:
            busybox = busybox_image(built)
            busybox_ref = registry.push_image(busybox)
            registry.push_image(pause_image(built))
            images = hostile_images(busybox, outside)
            refs = {name: push_hostile(registry, image) for name, image in images.items()}
            with node(workdir, registry.host) as current:
                pod_id, pod = current.run_pod("hostile")
                yield Hostile(
                    current,
                    registry,
                    outside,
                    refs,
                    {name: image.outcome for name, image in images.items()},
                    pod_id,
                    pod,
                    busybox_ref,
                )
                current.remove_everything()
                assert current.leaks() == []
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _store(root: Path) -> dict[str, list[str]]:
    """What the store holds: blobs, snapshots, image records and pull scratch files."""
    found = {}
    for part in ("content/blobs/sha256", "snapshots", "images", "tmp"):
        directory = root / part
        found[part] = sorted(os.listdir(directory)) if directory.is_dir() else []
    return found


def _host_files() -> dict[str, tuple[int, ...]]:
    watched = {
        str(path): (info.st_ino, info.st_nlink, info.st_size, info.st_mtime_ns, info.st_mode)
        for path in WATCHED
        if (info := path.stat())
    }
    return {**watched, "escapes": tuple(int(p.exists()) for p in _escape_paths())}


def _escape_paths() -> list[Path]:
    return [Path("/etc", ESCAPE_NAME), Path("/", ESCAPE_NAME), Path("/x"), Path("/top")]


def _mounts(hostile: Hostile) -> set[str]:
    """Mount points of this node (other tests on the machine mount elsewhere meanwhile)."""
    return {point for point in mount_points() if point.startswith(str(hostile.node.daemon.workdir))}


def _pull(current: Node, ref: str) -> str:
    request = api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=ref))
    return str(current.images.PullImage(request, timeout=120).image_ref)


def _store_answers(current: Node) -> None:
    current.images.ListImages(api_pb2.ListImagesRequest(), timeout=10)
    usage = current.images.ImageFsInfo(api_pb2.ImageFsInfoRequest(), timeout=10)
    assert [fs.fs_id.mountpoint for fs in usage.image_filesystems] == [str(current.daemon.root)]


def _run(hostile: Hostile, name: str, image_id: str, script: str) -> str:
    """What a container running `script` printed; the container is removed afterwards."""
    current = hostile.node
    config = container_config(name, image_id, command=["/bin/sh", "-c", script])
    container_id = current.create(hostile.pod_id, hostile.pod, config)
    try:
        current.start(container_id)
        deadline = time.monotonic() + 20
        while current.status(container_id).state != api_pb2.CONTAINER_EXITED:
            assert time.monotonic() < deadline, f"container {name} did not exit"
            time.sleep(0.05)
        return _log_text(Path(current.status(container_id).log_path))
    finally:
        current.runtime.RemoveContainer(api_pb2.RemoveContainerRequest(container_id=container_id))


def _log_text(path: Path) -> str:
    """The stdout a CRI log file holds, partial lines joined."""
    text = ""
    for line in path.read_text().splitlines():
        _, stream, tag, content = [*line.split(" ", 3), ""][:4]
        if stream == "stdout":
            text += content + ("" if tag == "P" else "\n")
    return text


@pytest.mark.parametrize("case", case_names())
def test_hostile_image(hostile: Hostile, case: str) -> None:
    current, outcome = hostile.node, hostile.outcomes[case]
    store, host, mounts = _store(hostile.root), _host_files(), _mounts(hostile)
    if isinstance(outcome, Refused):
        with pytest.raises(grpc.RpcError) as caught:
            _pull(current, hostile.refs[case])
        details = str(caught.value.details())
        assert caught.value.code().name == outcome.code, details
        assert outcome.text in details and "Traceback" not in details, details
    else:
        image_id = _pull(current, hostile.refs[case])
        assert _run(hostile, case, image_id, outcome.script) == outcome.output
        current.images.RemoveImage(
            api_pb2.RemoveImageRequest(image=api_pb2.ImageSpec(image=image_id))
        )
        for _ in range(100):  # removed snapshots are deleted just after RemoveImage answers
            if _store(hostile.root) == store:
                break
            time.sleep(0.05)
    assert _store(hostile.root) == store
    assert list(hostile.outside.iterdir()) == []
    assert _host_files() == host
    assert _mounts(hostile) == mounts
    _store_answers(current)


def test_after_hostile_images_a_good_one_runs_and_a_restart_finds_the_store_clean(
    hostile: Hostile,
) -> None:
    current = hostile.node
    image_id = _pull(current, hostile.busybox_ref)
    assert _run(hostile, "good", image_id, "echo fine") == "fine\n"
    store = _store(hostile.root)
    current.daemon.stop()
    current.daemon.start()
    outlives_tests(current.daemon.process.pid if current.daemon.process else -1)
    listed = current.images.ListImages(api_pb2.ListImagesRequest(), timeout=10).images
    assert image_id in {image.id for image in listed}
    assert _store(hostile.root) == store
    assert not [name for name in store["snapshots"] if name.startswith(".")]
    assert store["tmp"] == []
    assert _run(hostile, "after-restart", image_id, "echo again") == "again\n"
    _store_answers(current)


def _as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NOBODY, *argv], capture_output=True, text=True, timeout=10, check=False)


def test_no_host_user_reaches_device_nodes_setuid_binaries_or_blobs(hostile: Hostile) -> None:
    current = hostile.node
    image_id = _pull(current, hostile.refs["devices-and-setuid"])
    config = container_config("holds-rootfs", image_id, command=["/bin/sleep", "60"])
    container_id = current.create(hostile.pod_id, hostile.pod, config)
    try:
        current.start(container_id)
        rootfs = hostile.root / "containers" / container_id / "rootfs"
        lowers = [p.parent for p in (hostile.root / "snapshots").glob("*/fs/evil")]
        blobs = sorted((hostile.root / "content" / "blobs" / "sha256").iterdir())
        targets = [top / path for top in (rootfs, *lowers) for path in DEVICE_PATHS]
        assert lowers and blobs and all(os.path.lexists(path) for path in targets)
        # The control: nobody reaches the root (0711), so only the modes below stop it.
        assert _as_nobody("/bin/busybox", "stat", str(hostile.root)).returncode == 0
        readable = [path for path in targets if path.name != "fifo"]  # opening one would block
        reached = [
            f"{' '.join(argv)}: {result.stdout.strip()}"
            for argv in [
                *(("/bin/busybox", "stat", "-c", "%A", str(path)) for path in targets),
                *(("/bin/busybox", "head", "-c", "1", str(path)) for path in [*readable, *blobs]),
                (str(rootfs / "evil/suid"), "id", "-u"),
                *((str(lower / "evil/suid"), "id", "-u") for lower in lowers),
            ]
            if (result := _as_nobody(*argv)).returncode == 0
        ]
        assert reached == []
    finally:
        current.runtime.StopContainer(
            api_pb2.StopContainerRequest(container_id=container_id, timeout=0)
        )
        current.runtime.RemoveContainer(api_pb2.RemoveContainerRequest(container_id=container_id))
        current.images.RemoveImage(
            api_pb2.RemoveImageRequest(image=api_pb2.ImageSpec(image=image_id))
        )
