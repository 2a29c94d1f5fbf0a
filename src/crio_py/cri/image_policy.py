"""Which images are pinned, and which signature policy a pull goes through.

Pinned: the sandbox image and CRI-O's `pinned_images` (exact names, `prefix*` globs and
`*keyword*` patterns, as CRI-O matches them), so the kubelet's image GC spares them.
Policy: a pull for a pod in namespace NS goes through `<signature_policy_dir>/NS.json` when
that file exists, else `signature_policy`, else skopeo's default policy (CRI-O 1.28+).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from crio_py.config.model import RuntimeSettings
from crio_py.errors import FailedPreconditionError, InvalidArgumentError, quote
from crio_py.reference import parse_reference
from crio_py.store.records import ImageRecord

_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


class Pins:
    """Which images are pinned: the sandbox image and `pinned_images` patterns."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self.exact: set[str] = set()
        self.globs: list[str] = []
        for pattern in (settings.sandbox_image, *settings.pinned_images):
            if "*" in pattern:
                self.globs.append(pattern)  # CRI-O: `prefix*` or `*keyword*`
                continue
            self.exact.add(pattern)
            with contextlib.suppress(InvalidArgumentError):
                self.exact.add(parse_reference(pattern).tagged)

    def names(self, *names: str) -> bool:
        """Whether any of `names` (tags or digested names) is pinned."""
        return any(
            name in self.exact or any(_glob_matches(glob, name) for glob in self.globs)
            for name in names
        )

    def match(self, record: ImageRecord) -> bool:
        return self.names(*record.repo_tags, *record.repo_digests)


def _glob_matches(pattern: str, name: str) -> bool:
    """CRI-O's pinned_images patterns: `*keyword*` anywhere in the name, `prefix*` at its
    start (a `*` elsewhere is literal)."""
    if len(pattern) > 1 and pattern.startswith("*") and pattern.endswith("*"):
        return pattern[1:-1] in name
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return name == pattern


def policy_for(settings: RuntimeSettings, namespace: str) -> Path | None:
    """The signature policy for a pod in `namespace` (see the module docstring)."""
    directory = settings.signature_policy_dir
    if namespace and directory is not None:
        if not _NAMESPACE.fullmatch(namespace):
            raise InvalidArgumentError(
                f"sandbox namespace {quote(namespace)} is not a Kubernetes namespace name"
            )
        candidate = directory / f"{namespace}.json"
        if candidate.is_file():
            return candidate
    policy = settings.signature_policy
    if policy is not None and not policy.is_file():
        # skopeo would fail with a bare "no such file"; say which setting is wrong instead.
        raise FailedPreconditionError(f"signature_policy {policy} is not a file; no pull runs")
    return policy
