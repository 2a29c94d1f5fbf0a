"""SkopeoPuller with faked skopeo processes: exact argv, verification, fall-through."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from pytest_subprocess import FakeProcess

from crio_py.backends.skopeo import PullSpec, SkopeoPuller, Source, host_platform
from crio_py.config.model import Credentials, Endpoint
from crio_py.errors import (
    IntegrityError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
)
from crio_py.reference import parse_reference
from crio_py.store.content import ContentStore

CONFIG = json.dumps(
    {"rootfs": {"type": "layers", "diff_ids": ["sha256:" + "d" * 64]}, "config": {"User": "1000"}}
).encode()
LAYER = b"layer bytes"


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _digest(CONFIG),
            "size": len(CONFIG),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": _digest(LAYER),
                "size": len(LAYER),
            }
        ],
    }
).encode()
M_DIGEST = _digest(MANIFEST)


def _deliver(blobs: dict[str, bytes]) -> Any:
    """A fake `skopeo copy` that writes blobs into the oci: destination it was given."""

    def callback(process: Any) -> None:
        layout = Path(process.args[-1].removeprefix("oci:").rsplit(":", 1)[0])
        for digest, data in blobs.items():
            (layout / "blobs" / "sha256" / digest[7:]).write_bytes(data)

    return callback


def _inspect_argv(image: str, tls: str = "true") -> list[str]:
    return ["skopeo", "inspect", "--raw", f"--tls-verify={tls}", "--no-creds", image]


def _copy_argv(host: str, tls: str = "true") -> list[Any]:
    return [
        "skopeo",
        "copy",
        "--quiet",
        "--preserve-digests",
        f"--src-tls-verify={tls}",
        "--src-no-creds",
        f"docker://{host}/app@{M_DIGEST}",
        FakeProcess.any(min=1, max=1),
    ]


def _spec(*endpoints: Endpoint, credentials: Credentials | None = None) -> PullSpec:
    return PullSpec(
        parse_reference("reg.example.com/app:1"), tuple(Source(e, credentials) for e in endpoints)
    )


async def test_a_pull_stores_every_verified_blob(fp: FakeProcess, tmp_path: Path) -> None:
    fp.register(
        _inspect_argv("docker://reg.example.com/app:1", "true"),
        stdout=MANIFEST,
    )
    fp.register(
        _copy_argv("reg.example.com"),
        callback=_deliver({_digest(CONFIG): CONFIG, _digest(LAYER): LAYER}),
    )
    content = ContentStore(tmp_path / "content")
    pulled = await SkopeoPuller(content, tmp_path / "tmp").pull(
        _spec(Endpoint(host="reg.example.com"))
    )
    assert pulled.manifest.digest == M_DIGEST
    assert pulled.config_json["config"] == {"User": "1000"}
    assert set(content.digests()) == {M_DIGEST, _digest(CONFIG), _digest(LAYER)}
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_blobs_are_moved_into_the_store_off_the_event_loop(
    fp: FakeProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each move fsyncs the blob and the store's directory."""
    movers: dict[str, threading.Thread] = {}
    real = ContentStore.adopt

    def recording(store: ContentStore, source: Path, digest: str) -> Path:
        movers[digest] = threading.current_thread()
        return real(store, source, digest)

    monkeypatch.setattr(ContentStore, "adopt", recording)
    fp.register(_inspect_argv("docker://reg.example.com/app:1", "true"), stdout=MANIFEST)
    fp.register(
        _copy_argv("reg.example.com"),
        callback=_deliver({_digest(CONFIG): CONFIG, _digest(LAYER): LAYER}),
    )
    content = ContentStore(tmp_path / "content")
    await SkopeoPuller(content, tmp_path / "tmp").pull(_spec(Endpoint(host="reg.example.com")))
    blob_movers = [movers[_digest(CONFIG)], movers[_digest(LAYER)]]
    assert threading.main_thread() not in blob_movers  # the manifest, tiny, may stay on it


async def test_a_corrupt_blob_leaves_the_store_as_it_was(fp: FakeProcess, tmp_path: Path) -> None:
    fp.register(
        _inspect_argv("docker://reg.example.com/app:1", "true"),
        stdout=MANIFEST,
    )
    fp.register(
        _copy_argv("reg.example.com"),
        callback=_deliver({_digest(CONFIG): CONFIG, _digest(LAYER): b"tampered!!!"}),
    )
    content = ContentStore(tmp_path / "content")
    with pytest.raises(IntegrityError, match="arrived as"):
        await SkopeoPuller(content, tmp_path / "tmp").pull(_spec(Endpoint(host="reg.example.com")))
    assert list(content.digests()) == []
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_a_failing_mirror_falls_through_to_the_registry(
    fp: FakeProcess, tmp_path: Path
) -> None:
    fp.register(
        _inspect_argv("docker://mirror:5000/app:1", "false"),
        returncode=1,
        stderr="pinging container registry mirror:5000: connect: connection refused\n",
    )
    fp.register(
        _inspect_argv("docker://reg.example.com/app:1", "true"),
        stdout=MANIFEST,
    )
    fp.register(
        _copy_argv("reg.example.com"),
        callback=_deliver({_digest(CONFIG): CONFIG, _digest(LAYER): LAYER}),
    )
    puller = SkopeoPuller(ContentStore(tmp_path / "content"), tmp_path / "tmp")
    mirror = Endpoint(host="mirror:5000", scheme="http", mirror=True)
    pulled = await puller.pull(_spec(mirror, Endpoint(host="reg.example.com")))
    assert pulled.manifest.digest == M_DIGEST


