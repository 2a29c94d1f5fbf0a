"""The end-to-end fixtures themselves: registries, test images, the process-leak check."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.catalog import IMAGE_NAMES, PushedImages
from tests.fixtures.images import (
    MEDIA_INDEX,
    MEDIA_LAYER_GZIP,
    MEDIA_LAYER_TAR,
    OPAQUE_MARKER,
    PATH_ENV,
    WHITEOUT_PREFIX,
    BuiltImage,
    BuiltIndex,
    FileInfo,
    FileType,
    busybox_image,
    expected_rootfs,
    host_arch,
    large_image,
    layered_image,
    malicious_layers,
    scan_rootfs,
)
from tests.fixtures.procs import descendants
from tests.fixtures.registry import Registry, RegistryError

pytestmark = pytest.mark.e2e

REGISTRIES = ("plain", "tls", "auth")


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=60)


def inspect_raw(registry: Registry, ref: str, *extra: str) -> bytes:
    result = skopeo("inspect", "--raw", *extra, *registry.skopeo_flags(), f"docker://{ref}")
    assert result.returncode == 0, result.stderr
    return result.stdout.encode()


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def process_exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


@pytest.mark.parametrize("name", IMAGE_NAMES)
@pytest.mark.parametrize("variant", REGISTRIES)
def test_every_image_is_in_every_registry_unchanged(
    pushed_images: PushedImages, variant: str, name: str
) -> None:
    registry = pushed_images.registries[variant]
    image = pushed_images.images[name]
    ref = pushed_images.ref(variant, name)
    assert ref == f"{registry.host}/{name}:1"
    assert sha256(inspect_raw(registry, ref)) == image.manifest_digest
    if isinstance(image, BuiltImage):
        assert sha256(inspect_raw(registry, ref, "--config")) == image.config_digest


def test_push_returns_the_reference(plain_registry: Registry, tmp_path: Path) -> None:
    image = busybox_image(tmp_path)
    ref = plain_registry.push(image.layout, "library/renamed", "v2", source_tag=image.tag)
    assert ref == f"{plain_registry.host}/library/renamed:v2"
    assert sha256(inspect_raw(plain_registry, ref)) == image.manifest_digest


def test_auth_registry_rejects_wrong_or_missing_credentials(
    pushed_images: PushedImages, auth_registry: Registry
) -> None:
    ref = f"docker://{pushed_images.ref('auth', 'busybox')}"
    cert_dir = f"--cert-dir={auth_registry.cert_dir}"
    for creds in (f"--creds={auth_registry.username}:wrong", "--no-creds"):
        result = skopeo("inspect", "--raw", cert_dir, creds, ref)
        assert result.returncode != 0
        assert "unauthorized: authentication required" in result.stderr


def test_auth_registry_answers_401_until_basic_auth(auth_registry: Registry) -> None:
    context = auth_registry.ssl_context()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{auth_registry.url}/v2/", context=context)
    refused.value.close()
    assert refused.value.code == 401
    assert refused.value.headers["WWW-Authenticate"].startswith("Basic ")
    token = base64.b64encode(f"{auth_registry.username}:{auth_registry.password}".encode())
    request = urllib.request.Request(
        f"{auth_registry.url}/v2/", headers={"Authorization": f"Basic {token.decode()}"}
    )
    with urllib.request.urlopen(request, context=context) as response:
        assert response.status == 200


def test_tls_registry_is_trusted_only_with_its_ca(pushed_images: PushedImages) -> None:
    result = skopeo("inspect", "--raw", f"docker://{pushed_images.ref('tls', 'busybox')}")
    assert result.returncode != 0
    assert "x509: certificate signed by unknown authority" in result.stderr
    registry = pushed_images.registries["tls"]
    assert registry.cert_dir is not None and registry.ca_file == registry.cert_dir / "ca.crt"
    assert sorted(p.name for p in registry.cert_dir.iterdir()) == ["ca.crt"]


def test_plain_registry_speaks_http(plain_registry: Registry) -> None:
    assert (plain_registry.url, plain_registry.ca_file, plain_registry.cert_dir) == (
        f"http://{plain_registry.host}",
        None,
        None,
    )
    with urllib.request.urlopen(f"{plain_registry.url}/v2/") as response:
        assert response.status == 200


def test_index_has_both_platforms(pushed_images: PushedImages) -> None:
    registry = pushed_images.registries["plain"]
    ref = pushed_images.ref("plain", "multi")
    index = json.loads(inspect_raw(registry, ref))
    assert index["mediaType"] == MEDIA_INDEX
    platforms = [manifest["platform"] for manifest in index["manifests"]]
    assert sorted(f"{p['os']}/{p['architecture']}" for p in platforms) == [
        "linux/amd64",
        "linux/arm64",
    ]
    multi = pushed_images.images["multi"]
    assert isinstance(multi, BuiltIndex)
    for platform, image in multi.platforms.items():
        arch = platform.split("/")[1]
        result = skopeo("inspect", f"--override-arch={arch}", "--tls-verify=false", f"docker://{ref}")
        assert result.returncode == 0, result.stderr
        inspected = json.loads(result.stdout)
        assert inspected["Architecture"] == arch
        assert inspected["Layers"] == [layer.digest for layer in image.layers]
    assert multi.platforms[f"linux/{host_arch()}"].layers[0].files["/bin/busybox"].type == "file"


def test_configured_image_config(pushed_images: PushedImages) -> None:
    ref = pushed_images.ref("plain", "configured")
    config = json.loads(inspect_raw(pushed_images.registries["plain"], ref, "--config"))
    assert config["config"] == {
        "User": "app",
        "Env": [PATH_ENV, "GREETING=hello"],
        "WorkingDir": "/srv",
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo $GREETING"],
        "Labels": {"org.example.role": "test"},
        "StopSignal": "SIGTERM",
        "ExposedPorts": {"8080/tcp": {}},
    }


def describe_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> FileInfo:
    """What a tar member is, read back independently of the image builder."""
    name = member.name.rsplit("/", 1)[-1]
    kinds: dict[bytes, FileType] = {
        tarfile.DIRTYPE: "dir",
        tarfile.SYMTYPE: "symlink",
        tarfile.LNKTYPE: "hardlink",
        tarfile.CHRTYPE: "char",
    }
    size, digest = 0, None
    if member.isreg():
        kind: FileType = (
            "opaque" if name == OPAQUE_MARKER
            else "whiteout" if name.startswith(WHITEOUT_PREFIX)
            else "file"
        )
        content = tar.extractfile(member)
        assert content is not None
        size, digest = member.size, hashlib.sha256(content.read()).hexdigest()
    else:
        kind = kinds[member.type]
    return FileInfo(
        type=kind,
        mode=member.mode,
        uid=member.uid,
        gid=member.gid,
        size=size,
        sha256=digest,
        linkname=member.linkname or None,
        devmajor=member.devmajor if kind == "char" else 0,
        devminor=member.devminor if kind == "char" else 0,
        xattrs={
            key.removeprefix("SCHILY.xattr."): value
            for key, value in member.pax_headers.items()
            if key.startswith("SCHILY.xattr.")
        },
    )


def read_layer(image: BuiltImage, digest: str, media_type: str) -> bytes:
    """The uncompressed tar of a layer blob, after checking the blob's digest."""
    blob = image.blob(digest).read_bytes()
    assert sha256(blob) == digest
    return gzip.decompress(blob) if media_type == MEDIA_LAYER_GZIP else blob


