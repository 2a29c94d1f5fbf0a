"""Index, manifest and config documents from a registry: what is corrupt, what is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crio_py.backends.image_documents import (
    MAX_CONFIG,
    choose_platform,
    image_blobs,
    image_config,
    is_index,
    parse_document,
)
from crio_py.errors import IntegrityError, InvalidArgumentError, NotFoundError

DIGEST = "sha256:" + "a" * 64
CONFIG = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": DIGEST, "size": 10}
LAYER = {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": DIGEST, "size": 3}


def _manifest(**changes: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(CONFIG),
        "layers": [dict(LAYER)],
    }
    manifest.update(changes)
    return manifest


def test_a_manifest_gives_its_config_and_layers() -> None:
    config, layers = image_blobs(_manifest())
    assert (config.digest, config.size) == (DIGEST, 10)
    assert [(layer.media_type, layer.size) for layer in layers] == [(LAYER["mediaType"], 3)]
    docker = _manifest(mediaType="application/vnd.docker.distribution.manifest.v2+json")
    docker["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json"
    assert image_blobs(docker)[0].digest == DIGEST


@pytest.mark.parametrize(
    ("raw", "problem"),
    [(b"\xff\xfe", "not JSON"), (b"[1, 2]", "not a JSON object"), (b"{", "not JSON")],
)
def test_a_document_that_is_not_a_json_object_is_corrupt(raw: bytes, problem: str) -> None:
    with pytest.raises(IntegrityError, match=problem):
        parse_document(raw)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"schemaVersion": 1, "fsLayers": []}, "schema version 1 is not supported"),
        ({"mediaType": "application/vnd.oci.image.manifest.v1+json"}, "schema version None"),
        ({"schemaVersion": 2, "mediaType": "application/vnd.example+json"}, "unsupported"),
    ],
)
def test_unsupported_documents_are_refused(document: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidArgumentError, match=problem):
        is_index(document)


def test_index_or_manifest_by_media_type_or_by_fields() -> None:
    assert is_index({"schemaVersion": 2, "manifests": []})
    assert not is_index({"schemaVersion": 2, "config": {}})
    oci_index = "application/vnd.oci.image.index.v1+json"
    assert is_index({"schemaVersion": 2, "mediaType": oci_index})


@pytest.mark.parametrize(
    ("changes", "error", "problem"),
    [
        (
            {"config": {**CONFIG, "mediaType": "application/vnd.cncf.helm.config.v1+json"}},
            InvalidArgumentError,
            "not a container image",
        ),
        ({"config": {**CONFIG, "size": MAX_CONFIG + 1}}, InvalidArgumentError, "over the limit"),
        (
            {"mediaType": "application/vnd.oci.image.index.v1+json"},
            InvalidArgumentError,
            "names another index",
        ),
        ({"layers": {"not": "a list"}}, IntegrityError, "not a list"),
        ({"layers": 7}, IntegrityError, "not a list"),
        ({"layers": ["text"]}, IntegrityError, "no valid layer descriptor"),
        ({"layers": [{**LAYER, "digest": "sha256:../../etc"}]}, IntegrityError, "digest"),
        ({"layers": [{**LAYER, "digest": "sha512:" + "a" * 128}]}, IntegrityError, "digest"),
        ({"layers": [{**LAYER, "size": -1}]}, IntegrityError, "size -1"),
        ({"layers": [{**LAYER, "size": 1e400}]}, IntegrityError, "size inf"),
        ({"layers": [{**LAYER, "size": True}]}, IntegrityError, "size True"),
        ({"layers": [{**LAYER, "size": "3"}]}, IntegrityError, "size '3'"),
        ({"layers": [{**LAYER, "mediaType": 7}]}, IntegrityError, "media type 7"),
        ({"config": None}, IntegrityError, "no valid config descriptor"),
    ],
)
def test_bad_manifests_are_refused_before_anything_is_fetched(
    changes: dict[str, Any], error: type[Exception], problem: str
) -> None:
    with pytest.raises(error, match=problem):
        image_blobs(_manifest(**changes))


def _entry(**fields: Any) -> dict[str, Any]:
    return {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": DIGEST,
        "size": 5,
        "platform": {"os": "linux", "architecture": "amd64"},
        **fields,
    }


def test_the_platform_entry_is_chosen_and_odd_entries_are_skipped() -> None:
    other = "sha256:" + "b" * 64
    index = {
        "manifests": [
            "text",
            _entry(platform="linux/amd64"),
            _entry(mediaType="application/vnd.example.manifest+json"),
            _entry(mediaType="application/vnd.oci.image.index.v1+json"),
            _entry(platform={"os": "linux", "architecture": "arm64"}, digest=other),
            _entry(),
        ]
    }
    assert choose_platform(index, "app", ("linux", "amd64")) == DIGEST
    assert choose_platform(index, "app", ("linux", "arm64")) == other
    with pytest.raises(NotFoundError, match="has no image for linux/s390x"):
        choose_platform(index, "app", ("linux", "s390x"))


@pytest.mark.parametrize(
    "index",
    [
        {},
        {"manifests": 3},
        {"manifests": [_entry(digest="../x")]},
        {"manifests": [{k: v for k, v in _entry().items() if k != "digest"}]},
    ],
)
def test_a_broken_index_is_corrupt(index: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError):
        choose_platform(index, "app", ("linux", "amd64"))


def test_a_config_gives_its_json() -> None:
    document = {"config": {"User": "1"}, "rootfs": {"type": "layers", "diff_ids": [DIGEST]}}
    assert image_config(json.dumps(document).encode(), DIGEST) == document
    assert image_config(b'{"rootfs": {"diff_ids": []}, "config": null}', DIGEST)["config"] == {}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\xff not json", "is not JSON"),
        (b'"text"', "not a JSON object"),
        (b'{"config": ["User"], "rootfs": {"diff_ids": []}}', "config that is not an object"),
        (b'{"config": {}}', "no list of rootfs.diff_ids"),
        (b'{"rootfs": {"diff_ids": "sha256:x"}}', "no list of rootfs.diff_ids"),
        (b'{"rootfs": {"diff_ids": [1]}}', "no list of rootfs.diff_ids"),
    ],
)
def test_a_config_the_runtime_cannot_read_is_refused(raw: bytes, problem: str) -> None:
    with pytest.raises(InvalidArgumentError, match=problem):
        image_config(raw, DIGEST)