@pytest.mark.parametrize(
    "stderr, error",
    [
        ("reading manifest 1 in reg.example.com/app: manifest unknown", NotFoundError),
        ("unauthorized: authentication required", PermissionDeniedError),
        ("dial tcp 10.0.0.1:443: connect: connection refused", UnavailableError),
        ("writing blob: happened during read: Digest did not match", IntegrityError),
        (
            "reading config blob sha256:f7: Download config.json digest sha256:23 does not "
            "match expected sha256:f7",
            IntegrityError,
        ),
    ],
)
async def test_skopeo_failures_become_domain_errors(
    fp: FakeProcess, tmp_path: Path, stderr: str, error: type[Exception]
) -> None:
    fp.register(
        _inspect_argv("docker://reg.example.com/app:1", "true"),
        returncode=1,
        stderr=stderr,
    )
    with pytest.raises(error):
        await SkopeoPuller(ContentStore(tmp_path / "c"), tmp_path / "tmp").pull(
            _spec(Endpoint(host="reg.example.com"))
        )


async def test_credentials_go_in_a_private_auth_file(fp: FakeProcess, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def inspect(process: Any) -> None:
        authfile = Path(next(a for a in process.args if a.startswith("--authfile="))[11:])
        seen["mode"] = authfile.stat().st_mode & 0o777
        seen["auths"] = json.loads(authfile.read_text())["auths"]
        seen["path"] = authfile

    fp.register(
        [
            "skopeo",
            "inspect",
            "--raw",
            "--tls-verify=true",
            FakeProcess.any(min=1, max=1),
            "docker://reg.example.com/app:1",
        ],
        stdout=MANIFEST,
        callback=inspect,
    )
    fp.register(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--preserve-digests",
            "--src-tls-verify=true",
            FakeProcess.any(min=1, max=1),
            f"docker://reg.example.com/app@{M_DIGEST}",
            FakeProcess.any(min=1, max=1),
        ],
        callback=_deliver({_digest(CONFIG): CONFIG, _digest(LAYER): LAYER}),
    )
    credentials = Credentials(username="puller", password="s3cret")
    await SkopeoPuller(ContentStore(tmp_path / "c"), tmp_path / "tmp").pull(
        _spec(Endpoint(host="reg.example.com"), credentials=credentials)
    )
    assert seen["mode"] == 0o600
    assert seen["auths"] == {
        "reg.example.com": {"auth": base64.b64encode(b"puller:s3cret").decode()}
    }
    assert not seen["path"].exists()
    assert all("s3cret" not in " ".join(map(str, call)) for call in fp.calls)


async def test_an_index_resolves_to_the_host_platform(fp: FakeProcess, tmp_path: Path) -> None:
    os_name, arch = host_platform()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "digest": "sha256:" + "9" * 64,
                    "size": 1,
                    "platform": {"os": "linux", "architecture": "other"},
                },
                {
                    "digest": M_DIGEST,
                    "size": len(MANIFEST),
                    "platform": {"os": os_name, "architecture": arch},
                },
            ],
        }
    ).encode()
    fp.register(
        _inspect_argv("docker://reg.example.com/app:1", "true"),
        stdout=index,
    )
    fp.register(
        _inspect_argv(f"docker://reg.example.com/app@{M_DIGEST}", "true"),
        stdout=MANIFEST,
    )
    fp.register(
        _copy_argv("reg.example.com"),
        callback=_deliver({_digest(CONFIG): CONFIG, _digest(LAYER): LAYER}),
    )
    pulled = await SkopeoPuller(ContentStore(tmp_path / "c"), tmp_path / "tmp").pull(
        _spec(Endpoint(host="reg.example.com"))
    )
    assert pulled.manifest.digest == M_DIGEST


class _Manifests:
    """A ManifestFetcher stand-in: the manifest for the endpoints it knows, None otherwise."""

    def __init__(self, answers: dict[str, bytes]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str, str]] = []

    async def fetch(self, endpoint: Endpoint, name: str, reference: str) -> bytes | None:
        self.asked.append((endpoint.host, name, reference))
        return self.answers.get(endpoint.host)


