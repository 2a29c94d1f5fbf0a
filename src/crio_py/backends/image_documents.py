"""The JSON documents of an image as a registry serves them: index, manifest and config,
parsed and checked before anything acts on them.

Everything here comes from the registry and is untrusted. A document that is not what its
kind says (not JSON, a descriptor without a sha256 digest or with a size that is not a count)
is corrupt: IntegrityError. A well-formed document of a kind this runtime does not run (a
schema 1 manifest, an unknown media type, an artifact's config, a config over the size
limit) is refused with InvalidArgumentError. This module fetches nothing and writes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from crio_py.errors import IntegrityError, InvalidArgumentError, NotFoundError
from crio_py.reference import DIGEST
from crio_py.store.records import Descriptor

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
MANIFEST_TYPES = frozenset({OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json"})
CONFIG_TYPES = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
MAX_CONFIG = 4 * 1024 * 1024  # containers/image's limit for a config blob


def parse_document(raw: bytes) -> dict[str, Any]:
    """A manifest or index as a JSON object."""
    try:
        document = json.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise IntegrityError(f"the registry sent a manifest that is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise IntegrityError("the registry sent a manifest that is not a JSON object")
    return document


def is_index(document: dict[str, Any]) -> bool:
    """True for an image index, False for an image manifest; anything else is refused."""
    schema = document.get("schemaVersion")
    if schema != 2:
        raise InvalidArgumentError(f"manifest schema version {schema!r} is not supported (only 2)")
    media_type = document.get("mediaType")
    if media_type is None:  # optional in OCI documents: the fields tell them apart
        return "manifests" in document
    if media_type in INDEX_TYPES:
        return True
    if media_type in MANIFEST_TYPES:
        return False
    raise InvalidArgumentError(f"unsupported manifest media type {media_type!r}")


def image_blobs(manifest: dict[str, Any]) -> tuple[Descriptor, tuple[Descriptor, ...]]:
    """The config and layer descriptors of an image manifest, checked."""
    if is_index(manifest):
        raise InvalidArgumentError("an image index names another index: not supported")
    config = descriptor(manifest.get("config"), "config")
    if config.media_type not in CONFIG_TYPES:
        raise InvalidArgumentError(
            f"the image config has the media type {config.media_type!r}: not a container image"
        )
    if config.size > MAX_CONFIG:
        raise InvalidArgumentError(
            f"the image config is {config.size} bytes, over the limit of {MAX_CONFIG}"
        )
    entries = manifest.get("layers", [])
    if not isinstance(entries, list):
        raise IntegrityError("the manifest's layers are not a list")
    return config, tuple(descriptor(entry, "layer") for entry in entries)


def descriptor(value: Any, role: str) -> Descriptor:
    """A content descriptor: a sha256 digest and a size that is a count of bytes."""
    if not isinstance(value, dict):
        raise IntegrityError(f"the manifest has no valid {role} descriptor")
    digest, size = value.get("digest"), value.get("size")
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise IntegrityError(f"the manifest's {role} descriptor has the digest {digest!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise IntegrityError(f"the manifest's {role} {digest} has the size {size!r}")
    media_type = value.get("mediaType", "")
    if not isinstance(media_type, str):
        raise IntegrityError(f"the manifest's {role} {digest} has the media type {media_type!r}")
    return Descriptor(media_type=media_type, digest=digest, size=size)


def choose_platform(index: dict[str, Any], name: str, want: tuple[str, str]) -> str:
    """The digest of the index's image manifest for `want` (os, architecture). Entries of
    other media types are skipped, as containerd skips them."""
    entries = index.get("manifests")
    if not isinstance(entries, list):
        raise IntegrityError(f"the index of {name} has no list of manifests")
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("mediaType", OCI_MANIFEST) not in (
            MANIFEST_TYPES
        ):
            continue
        found = entry.get("platform")
        if isinstance(found, dict) and (found.get("os"), found.get("architecture")) == want:
            return descriptor(entry, "platform manifest").digest
    raise NotFoundError(f"{name} has no image for {want[0]}/{want[1]}")


def image_config(raw: bytes, digest: str) -> dict[str, Any]:
    """An image config (its digest verified) whose fields the runtime reads have the
    types they must have: `config` an object, `rootfs.diff_ids` a list of strings."""
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgumentError(f"the image config {digest} is not JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise InvalidArgumentError(f"the image config {digest} is not a JSON object")
    if config.get("config") is None:  # docker writes null for an image without settings
        config["config"] = {}
    if not isinstance(config["config"], dict):
        raise InvalidArgumentError(f"the image config {digest} has a config that is not an object")
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise InvalidArgumentError(f"the image config {digest} has no list of rootfs.diff_ids")
    return config
