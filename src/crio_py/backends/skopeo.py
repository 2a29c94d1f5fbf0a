"""skopeo: image pulls into the content store.

A pull reads the manifest (over plain HTTP when no credentials are involved, see
`manifests.py`, else with `skopeo inspect --raw`) and chooses the host's platform from an
index, copies the blobs with `skopeo copy` into a private staging OCI layout (blobs the store
already has are linked in first, so skopeo does not fetch them again), checks every blob's
size and digest against the registry's manifest, and only then moves them into the store. A
pull that fails anywhere leaves the store as it was. Credentials go to skopeo in an auth file
with mode 0600 that is removed after the pull, never on the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import platform
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crio_py import crashpoint
from crio_py.backends import _exec
from crio_py.backends.image_documents import (
    OCI_MANIFEST,
    choose_platform,
    image_blobs,
    image_config,
    is_index,
    parse_document,
)
from crio_py.backends.manifests import ManifestFetcher
from crio_py.config.model import Credentials, Endpoint
from crio_py.errors import (
    CommandError,
    CrioPyError,
    IntegrityError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
)
from crio_py.reference import Reference
from crio_py.store.content import ContentStore, file_digest
from crio_py.store.records import Descriptor

logger = logging.getLogger(__name__)

_ARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
}
_MISMATCH = ("digest did not match", "digest mismatch", "does not match expected")
_NOT_FOUND = ("manifest unknown", "name unknown", "not found", "404")
_DENIED = ("unauthorized", "authentication required", "401", "denied", "403")


def host_platform() -> tuple[str, str]:
    """(os, architecture) in OCI terms."""
    machine = platform.machine()
    return "linux", _ARCH.get(machine, machine)


@dataclass(frozen=True)
class Source:
    """One endpoint to pull from, and the credentials to present there."""

    endpoint: Endpoint
    credentials: Credentials | None = None


@dataclass(frozen=True)
class PullSpec:
    """What to pull, and the endpoints to try in order."""

    reference: Reference
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class PulledImage:
    """A pulled image whose blobs are all in the content store."""

    manifest: Descriptor
    config: Descriptor
    layers: tuple[Descriptor, ...]
    config_json: dict[str, Any]
    repo_digest: str = ""  # what the tag points to: the index digest for a multi-platform image


class SkopeoPuller:
    """Pulls with skopeo, verifying everything it stores."""

    def __init__(
        self,
        content: ContentStore,
        work_dir: Path,
        binary: str = "skopeo",
        manifests: ManifestFetcher | None = None,
    ) -> None:
        self.content = content
        self.work_dir = work_dir
        self.binary = binary
        # Fetches manifests without skopeo where it can (None: skopeo inspect always).
        self.manifests = manifests
        work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    async def pull(self, spec: PullSpec) -> PulledImage:
        """Try each endpoint in order; a failing mirror falls through to the next one."""
        last: CrioPyError | None = None
        for source in spec.sources:
            try:
                return await self._pull_from(source, spec.reference)
            except (UnavailableError, NotFoundError, PermissionDeniedError, IntegrityError) as exc:
                logger.warning(
                    "Pulling %s from %s failed: %s", spec.reference, source.endpoint.host, exc
                )
                last = exc
        raise last or UnavailableError(f"no endpoint to pull {spec.reference} from")

    async def _pull_from(self, pull_source: Source, reference: Reference) -> PulledImage:
        endpoint = pull_source.endpoint
        with self._session(endpoint, pull_source.credentials) as session:
            manifest_bytes, digest, top = await self._manifest(endpoint, reference, session)
            manifest = parse_document(manifest_bytes)
            config, layers = image_blobs(manifest)
            source = f"docker://{endpoint.host}/{reference.path}@{digest}"
            config_json = await self._copy(source, config, layers, session)
            await asyncio.to_thread(self.content.ingest_bytes, manifest_bytes, digest)
            media_type = str(manifest.get("mediaType", OCI_MANIFEST))
            return PulledImage(
                manifest=Descriptor(media_type=media_type, digest=digest, size=len(manifest_bytes)),
                config=config,
                layers=layers,
                config_json=config_json,
                repo_digest=top,
            )

    async def _manifest(
        self, endpoint: Endpoint, reference: Reference, session: _Session
    ) -> tuple[bytes, str, str]:
        """The image manifest for the host platform, its digest (verified), and the digest of
        what the reference names (an index, for a multi-platform image)."""
        name = f"{endpoint.host}/{reference.path}"
        pinned = reference.digest or reference.tag or "latest"
        raw = await self._raw(endpoint, reference.path, pinned, session)
        digest = top = _sha256(raw)
        if reference.digest and digest != reference.digest:
            raise IntegrityError(
                f"the registry sent a manifest for {reference} with digest {digest}"
            )
        document = parse_document(raw)
        if is_index(document):
            digest = choose_platform(document, str(reference), host_platform())
            raw = await self._raw(endpoint, reference.path, digest, session)
            if _sha256(raw) != digest:
                raise IntegrityError(
                    f"the registry sent a manifest for {name}@{digest} with digest {_sha256(raw)}"
                )
        return raw, digest, top

    async def _raw(
        self, endpoint: Endpoint, path: str, tag_or_digest: str, session: _Session
    ) -> bytes:
        """The manifest bytes: over plain HTTP when nothing needs skopeo, else from it."""
        if self.manifests is not None and session.authfile is None:
            found = await self.manifests.fetch(endpoint, path, tag_or_digest)
            if found is not None:
                return found
        separator = "@" if ":" in tag_or_digest else ":"  # a tag has no colon; a digest does
        return await self._inspect(
            f"docker://{endpoint.host}/{path}{separator}{tag_or_digest}", session
        )

    async def _inspect(self, image: str, session: _Session) -> bytes:
        argv = [self.binary, "inspect", "--raw", *session.flags("--"), image]
        try:
            result = await _exec.run(argv, timeout_s=120, secrets=session.secrets)
        except CommandError as exc:
            raise _translate(exc, image) from exc
        return result.raw_stdout

    async def _copy(
        self,
        source: str,
        config: Descriptor,
        layers: tuple[Descriptor, ...],
        session: _Session,
    ) -> dict[str, Any]:
        """Fetch the blobs, check them and the config, then store them; the config's JSON."""
        # An image may list one blob twice (two identical layers): it is fetched and stored once.
        blobs = list({blob.digest: blob for blob in (config, *layers)}.values())
        if all(self.content.has(blob.digest) for blob in blobs):
            # Everything is here already (a re-pull, or an image sharing every blob with
            # another): the manifest was fetched and checked, so skopeo has nothing to do.
            self._check_stored(blobs)
            return image_config(self.content.read(config.digest), config.digest)
        staging = self.work_dir / f"pull-{uuid.uuid4().hex}"
        try:
            self._link_known_blobs(staging, blobs)
            argv = [
                self.binary,
                "copy",
                "--quiet",
                "--preserve-digests",  # an uncompressed layer must stay as the registry has it
                *session.flags("--src-"),
                source,
                f"oci:{staging}:pull",
            ]
            try:
                await _exec.run(
                    argv,
                    secrets=session.secrets,
                    started=lambda: crashpoint.reached("PullImage:copy-running"),
                )
            except CommandError as exc:
                raise _translate(exc, source) from exc
            crashpoint.reached("PullImage:fetched")
            return await self._commit(staging, config, blobs)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _link_known_blobs(self, staging: Path, blobs: list[Descriptor]) -> None:
        directory = staging / "blobs" / "sha256"
        directory.mkdir(parents=True)
        for blob in blobs:
            if self.content.has(blob.digest):
                os.link(self.content.path(blob.digest), directory / blob.digest[7:])

    async def _commit(
        self, staging: Path, config: Descriptor, blobs: list[Descriptor]
    ) -> dict[str, Any]:
        """Check every new blob and the config first, then move them all: never half an
        image, or an image whose config cannot be read, in the store."""
        new = [b for b in blobs if not self.content.has(b.digest)]
        await asyncio.gather(*(asyncio.to_thread(_verify, staging, blob) for blob in new))
        self._check_stored([b for b in blobs if b not in new])
        if self.content.has(config.digest):
            raw_config = self.content.read(config.digest)
        else:
            raw_config = (staging / "blobs" / "sha256" / config.digest[7:]).read_bytes()
        config_json = image_config(raw_config, config.digest)
        await asyncio.to_thread(self._adopt, staging, new)
        return config_json

    def _check_stored(self, blobs: list[Descriptor]) -> None:
        """A blob already stored has the right digest; its size is the check."""
        for blob in blobs:
            stored = self.content.path(blob.digest).stat().st_size
            if stored != blob.size:
                raise IntegrityError(
                    f"the manifest says blob {blob.digest} has {blob.size} bytes; it has {stored}"
                )

    def _adopt(self, staging: Path, blobs: list[Descriptor]) -> None:
        for blob in blobs:
            self.content.adopt(staging / "blobs" / "sha256" / blob.digest[7:], blob.digest)

    @contextlib.contextmanager
    def _session(self, endpoint: Endpoint, credentials: Credentials | None) -> Iterator[_Session]:
        directory = self.work_dir / f"session-{uuid.uuid4().hex}"
        directory.mkdir(mode=0o700)
        try:
            yield _Session.create(directory, endpoint, credentials)
        finally:
            shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True)