async def test_a_manifest_over_http_spares_skopeo_inspect(fp: FakeProcess, tmp_path: Path) -> None:
    fp.register(
        _copy_argv("reg.example.com"),
        callback=_deliver({_digest(CONFIG): CONFIG, _digest(LAYER): LAYER}),
    )
    manifests = _Manifests({"reg.example.com": MANIFEST})
    puller = SkopeoPuller(ContentStore(tmp_path / "c"), tmp_path / "tmp", manifests=manifests)  # type: ignore[arg-type]
    pulled = await puller.pull(_spec(Endpoint(host="reg.example.com")))
    assert pulled.manifest.digest == M_DIGEST
    assert manifests.asked == [("reg.example.com", "app", "1")]
    assert [call for call in fp.calls if "inspect" in call] == []


async def test_skopeo_fetches_what_http_does_not_and_all_with_credentials(
    fp: FakeProcess, tmp_path: Path
) -> None:
    """No answer over HTTP (a 401, an error) or credentials to present: skopeo inspect."""
    for _ in range(2):
        fp.register(
            ["skopeo", "inspect", "--raw", FakeProcess.any(min=1, max=2),
             "docker://reg.example.com/app:1"],
            stdout=MANIFEST,
        )  # fmt: skip
        fp.register(
            ["skopeo", "copy", FakeProcess.any()],
            callback=_deliver({_digest(CONFIG): CONFIG, _digest(LAYER): LAYER}),
        )
    silent = _Manifests({})
    puller = SkopeoPuller(ContentStore(tmp_path / "c"), tmp_path / "tmp", manifests=silent)  # type: ignore[arg-type]
    await puller.pull(_spec(Endpoint(host="reg.example.com")))
    assert silent.asked == [("reg.example.com", "app", "1")]
    knowing = _Manifests({"reg.example.com": MANIFEST})
    other = SkopeoPuller(ContentStore(tmp_path / "d"), tmp_path / "tmp2", manifests=knowing)  # type: ignore[arg-type]
    await other.pull(
        _spec(Endpoint(host="reg.example.com"), credentials=Credentials(username="u", password="p"))
    )
    assert knowing.asked == []  # credentials: skopeo's auth, never ours
    assert len([call for call in fp.calls if "inspect" in call]) == 2