def test_layered_files_match_the_tars(built_images: dict[str, BuiltImage | BuiltIndex]) -> None:
    image = built_images["layered"]
    assert isinstance(image, BuiltImage)
    media_types = [layer.media_type for layer in image.layers]
    assert media_types == [MEDIA_LAYER_GZIP] * 3 + [MEDIA_LAYER_TAR]
    assert image.config["rootfs"]["diff_ids"] == [layer.diff_id for layer in image.layers]
    for layer in image.layers:
        data = read_layer(image, layer.digest, layer.media_type)
        assert sha256(data) == layer.diff_id
        assert image.blob(layer.digest).stat().st_size == layer.size
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = tar.getmembers()
            read_back = {f"/{m.name}": describe_member(tar, m) for m in members}
        assert read_back == layer.files
        assert [m.name for m in members] == layer.tar_names
    deletions = image.layers[2].files
    assert deletions["/data/.wh.a.txt"].type == "whiteout"
    assert deletions[f"/data/dir/{OPAQUE_MARKER}"].type == "opaque"
    files = image.layers[1].files
    assert files["/data/hard"] == FileInfo("hardlink", 0o644, linkname="data/a.txt")
    assert files["/data/xattr.txt"].xattrs == {"user.test": "1"}
    assert files["/dev-null-copy"] == FileInfo("char", 0o666, devmajor=1, devminor=3)
    private = files["/data/private.txt"]
    assert (private.mode, private.uid, private.gid) == (0o640, 1000, 1000)


def test_expected_rootfs_applies_whiteouts_and_links(
    built_images: dict[str, BuiltImage | BuiltIndex],
) -> None:
    image = built_images["layered"]
    assert isinstance(image, BuiltImage)
    rootfs = expected_rootfs(image.layers)
    assert "/data/a.txt" not in rootfs  # whiteout
    assert "/data/dir/c.txt" not in rootfs  # opaque directory
    assert rootfs["/data/dir/new.txt"].type == "file"
    assert rootfs["/data/hard"] == image.layers[1].files["/data/a.txt"]  # outlives its target
    assert rootfs["/etc/motd"].type == "file"
    assert not any(WHITEOUT_PREFIX in path for path in rootfs)