class _Session:
    """skopeo flags for one endpoint: TLS, certificate dir and auth file; and the credentials'
    strings, hidden wherever skopeo's output is logged or relayed in an error."""

    tls_verify: bool
    cert_dir: Path | None
    authfile: Path | None
    secrets: tuple[str, ...] = ()

    @classmethod
    def create(
        cls, directory: Path, endpoint: Endpoint, credentials: Credentials | None
    ) -> _Session:
        cert_dir = directory / "certs" if endpoint.ca_files or endpoint.client_pairs else None
        if cert_dir is not None:
            _fill_cert_dir(cert_dir, endpoint)
        authfile = directory / "auth.json" if credentials else None
        if authfile is not None and credentials is not None:
            _write_authfile(authfile, endpoint.host, credentials)
        secrets = credentials.secret_values() if credentials is not None else ()
        return cls(not (endpoint.skip_verify or endpoint.plain_http), cert_dir, authfile, secrets)

    def flags(self, prefix: str) -> list[str]:
        """Flags for `inspect` (prefix "--") or the source side of `copy` ("--src-")."""
        flags = [f"{prefix}tls-verify={'true' if self.tls_verify else 'false'}"]
        if self.cert_dir is not None:
            flags.append(f"{prefix}cert-dir={self.cert_dir}")
        if self.authfile is not None:
            flags.append(f"{prefix}authfile={self.authfile}")
        else:  # never root's own auth files (~/.docker/config.json), which containerd ignores
            flags.append(f"{prefix}no-creds")
        return flags


