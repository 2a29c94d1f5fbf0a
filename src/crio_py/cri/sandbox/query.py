"""Sandbox records → CRI messages, and the ListPodSandbox filters. Pure functions: no I/O.

The stored config is the CRI PodSandboxConfig as JSON (`MessageToDict`); it is parsed back
here, so labels, annotations and metadata always come from what the kubelet sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cri_api.v1 import api_pb2

from crio_py.cri.convert import message_from_json, message_to_json
from crio_py.cri.memo import PerObject
from crio_py.store.records import SandboxMetadata, SandboxStatus


def config_to_json(config: api_pb2.PodSandboxConfig) -> dict[str, Any]:
    """What `SandboxMetadata.config` holds."""
    return message_to_json(config)


def config_from_json(data: Mapping[str, Any]) -> api_pb2.PodSandboxConfig:
    """The PodSandboxConfig back from `SandboxMetadata.config`."""
    return message_from_json(data, api_pb2.PodSandboxConfig())


# Parsed configs of the sandboxes' metadata: ListPodSandbox and PodSandboxStatus are polled,
# and protobuf's JSON parser is slow.
_parsed: PerObject[SandboxMetadata, api_pb2.PodSandboxConfig] = PerObject()


def parsed_config(metadata: SandboxMetadata) -> api_pb2.PodSandboxConfig:
    """The sandbox's config, parsed once; read-only (copy it before changing it)."""
    return _parsed.get(metadata, lambda m: config_from_json(m.config))


def namespace_options(config: api_pb2.PodSandboxConfig) -> api_pb2.NamespaceOption:
    """The sandbox's namespace modes (all POD when the config names none)."""
    return config.linux.security_context.namespace_options


def state_of(status: SandboxStatus) -> int:
    """SANDBOX_READY or SANDBOX_NOTREADY."""
    return api_pb2.SANDBOX_READY if status.ready else api_pb2.SANDBOX_NOTREADY


def pod_sandbox(metadata: SandboxMetadata, status: SandboxStatus) -> api_pb2.PodSandbox:
    """One ListPodSandbox item."""
    config = parsed_config(metadata)
    return api_pb2.PodSandbox(
        id=metadata.id,
        metadata=config.metadata,
        state=state_of(status),  # type: ignore[arg-type]
        created_at=metadata.created_at,
        labels=dict(config.labels),
        annotations=dict(config.annotations),
        runtime_handler=metadata.runtime_handler,
    )


def pod_sandbox_status(
    metadata: SandboxMetadata, status: SandboxStatus
) -> api_pb2.PodSandboxStatus:
    """PodSandboxStatus.status."""
    config = parsed_config(metadata)
    network = api_pb2.PodSandboxNetworkStatus()
    if status.ips:
        network.ip = status.ips[0]
        network.additional_ips.extend(api_pb2.PodIP(ip=ip) for ip in status.ips[1:])
    linux = api_pb2.LinuxPodSandboxStatus(
        namespaces=api_pb2.Namespace(options=namespace_options(config))
    )
    return api_pb2.PodSandboxStatus(
        id=metadata.id,
        metadata=config.metadata,
        state=state_of(status),  # type: ignore[arg-type]
        created_at=metadata.created_at,
        network=network,
        linux=linux,
        labels=dict(config.labels),
        annotations=dict(config.annotations),
        runtime_handler=metadata.runtime_handler,
    )


def matches(sandbox: api_pb2.PodSandbox, sandbox_filter: api_pb2.PodSandboxFilter | None) -> bool:
    """Whether a sandbox passes the state and label filters (the id is resolved before)."""
    if sandbox_filter is None:
        return True
    if sandbox_filter.HasField("state") and sandbox.state != sandbox_filter.state.state:
        return False
    return all(sandbox.labels.get(k) == v for k, v in sandbox_filter.label_selector.items())
