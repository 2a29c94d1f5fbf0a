"""Records kept on disk, each as versioned JSON written atomically.

Records are plain pydantic models (never protobuf messages): the `cri` package converts them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

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


class ContainerState(StrEnum):
    """A container's CRI state, derived from its timestamps (containerd's status.go):

      create      start        exit
    --------> CREATED ----> RUNNING ----> EXITED
                 |                          ^
                 +--- fails to start -------+
    UNKNOWN: recovery could not tell (the record says so; stop and remove still work).
    """

    CREATED = "CONTAINER_CREATED"
    RUNNING = "CONTAINER_RUNNING"
    EXITED = "CONTAINER_EXITED"
    UNKNOWN = "CONTAINER_UNKNOWN"


class ProcessUser(BaseModel):
    """The identity a container's process runs as (its spec's `process.user`)."""

    model_config = ConfigDict(frozen=True)

    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()


class ContainerMetadata(BaseModel):
    """What a container was created as; written once."""

    model_config = ConfigDict(frozen=True)

    version: Literal[1] = 1
    id: str
    name: str  # the reserved CRI name: <name>_<sandbox name>_<namespace>_<uid>_<attempt>
    sandbox_id: str
    config: dict[str, Any]  # the CRI ContainerConfig as JSON
    image_ref: str  # the image as the request named it
    image_id: str
    image_digest_ref: str = ""  # repo@sha256:… of the image, when it has one
    runtime_handler: str
    log_path: str = ""
    stop_signal: int = 15
    infra: bool = False  # the infra (pause) container of its sandbox: not a CRI container
    user: ProcessUser | None = None  # None in records written before it was kept
    image_volumes: dict[str, str] = {}  # container path → image id of each image volume
    created_at: int  # ns since the epoch


class ContainerStatus(BaseModel):
    """What a container is doing; rewritten atomically on every change."""

    model_config = ConfigDict(frozen=True)

    version: Literal[1] = 1
    pid: int = 0
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""  # Completed, Error, OOMKilled
    message: str = ""
    unknown: bool = False
    removing: bool = False  # a guard: a remove is in progress
    # The CRI LinuxContainerResources as JSON once UpdateContainerResources changed them
    # (None: those of the config).
    resources: dict[str, Any] | None = None

    def state(self, created_at: int) -> ContainerState:
        if self.unknown:
            return ContainerState.UNKNOWN
        if self.finished_at:
            return ContainerState.EXITED
        if self.started_at:
            return ContainerState.RUNNING
        return ContainerState.CREATED if created_at else ContainerState.UNKNOWN


class SandboxMetadata(BaseModel):
    """What a pod sandbox was created as; written once."""

    model_config = ConfigDict(frozen=True)

    version: Literal[1] = 1
    id: str
    name: str  # the reserved CRI name: <name>_<namespace>_<uid>_<attempt>
    config: dict[str, Any]  # the CRI PodSandboxConfig as JSON
    runtime_handler: str
    namespaces: dict[str, str] = {}  # kind → pinned path
    infra_container_id: str = ""
    created_at: int


class SandboxStatus(BaseModel):
    """Whether a sandbox is ready, and its network; rewritten atomically."""

    model_config = ConfigDict(frozen=True)

    version: Literal[1] = 1
    ready: bool = False
    ips: tuple[str, ...] = ()
    stopped_at: int = 0
    removing: bool = False
    # UpdatePodSandboxResources' CRI LinuxContainerResources as JSON (containerd keeps them
    # for NRI; the pod's cgroup is the kubelet's).
    resources: dict[str, Any] | None = None
    overhead: dict[str, Any] | None = None
