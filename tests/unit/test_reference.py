"""Image reference normalisation, as the kubelet and the daemons do it."""

from __future__ import annotations

import pytest

from crio_py.errors import InvalidArgumentError
from crio_py.reference import parse_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "text, domain, path, tag, digest",
    [
        ("busybox", "docker.io", "library/busybox", "latest", None),
        ("busybox:1.36", "docker.io", "library/busybox", "1.36", None),
        ("someone/app", "docker.io", "someone/app", "latest", None),
        ("registry.k8s.io/pause:3.10", "registry.k8s.io", "pause", "3.10", None),
        ("127.0.0.1:5000/busybox:1", "127.0.0.1:5000", "busybox", "1", None),
        ("localhost/x/y", "localhost", "x/y", "latest", None),
        (f"quay.io/a/b@{DIGEST}", "quay.io", "a/b", None, DIGEST),
        (f"quay.io/a/b:t@{DIGEST}", "quay.io", "a/b", "t", DIGEST),
    ],
)
def test_normalisation(
    text: str, domain: str, path: str, tag: str | None, digest: str | None
) -> None:
    reference = parse_reference(text)
    assert (reference.domain, reference.path, reference.tag, reference.digest) == (
        domain,
        path,
        tag,
        digest,
    )


def test_tagged_and_digested_forms() -> None:
    reference = parse_reference("busybox:1")
    assert reference.tagged == "docker.io/library/busybox:1"
    assert reference.with_digest(DIGEST) == f"docker.io/library/busybox@{DIGEST}"
    assert str(reference) == "docker.io/library/busybox:1"


@pytest.mark.parametrize("text", ["", "UPPER/case", "a b", "x:", "x@sha256:12"])
def test_invalid_references(text: str) -> None:
    with pytest.raises(InvalidArgumentError):
        parse_reference(text)