async def test_skopeo_output_relayed_in_an_error_never_carries_the_credentials(
    fp: FakeProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    credentials = Credentials(username="u5er-1b", password="s3cr3t-2c", identity_token="t0k-3d")
    encoded = base64.b64encode(b"u5er-1b:s3cr3t-2c").decode()
    echoed = f"unauthorized: u5er-1b/s3cr3t-2c (token t0k-3d, auth {encoded}) denied"
    fp.register(["skopeo", "inspect", FakeProcess.any()], returncode=1, stderr=echoed)
    puller = SkopeoPuller(ContentStore(tmp_path / "c"), tmp_path / "tmp")
    with caplog.at_level(logging.DEBUG), pytest.raises(PermissionDeniedError) as caught:
        await puller.pull(_spec(Endpoint(host="reg.example.com"), credentials=credentials))
    shown = f"{caught.value} {caught.value.__cause__} {caplog.text}"
    assert "denied" in str(caught.value)
    assert [s for s in credentials.secret_values() if s in shown] == []
    assert list((tmp_path / "tmp").iterdir()) == []  # the auth file went with its session


async def test_an_identity_token_goes_in_the_auth_file_only(
    fp: FakeProcess, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}

    def inspect(process: Any) -> None:
        authfile = Path(next(a for a in process.args if a.startswith("--authfile="))[11:])
        seen["dir_mode"] = authfile.parent.stat().st_mode & 0o777
        seen["auths"] = json.loads(authfile.read_text())["auths"]

    fp.register(["skopeo", "inspect", FakeProcess.any()], stdout=MANIFEST, callback=inspect)
    fp.register(
        ["skopeo", "copy", FakeProcess.any()],
        callback=_deliver({_digest(CONFIG): CONFIG, _digest(LAYER): LAYER}),
    )
    credentials = Credentials(identity_token="t0ken-77")
    await SkopeoPuller(ContentStore(tmp_path / "c"), tmp_path / "tmp").pull(
        _spec(Endpoint(host="reg.example.com"), credentials=credentials)
    )
    assert seen == {"dir_mode": 0o700, "auths": {"reg.example.com": {"identitytoken": "t0ken-77"}}}
    assert all("t0ken-77" not in " ".join(map(str, call)) for call in fp.calls)


def _image(config: bytes, layers: list[bytes]) -> bytes:
    """A manifest of `config` and `layers` (a layer may repeat)."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": _digest(layer),
                    "size": len(layer),
                }
                for layer in layers
            ],
        }
    ).encode()


def _register_pull(fp: FakeProcess, manifest: bytes, blobs: dict[str, bytes]) -> None:
    fp.register(
        _inspect_argv("docker://reg.example.com/app:1", "true"),
        stdout=manifest,
    )
    fp.register(
        [
            *_copy_argv("reg.example.com")[:6],
            f"docker://reg.example.com/app@{_digest(manifest)}",
            FakeProcess.any(min=1, max=1),
        ],
        callback=_deliver(blobs),
    )


async def test_a_layer_listed_twice_is_fetched_and_stored_once(
    fp: FakeProcess, tmp_path: Path
) -> None:
    manifest = _image(CONFIG, [LAYER, LAYER])
    content = ContentStore(tmp_path / "content")
    content.ingest_bytes(LAYER, _digest(LAYER))  # known: linked into the staging layout once
    _register_pull(fp, manifest, {_digest(CONFIG): CONFIG})
    pulled = await SkopeoPuller(content, tmp_path / "tmp").pull(
        _spec(Endpoint(host="reg.example.com"))
    )
    assert [layer.digest for layer in pulled.layers] == [_digest(LAYER)] * 2
    assert set(content.digests()) == {_digest(manifest), _digest(CONFIG), _digest(LAYER)}


@pytest.mark.parametrize(
    ("config", "problem"),
    [(b"\xff not json", "is not JSON"), (b'{"config": [], "rootfs": {}}', "not an object")],
)
async def test_a_config_that_cannot_be_read_stores_nothing(
    fp: FakeProcess, tmp_path: Path, config: bytes, problem: str
) -> None:
    manifest = _image(config, [LAYER])
    _register_pull(fp, manifest, {_digest(config): config, _digest(LAYER): LAYER})
    content = ContentStore(tmp_path / "content")
    with pytest.raises(InvalidArgumentError, match=problem):
        await SkopeoPuller(content, tmp_path / "tmp").pull(_spec(Endpoint(host="reg.example.com")))
    assert list(content.digests()) == []
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_a_size_that_lies_about_a_stored_blob_is_refused(
    fp: FakeProcess, tmp_path: Path
) -> None:
    manifest = json.loads(_image(CONFIG, [LAYER]))
    manifest["layers"][0]["size"] = len(LAYER) + 1
    raw = json.dumps(manifest).encode()
    content = ContentStore(tmp_path / "content")
    content.ingest_bytes(LAYER, _digest(LAYER))
    _register_pull(fp, raw, {_digest(CONFIG): CONFIG})
    with pytest.raises(IntegrityError, match=f"has {len(LAYER) + 1} bytes; it has {len(LAYER)}"):
        await SkopeoPuller(content, tmp_path / "tmp").pull(_spec(Endpoint(host="reg.example.com")))
    assert set(content.digests()) == {_digest(LAYER)}


async def test_a_pull_of_blobs_all_stored_runs_no_copy(fp: FakeProcess, tmp_path: Path) -> None:
    manifest = _image(CONFIG, [LAYER])
    content = ContentStore(tmp_path / "content")
    content.ingest_bytes(CONFIG, _digest(CONFIG))
    content.ingest_bytes(LAYER, _digest(LAYER))
    fp.register(_inspect_argv("docker://reg.example.com/app:1", "true"), stdout=manifest)
    pulled = await SkopeoPuller(content, tmp_path / "tmp").pull(
        _spec(Endpoint(host="reg.example.com"))
    )
    assert pulled.config_json["config"] == {"User": "1000"}
    assert [call[1] for call in fp.calls] == ["inspect"]  # no `skopeo copy`
    assert set(content.digests()) == {_digest(manifest), _digest(CONFIG), _digest(LAYER)}


async def test_a_size_that_lies_about_blobs_all_stored_is_refused(
    fp: FakeProcess, tmp_path: Path
) -> None:
    manifest = json.loads(_image(CONFIG, [LAYER]))
    manifest["config"]["size"] = len(CONFIG) - 1
    raw = json.dumps(manifest).encode()
    content = ContentStore(tmp_path / "content")
    content.ingest_bytes(CONFIG, _digest(CONFIG))
    content.ingest_bytes(LAYER, _digest(LAYER))
    fp.register(_inspect_argv("docker://reg.example.com/app:1", "true"), stdout=raw)
    with pytest.raises(IntegrityError, match=f"has {len(CONFIG) - 1} bytes; it has {len(CONFIG)}"):
        await SkopeoPuller(content, tmp_path / "tmp").pull(_spec(Endpoint(host="reg.example.com")))
    assert set(content.digests()) == {_digest(CONFIG), _digest(LAYER)}
