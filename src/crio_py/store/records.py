"""Records kept on disk, each as versioned JSON written atomically.

Records are plain pydantic models (never protobuf messages): the `cri` package converts them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class Descriptor(BaseModel):
    """An OCI content descriptor: what a manifest says about one blob."""

    model_config = ConfigDict(frozen=True)

    media_type: str
    digest: str
    size: int


class ImageRecord(BaseModel):
    """A pulled image. Its id is the digest of its config blob (as containerd and CRI-O)."""

    model_config = ConfigDict(frozen=True)

    version: Literal[1] = 1
    id: str
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    manifest: Descriptor
    config: Descriptor
    layers: tuple[Descriptor, ...]
    diff_ids: tuple[str, ...]
    chain_ids: tuple[str, ...]
    size: int
    uid: int | None = None
    username: str = ""
    pinned: bool = False
    pulled_at: float = 0.0

    def blob_digests(self) -> set[str]:
        """Every blob this image needs: manifest, config and layers."""
        return {self.manifest.digest, self.config.digest, *(d.digest for d in self.layers)}