@pytest.mark.skipif(shutil.which("umoci") is None or os.geteuid() != 0, reason="umoci, as root")
def test_umoci_unpacks_layered_to_the_expected_rootfs(
    built_images: dict[str, BuiltImage | BuiltIndex], tmp_path: Path
) -> None:
    image = built_images["layered"]
    assert isinstance(image, BuiltImage)
    bundle = tmp_path / "bundle"
    subprocess.run(
        ["umoci", "unpack", "--image", f"{image.layout}:{image.tag}", str(bundle)],
        check=True,
        capture_output=True,
    )
    assert scan_rootfs(bundle / "rootfs") == expected_rootfs(image.layers)


def test_images_are_deterministic(
    built_images: dict[str, BuiltImage | BuiltIndex], tmp_path: Path
) -> None:
    busybox, layered = busybox_image(tmp_path), layered_image(tmp_path)
    assert busybox.manifest_digest == built_images["busybox"].manifest_digest
    assert layered.manifest_digest == built_images["layered"].manifest_digest
    assert layered.layers[0] == busybox.layers[0]


def test_malicious_layers_keep_their_entries_as_written(tmp_path: Path) -> None:
    expected = {
        "dotdot": [("../escape.txt", "")],
        "absolute": [("/etc/../../escape", "")],
        "symlink": [("link", "/"), ("link/escape.txt", "")],
        "hardlink": [("evil", "../../etc/passwd")],
    }
    images = malicious_layers(tmp_path)
    assert {case: image.name for case, image in images.items()} == {
        case: f"malicious-{case}" for case in expected
    }
    for case, image in images.items():
        (layer,) = image.layers
        data = read_layer(image, layer.digest, layer.media_type)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            assert [(m.name, m.linkname) for m in tar.getmembers()] == expected[case]
        assert layer.tar_names == [name for name, _ in expected[case]]


def test_large_image_layers(tmp_path: Path) -> None:
    image = large_image(tmp_path, total_mb=4, layers=4)
    assert [layer.media_type for layer in image.layers] == [MEDIA_LAYER_TAR] * 4
    sizes = [layer.files[f"/large/{n}.bin"].size for n, layer in enumerate(image.layers)]
    assert sizes == [1 << 20] * 4
    for layer in image.layers:
        assert sha256(image.blob(layer.digest).read_bytes()) == layer.digest == layer.diff_id
    assert len({layer.digest for layer in image.layers}) == 4


def test_large_image_ref_is_pushed(
    plain_registry: Registry, large_image: BuiltImage, large_image_ref: str
) -> None:
    assert large_image_ref == f"{plain_registry.host}/large:1"
    result = skopeo("inspect", "--tls-verify=false", f"docker://{large_image_ref}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Layers"] == [layer.digest for layer in large_image.layers]
    assert sum(layer.size for layer in large_image.layers) > 4 * (1 << 20)


@pytest.mark.parametrize(("tls", "auth"), [(False, False), (True, False), (True, True)])
def test_stop_closes_the_port_and_leaves_nothing(tls: bool, auth: bool) -> None:
    with Registry(tls=tls, auth=auth) as registry:
        pid = registry.pid
        assert pid is not None and process_exists(pid)
        assert port_is_open(registry.port)
        assert registry.log_path.is_file()
        assert (registry.ca_file is not None) == tls
        assert (registry.username is not None, registry.password is not None) == (auth, auth)
    assert not port_is_open(registry.port)
    assert not process_exists(pid)
    assert not registry.workdir.exists()
    registry.stop()  # again: nothing to do


def test_kill_then_start_serves_the_same_images(tmp_path: Path) -> None:
    image = busybox_image(tmp_path)
    registry = Registry()
    try:
        registry.start()
        ref = registry.push_image(image)
        pid, port = registry.pid, registry.port
        assert pid is not None
        registry.kill()
        assert not process_exists(pid)
        assert not port_is_open(port)
        assert registry.storage_dir.is_dir()
        registry.start()
        assert registry.port == port and registry.pid != pid
        assert sha256(inspect_raw(registry, ref)) == image.manifest_digest
        with pytest.raises(RegistryError, match="already running"):
            registry.start()
    finally:
        registry.stop()
    assert not registry.workdir.exists()


def test_descendants_sees_child_processes() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        found = descendants(os.getpid())
        assert found[child.pid].ppid == os.getpid()
        assert found[child.pid].running
        deadline = time.monotonic() + 5  # until the forked child has exec'd sleep
        while found[child.pid].cmdline() != "sleep 30" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert found[child.pid].cmdline() == "sleep 30"
    finally:
        child.kill()
        child.wait()
    assert child.pid not in descendants(os.getpid())

