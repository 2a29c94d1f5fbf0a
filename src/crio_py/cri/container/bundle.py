"""The OCI bundle of a container: gathers what the spec builders need (sandbox, handler, host
facts, image) into a request, builds the spec and writes `config.json`."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

from cri_api.v1 import api_pb2

from crio_py.config.model import RuntimeSettings
from crio_py.cri.container import cdi, host
from crio_py.cri.container.layout import Layout, Runtimes
from crio_py.cri.image import ContainerImage
from crio_py.cri.sandbox.query import config_from_json as sandbox_config_from_json
from crio_py.cri.sandbox.records import SandboxEntry, SandboxRecords
from crio_py.fsutil import atomic_write_text, private_dir
from crio_py.ocispec import HostFeatures, SandboxSpecRequest, SpecRequest
from crio_py.ocispec import container_spec as build_container_spec
from crio_py.ocispec import sandbox_spec as build_sandbox_spec
from crio_py.store.records import ProcessUser

Spec = dict[str, object]


@dataclass(frozen=True)
class BundleWriter:
    """Writes bundles for one daemon."""

    settings: RuntimeSettings
    layout: Layout
    runtimes: Runtimes
    sandboxes: SandboxRecords
    host: HostFeatures
    daemon_oom_score_adj: int

    def container(
        self,
        container_id: str,
        config: api_pb2.ContainerConfig,
        sandbox: SandboxEntry,
        image: ContainerImage,
        rootfs: Path,
        pid_namespace: str = "",
    ) -> Spec:
        """config.json of a CRI container; `pid_namespace` is the path of one to join."""
        common = self._common(sandbox, image, rootfs, pid_namespace)
        handler = self.runtimes.handler(sandbox.metadata.runtime_handler)
        sc = config.linux.security_context
        privileged = sc.privileged and not handler.privileged_without_host_devices
        request = SpecRequest(
            **common,  # type: ignore[arg-type]
            image_name=next(iter(image.record.repo_tags), config.image.image),
            container_id=container_id,
            config=config,
            host_devices=host.host_devices(config.devices, all_of_dev=privileged),
        )
        spec = build_container_spec(request)
        cdi.apply_devices(spec, config, self.settings.cdi_spec_dirs)
        return self._write(container_id, sandbox, spec)

    def infra(
        self, container_id: str, sandbox: SandboxEntry, image: ContainerImage, rootfs: Path
    ) -> Spec:
        """config.json of a sandbox's infra (pause) container."""
        common = self._common(sandbox, image, rootfs, "")
        name = next(iter(image.record.repo_tags), self.settings.sandbox_image)
        request = SandboxSpecRequest(**common, image_name=name)  # type: ignore[arg-type]
        return self._write(container_id, sandbox, build_sandbox_spec(request))

    def _common(
        self, sandbox: SandboxEntry, image: ContainerImage, rootfs: Path, pid_namespace: str
    ) -> dict[str, object]:
        """The PodRequest fields every spec of this sandbox shares."""
        sandbox_config = sandbox_config_from_json(sandbox.metadata.config)
        handler = self.runtimes.handler(sandbox.metadata.runtime_handler)
        paths = self.sandboxes.namespace_paths(sandbox)
        if pid_namespace:
            paths["pid"] = pid_namespace
        fields: dict[str, object] = {
            "sandbox_id": sandbox.metadata.id,
            "sandbox_config": sandbox_config,
            "image_config": image.config,
            "rootfs_path": rootfs,
            "settings": self.settings,
            "namespace_paths": paths,
            "cgroup_parent": sandbox_config.linux.cgroup_parent,
            "cgroup_driver": handler.cgroup_driver,
            # containerd: HOSTNAME is the node's when the sandbox has no hostname.
            "hostname": sandbox_config.hostname or socket.gethostname(),
            "sandbox_files": self.sandboxes.container_files(sandbox),
            "daemon_oom_score_adj": self.daemon_oom_score_adj,
            "host": self.host,
            "handler": handler,
            "infra_container": bool(sandbox.metadata.infra_container_id),
        }
        return fields

    def _write(self, container_id: str, sandbox: SandboxEntry, spec: Spec) -> Spec:
        bundle = self.layout.bundle(container_id)
        idmap = self.sandboxes.idmap(sandbox)
        private_dir(bundle, group=idmap.root_gid if idmap else None)
        atomic_write_text(bundle / "config.json", json.dumps(spec, indent=1))
        return spec


def process_user(spec: Spec) -> ProcessUser:
    """The identity the spec runs its process as (what ContainerStatus reports)."""
    process = spec["process"]
    assert isinstance(process, dict)
    user = process["user"]
    return ProcessUser(
        uid=user["uid"], gid=user["gid"], additional_gids=tuple(user.get("additionalGids", ()))
    )
