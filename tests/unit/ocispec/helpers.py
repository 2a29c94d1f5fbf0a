"""Shared builders for the spec tests: CRI messages with defaults, an image's passwd and
group files, settings variants."""

from __future__ import annotations

from typing import Any

from cri_api.v1 import api_pb2 as pb

from crio_py.config.model import RuntimeSettings
from crio_py.ocispec import HostFeatures

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
# a comment line
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:App:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
broken line without fields
"""
GROUP = """\
root:x:0:
daemon:x:1:
wheel:x:10:app,bob
app:x:1000:app
audio:x:29:app
staff:x:50:bob
nogroup:x:65534:
"""
# A root daemon with CAP_SYS_RESOURCE on an amd64 cgroup v1 host without AppArmor.
HOST = HostFeatures(arch="amd64", can_lower_oom_score_adj=True)


def sandbox_config(**linux: Any) -> pb.PodSandboxConfig:
    """A PodSandboxConfig with metadata and the given `linux` fields."""
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name="web", namespace="default", uid="pod-uid"),
        hostname="web-host",
        log_directory="/var/log/pods/default_web_pod-uid",
        linux=pb.LinuxPodSandboxConfig(**linux),
    )


def container_config(
    security: pb.LinuxContainerSecurityContext | None = None, **fields: Any
) -> pb.ContainerConfig:
    """A ContainerConfig named "app" running `sh` unless `fields` say otherwise."""
    fields.setdefault("command", ["sh"])
    linux = fields.pop("linux", None) or pb.LinuxContainerConfig()
    if security is not None:
        linux.security_context.CopyFrom(security)
    return pb.ContainerConfig(metadata=pb.ContainerMetadata(name="app"), linux=linux, **fields)


def with_security(settings: RuntimeSettings, **security: Any) -> RuntimeSettings:
    """`settings` with some SecuritySettings fields replaced."""
    return settings.model_copy(update={"security": settings.security.model_copy(update=security)})


def with_defaults(settings: RuntimeSettings, **defaults: Any) -> RuntimeSettings:
    """`settings` with some ContainerDefaults fields replaced."""
    updated = settings.container_defaults.model_copy(update=defaults)
    return settings.model_copy(update={"container_defaults": updated})
