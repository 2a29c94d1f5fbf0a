"""The image service end to end: the real daemon, skopeo and registries, through the CRI.

Every fixture image is pulled from the plain, TLS and auth registries and its unpacked root
filesystem compared file by file with its layers. Every failure must leave the store exactly
as it was, and no test may leave a mount or a process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cri_api.v1 import api_pb2

from crio_py.backends.snapshotter import OverlaySnapshotter, chain_ids
from tests.fixtures.catalog import PushedImages
from tests.fixtures.daemon import Daemon
from tests.fixtures.http_server import serving
from tests.fixtures.images import BuiltImage, BuiltIndex, expected_rootfs, scan_rootfs
from tests.fixtures.registry import Registry

pytestmark = pytest.mark.e2e

if os.geteuid() != 0:
    pytest.skip("unpacking and mounting image layers needs root", allow_module_level=True)

NAMES = ["busybox", "layered", "configured", "multi"]


def _mounts() -> set[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as stream:
        return {line.split()[4] for line in stream}


@pytest.fixture
def daemon(tmp_path: Path, pushed_images: PushedImages) -> Iterator[Daemon]:
    registries = pushed_images.registries
    crio = Daemon(tmp_path / "crio")
    crio.trust(registries["plain"].host, plain_http=True)
    for name in ("tls", "auth"):
        crio.trust(registries[name].host, ca_file=registries[name].ca_file)
    before = _mounts()
    with crio:
        yield crio
    leaked = {m for m in _mounts() - before if m.startswith(str(tmp_path))}
    assert leaked == set(), "mounts left behind"


def _pull(daemon: Daemon, image: str, auth: api_pb2.AuthConfig | None = None) -> str:
    with daemon.channel() as channel:
        request = api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=image), auth=auth)
        return str(daemon.images(channel).PullImage(request, timeout=120).image_ref)


def _auth(registry: Registry, password: str | None = None) -> api_pb2.AuthConfig:
    return api_pb2.AuthConfig(username=registry.username or "",
                              password=password or registry.password or "")


def _store(daemon: Daemon) -> dict[str, int]:
    """Every file of the store with its size (the pull scratch dir aside)."""
    found = {}
    for directory, _, files in os.walk(daemon.root):
        for name in files:
            path = Path(directory, name)
            if "tmp" not in path.relative_to(daemon.root).parts:
                found[str(path.relative_to(daemon.root))] = path.lstat().st_size
    return found


def _platform_image(built: BuiltImage | BuiltIndex) -> BuiltImage:
    if isinstance(built, BuiltIndex):
        return next(i for p, i in built.platforms.items() if p.startswith("linux/amd64"))
    return built


@pytest.mark.parametrize("registry", ["plain", "tls", "auth"])
@pytest.mark.parametrize("name", NAMES)
def test_pull_unpacks_exactly_the_layers(
    daemon: Daemon, pushed_images: PushedImages, built_images: dict[str, BuiltImage | BuiltIndex],
    registry: str, name: str,
) -> None:
    auth = _auth(pushed_images.registries[registry]) if registry == "auth" else None
    reference = pushed_images.ref(registry, name)
    image_id = _pull(daemon, reference, auth)
    built = built_images[name]
    image = _platform_image(built)
    assert image_id == image.config_digest
    with daemon.channel() as channel:
        status = daemon.images(channel).ImageStatus(
            api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image=reference)), timeout=10)
    assert list(status.image.repo_tags) == [reference]
    repository = reference.rsplit(":", 1)[0]
    assert list(status.image.repo_digests) == [f"{repository}@{built.manifest_digest}"]
    _compare_rootfs(daemon, image)


def _compare_rootfs(daemon: Daemon, image: BuiltImage) -> None:
    snapshotter = OverlaySnapshotter(daemon.root)
    chains = chain_ids([layer.diff_id for layer in image.layers])
    lowers = [daemon.root / "snapshots" / chain[7:] / "fs" for chain in chains]
    rootfs = asyncio.run(snapshotter.mount_rootfs(f"compare-{image.name}", lowers))
    try:
        assert scan_rootfs(rootfs) == expected_rootfs(image.layers)
    finally:
        asyncio.run(snapshotter.unmount_rootfs(f"compare-{image.name}"))


def test_configured_image_reports_its_user(daemon: Daemon, pushed_images: PushedImages) -> None:
    reference = pushed_images.ref("plain", "configured")
    _pull(daemon, reference)
    with daemon.channel() as channel:
        status = daemon.images(channel).ImageStatus(api_pb2.ImageStatusRequest(
            image=api_pb2.ImageSpec(image=reference), verbose=True), timeout=10)
    assert status.image.username == "app"
    assert '"WorkingDir": "/srv"' in status.info["info"]


def _expect_failure(daemon: Daemon, image: str, code: grpc.StatusCode,
                    auth: api_pb2.AuthConfig | None = None) -> str:
    before = _store(daemon)
    with pytest.raises(grpc.RpcError) as caught:
        _pull(daemon, image, auth)
    assert caught.value.code() == code, caught.value.details()
    assert _store(daemon) == before
    return str(caught.value.details())


def test_wrong_credentials(daemon: Daemon, pushed_images: PushedImages) -> None:
    registry = pushed_images.registries["auth"]
    _expect_failure(daemon, pushed_images.ref("auth", "busybox"),
                    grpc.StatusCode.PERMISSION_DENIED, _auth(registry, "wrong"))


def test_unknown_image(daemon: Daemon, pushed_images: PushedImages) -> None:
    host = pushed_images.registries["plain"].host
    _expect_failure(daemon, f"{host}/nothing-here:1", grpc.StatusCode.NOT_FOUND)


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlink", "hardlink"])
def test_malicious_layers_are_refused(daemon: Daemon, pushed_images: PushedImages,
                                      case: str) -> None:
    details = _expect_failure(daemon, pushed_images.ref("plain", f"malicious-{case}"),
                              grpc.StatusCode.INVALID_ARGUMENT)
    assert "layer" in details
    assert not (daemon.workdir.parent / "escape.txt").exists()


class _CorruptingProxy(http.server.BaseHTTPRequestHandler):
    """Forwards to a registry, but flips a byte of every layer blob it serves."""

    upstream = ""
    corrupt: set[str] = set()

    def do_GET(self) -> None:
        self._forward(head=False)

    def do_HEAD(self) -> None:
        self._forward(head=True)

    def _forward(self, *, head: bool) -> None:
        headers = {key: ", ".join(self.headers.get_all(key) or [])
                   for key in set(self.headers.keys()) if key.lower() != "host"}
        request = urllib.request.Request(f"{self.upstream}{self.path}", method=self.command,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, body = error.code, error.headers, error.read()
        if not head and any(self.path.endswith(d) for d in self.corrupt):
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("transfer-encoding", "connection"):
                self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _proxy(upstream: str, corrupt: set[str]) -> Iterator[str]:
    handler = type("Proxy", (_CorruptingProxy,), {"upstream": upstream, "corrupt": corrupt})
    with serving(handler) as address:
        yield address


def test_a_blob_that_does_not_match_its_digest_is_refused(
    daemon: Daemon, pushed_images: PushedImages, built_images: dict[str, BuiltImage | BuiltIndex],
) -> None:
    registry = pushed_images.registries["plain"]
    layer = _platform_image(built_images["busybox"]).layers[0].digest
    with _proxy(registry.url, {layer.removeprefix("sha256:")}) as host:
        daemon.trust(host, plain_http=True)
        _expect_failure(daemon, f"{host}/busybox:1", grpc.StatusCode.DATA_LOSS)


def test_a_registry_killed_in_the_middle_of_a_pull(
    daemon: Daemon, large_image: BuiltImage, tmp_path: Path,
) -> None:
    with Registry() as registry:
        reference = registry.push(large_image.layout, "large", large_image.tag)
        daemon.trust(registry.host, plain_http=True)
        before = _store(daemon)
        killer = threading.Timer(0.4, registry.kill)
        killer.start()
        try:
            with pytest.raises(grpc.RpcError) as caught:
                _pull(daemon, reference)
        finally:
            killer.join()
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value.details()
        assert _store(daemon) == before


def test_identical_pulls_at_once_make_one_download(
    daemon: Daemon, built_images: dict[str, BuiltImage | BuiltIndex], tmp_path: Path,
) -> None:
    image = _platform_image(built_images["layered"])
    with Registry() as registry:
        reference = registry.push(image.layout, "layered", image.tag)
        daemon.trust(registry.host, plain_http=True)
        served_before = registry.log_path.read_text().count("GET /v2/layered/blobs/")
        threads = [threading.Thread(target=_pull, args=(daemon, reference)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        served = registry.log_path.read_text().count("GET /v2/layered/blobs/") - served_before
    # One download: each blob (config and layers) is fetched once, not three times.
    assert 0 < served <= len(image.layers) + 1


def _ctl(daemon: Daemon, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crio_py", "ctl", "-r", f"unix://{daemon.socket}", *argv],
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_ctl_pull_images_inspecti_imagefsinfo_rmi(
    daemon: Daemon, pushed_images: PushedImages, built_images: dict[str, BuiltImage | BuiltIndex],
) -> None:
    reference = pushed_images.ref("plain", "busybox")
    image_id = _platform_image(built_images["busybox"]).config_digest
    pulled = _ctl(daemon, "pull", reference)
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.strip() == f"Image is up to date for {image_id}"
    listed = _ctl(daemon, "images")
    header, row = listed.stdout.splitlines()
    assert header.split() == ["IMAGE", "TAG", "IMAGE", "ID", "SIZE"]
    assert row.split()[:3] == [reference.rsplit(":", 1)[0], "1", image_id[7:20]]
    inspected = json.loads(_ctl(daemon, "inspecti", reference).stdout)
    assert inspected["status"]["id"] == image_id
    usage = json.loads(_ctl(daemon, "imagefsinfo").stdout)
    status = usage["status"]
    first = status["imageFilesystems"][0] if "imageFilesystems" in status else status
    assert int(first["usedBytes"]["value"]) > 0
    removed = _ctl(daemon, "rmi", "--prune")
    assert removed.returncode == 0, removed.stderr
    assert _ctl(daemon, "images", "-q").stdout.strip() == ""
    assert _store_blobs(daemon) == []


def _store_blobs(daemon: Daemon) -> list[str]:
    return sorted(p.name for p in (daemon.root / "content" / "blobs" / "sha256").iterdir())