def _fill_cert_dir(cert_dir: Path, endpoint: Endpoint) -> None:
    cert_dir.mkdir(mode=0o700)
    for index, ca in enumerate(endpoint.ca_files):
        shutil.copyfile(ca, cert_dir / f"ca-{index}.crt")
    for index, (cert, key) in enumerate(endpoint.client_pairs):
        shutil.copyfile(cert, cert_dir / f"client-{index}.cert")
        if key is not None:
            shutil.copyfile(key, cert_dir / f"client-{index}.key")


def _write_authfile(path: Path, host: str, credentials: Credentials) -> None:
    entry: dict[str, str] = {}
    if credentials.to_auth():
        entry["auth"] = credentials.to_auth()
    if credentials.identity_token:
        entry["identitytoken"] = credentials.identity_token
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        json.dump({"auths": {host: entry}}, stream)


def _verify(staging: Path, blob: Descriptor) -> None:
    """The staged blob has the size and digest the registry's manifest says (blobs are hashed
    in threads side by side: hashlib releases the GIL)."""
    path = staging / "blobs" / "sha256" / blob.digest[7:]
    if not path.is_file():
        raise IntegrityError(f"skopeo did not deliver blob {blob.digest}")
    digest, size = file_digest(path)
    if (digest, size) != (blob.digest, blob.size):
        raise IntegrityError(
            f"blob {blob.digest} ({blob.size} bytes) arrived as {digest} ({size} bytes)"
        )


def _sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _translate(error: CommandError, image: str) -> CrioPyError:
    """skopeo's failure as the domain error it means (only backends parse stderr)."""
    text = error.stderr.lower()
    if any(marker in text for marker in _MISMATCH):
        return IntegrityError(
            f"{image} sent content that does not match its digest: {_tail(error.stderr)}"
        )
    if any(marker in text for marker in _NOT_FOUND):
        return NotFoundError(f"image {image} not found: {_tail(error.stderr)}")
    if any(marker in text for marker in _DENIED):
        return PermissionDeniedError(f"access to {image} denied: {_tail(error.stderr)}")
    return UnavailableError(f"cannot pull {image}: {_tail(error.stderr)}")


def _tail(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][-400:] if lines else "no error output"
