"""`SandboxService`: what the pod sandbox RPCs share, and their table. A sandbox is a set of
pinned namespaces, a sized /dev/shm, a CNI attachment, three files, its records and, when the
pod shares its PID namespace or the configuration asks for one, an infra container
(`PodMembers.run_infra`).

Each RPC is a function of the service in the module named for it (`run`, `lifecycle`,
`status`, `runtime_config`). Pins gone while a record says ready means the host rebooted:
such a sandbox is loaded NOTREADY (`recover`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Protocol

from crio_py.config.model import RuntimeHandler, RuntimeSettings
from crio_py.cri.rpcs import Handler
from crio_py.cri.sandbox import (
    lifecycle,
    recover,
    run,
    runtime_config,
    status,
    update_resources,
)
from crio_py.cri.sandbox.network import PodNetwork
from crio_py.cri.sandbox.records import SandboxEntry, SandboxRecords
from crio_py.cri.sandbox.seams import NamespaceOps, NetworkPlugin


class PodMembers(Protocol):
    """What stopping and removing a sandbox does to its containers (the container service)."""

    async def stop_all(self, sandbox_id: str) -> None:
        """Stop every container of the sandbox (SIGKILL, as StopPodSandbox does)."""

    async def remove_all(self, sandbox_id: str) -> None:
        """Remove every container of the sandbox."""

    async def run_infra(self, sandbox: SandboxEntry) -> None:
        """Create and start the sandbox's infra container."""

    def announce(self, sandbox_id: str, kind: int) -> None:
        """Tell GetContainerEvents subscribers the sandbox changed (a CONTAINER_*_EVENT)."""


class SandboxService:
    """The pod sandbox RPCs over `records`; `network`, `namespaces` and `members` are seams."""

    def __init__(
        self,
        settings: RuntimeSettings,
        records: SandboxRecords,
        *,
        network: NetworkPlugin,
        members: PodMembers,
        namespaces: NamespaceOps,
        user_namespaces: Callable[[RuntimeHandler], bool],
    ) -> None:
        self.settings = settings
        self.records = records
        # Whether a handler can run a pod in a user namespace (the host's features say).
        self.user_namespaces = user_namespaces
        self.network = network
        self.pod_network = PodNetwork(network)
        self.namespaces = namespaces
        self.members = members

    def rpcs(self) -> dict[str, Handler]:
        """The pod sandbox RPCs."""
        return {
            "RunPodSandbox": partial(run.run_pod_sandbox, self),
            "StopPodSandbox": partial(lifecycle.stop_pod_sandbox, self),
            "RemovePodSandbox": partial(lifecycle.remove_pod_sandbox, self),
            "PodSandboxStatus": partial(status.pod_sandbox_status, self),
            "ListPodSandbox": partial(status.list_pod_sandbox, self),
            "UpdateRuntimeConfig": partial(runtime_config.update_runtime_config, self),
            "UpdatePodSandboxResources": partial(
                update_resources.update_pod_sandbox_resources, self
            ),
        }

    def reload_settings(self, settings: RuntimeSettings) -> None:
        """SIGHUP: the next request reads `settings`."""
        self.settings = settings

    async def load(self) -> None:
        """Load the records and settle what changed while the daemon was away."""
        await recover.load(self)
