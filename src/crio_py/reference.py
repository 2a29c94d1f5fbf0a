"""Image references: parsing and normalising `busybox` to `docker.io/library/busybox:latest`,
the way the kubelet, containerd and CRI-O do (distribution/reference)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from crio_py.errors import InvalidArgumentError, quote

DOCKER_HUB = "docker.io"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z]"
    r"[A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$"
)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_PATH = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_IMAGE_ID = re.compile(r"^[a-f0-9]{64}$")
NAME_LIMIT = 255
"""distribution/reference: a repository name (with its registry host) is at most 255 long."""


@dataclass(frozen=True)
class Reference:
    """A normalised image reference: registry host, repository path, tag and/or digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """`docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}"

    @property
    def tagged(self) -> str:
        """`docker.io/library/busybox:1.36` (the repo tag an image record keeps)."""
        return f"{self.repository}:{self.tag}" if self.tag else ""

    def with_digest(self, digest: str) -> str:
        """`docker.io/library/busybox@sha256:…` (the repo digest an image record keeps)."""
        return f"{self.repository}@{digest}"

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> Reference:
    """Parse and normalise; InvalidArgumentError for what is not an image reference."""
    if _IMAGE_ID.match(text.strip()):
        # distribution/reference: a bare 64-hex string is an image id, never a name to pull.
        raise InvalidArgumentError(f"{quote(text)} is an image id, not an image reference")
    match = _REFERENCE.match(text.strip())
    if not match or not text.strip():
        raise InvalidArgumentError(f"{quote(text)} is not a valid image reference")
    domain, path = match["domain"], match["path"]
    if domain is None or not ("." in domain or ":" in domain or domain == "localhost"):
        # The first component is a path component, not a registry host.
        path = f"{domain}/{path}" if domain else path
        domain = DOCKER_HUB
        if not _PATH.match(path):
            raise InvalidArgumentError(f"{quote(text)} is not a valid image reference")
    if len(f"{domain}/{path}") > NAME_LIMIT:
        raise InvalidArgumentError(
            f"{quote(text)} is not a valid image reference: its name is longer than {NAME_LIMIT}"
        )
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    tag = match["tag"]
    digest = match["digest"]
    if tag is None and digest is None:
        tag = "latest"
    return Reference(domain=domain, path=path, tag=tag, digest=digest)
