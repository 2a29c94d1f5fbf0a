"""Sandbox records as CRI messages (cri/sandbox/query.py)."""

from __future__ import annotations

import gc
import weakref

from cri_api.v1 import api_pb2

from crio_py.cri.sandbox import query
from crio_py.store.records import SandboxMetadata, SandboxStatus


def _metadata(name: str) -> SandboxMetadata:
    config = api_pb2.PodSandboxConfig(
        metadata=api_pb2.PodSandboxMetadata(name=name, namespace="ns", uid="u"),
        labels={"app": name},
    )
    return SandboxMetadata(
        id=f"{name}-id",
        name=name,
        config=query.config_to_json(config),
        runtime_handler="runc",
        created_at=1,
    )


def test_a_config_is_parsed_once_per_record() -> None:
    metadata = _metadata("web")
    first = query.pod_sandbox(metadata, SandboxStatus(ready=True))
    assert (first.metadata.name, dict(first.labels)) == ("web", {"app": "web"})
    assert query.parsed_config(metadata) is query.parsed_config(metadata)
    status = query.pod_sandbox_status(metadata, SandboxStatus(ready=False))
    assert (status.metadata.name, status.state) == ("web", api_pb2.SANDBOX_NOTREADY)


def test_the_parsed_config_goes_with_its_record() -> None:
    gc.collect()
    before = len(query._parsed)
    metadata = _metadata("gone")
    query.parsed_config(metadata)
    assert len(query._parsed) == before + 1
    record = weakref.ref(metadata)
    del metadata
    gc.collect()
    assert record() is None and len(query._parsed) == before  # the cache kept nothing alive
    other = _metadata("other")  # may reuse the id of the old object: never its config
    assert query.parsed_config(other).metadata.name == "other"
