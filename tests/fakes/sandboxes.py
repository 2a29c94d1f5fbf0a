"""Fakes for the sandbox service's seams: a CNI plugin handing out 10.99.0.N addresses, the
namespace functions as plain bookkeeping, the container side of a pod as a call log, and
`World`, a `SandboxService` over all of them. None of it needs root."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from crio_py.backends.cni_types import (
    LOOPBACK_NETWORK,
    CachedAttachment,
    CniIp,
    CniResult,
    CniSandbox,
    NetworkConfig,
    PluginConfig,
)
from crio_py.backends.netns import IdMaps
from crio_py.config.load import load_settings
from crio_py.config.model import RuntimeSettings
from crio_py.cri.sandbox import NamespaceOps, SandboxRecords, SandboxService
from crio_py.cri.sandbox.records import SandboxEntry
from crio_py.errors import UnavailableError

NETWORK = NetworkConfig(
    name="pods", cni_version="1.0.0", plugins=(PluginConfig("bridge", {"type": "bridge"}),)
)


class FakeNetworkPlugin:
    """Hands out 10.99.0.N addresses; `fail_add` makes ADD fail."""

    def __init__(self, network: NetworkConfig | None = NETWORK) -> None:
        self.network = network
        self.fail_add = False
        self.fail_delete = False
        self.added: dict[str, CniSandbox] = {}
        self.deleted: list[CniSandbox] = []
        self.loopback: set[str] = set()  # sandboxes whose lo the loopback network brought up
        self._next = 2

    def load(self) -> NetworkConfig | None:
        return self.network

    async def add(self, network: NetworkConfig, sandbox: CniSandbox) -> CniResult:
        if network == LOOPBACK_NETWORK:
            self.loopback.add(sandbox.container_id)
            return CniResult("0.3.1", raw={})
        if self.fail_add:
            raise UnavailableError("CNI ADD failed")
        ip = f"10.99.0.{self._next}"
        self._next += 1
        self.added[sandbox.container_id] = sandbox
        return CniResult("1.0.0", ips=(CniIp(f"{ip}/24"), CniIp("fd00::5/64")), raw={"ip": ip})

    async def delete(self, network: NetworkConfig | None, sandbox: CniSandbox) -> None:
        if self.fail_delete:
            raise UnavailableError("CNI DEL failed")
        if network in (None, LOOPBACK_NETWORK):  # None: every cached network, lo included
            self.loopback.discard(sandbox.container_id)
        if network == LOOPBACK_NETWORK:
            return
        self.deleted.append(sandbox)
        self.added.pop(sandbox.container_id, None)

    def cached_attachments(self, container_id: str) -> list[CachedAttachment]:
        sandbox = self.added.get(container_id)
        if sandbox is None or self.network is None:
            return []
        return [
            CachedAttachment(
                self.network,
                container_id,
                "eth0",
                sandbox.netns_path,
                (),
                {},
                {"cniVersion": "1.0.0"},
            )
        ]


class FakeNamespaces:
    """Pins as plain bookkeeping; `fail_create` makes creation fail."""

    def __init__(self) -> None:
        self.pinned: set[Path] = set()
        self.hostnames: dict[str, str | None] = {}
        self.kinds: dict[str, list[str]] = {}
        self.id_maps: dict[str, IdMaps | None] = {}
        self.fail_create = False
        self.removed: list[Path] = []
        self.shm: set[Path] = set()

    async def create(
        self,
        pin_dir: Path,
        sandbox_id: str,
        kinds: Sequence[str],
        hostname: str | None,
        id_maps: IdMaps | None,
    ) -> dict[str, Path]:
        if self.fail_create:
            raise UnavailableError("unshare failed")
        paths = {kind: pin_dir / f"{kind}ns" / sandbox_id for kind in kinds}
        self.pinned.update(paths.values())
        self.hostnames[sandbox_id] = hostname
        self.id_maps[sandbox_id] = id_maps
        self.kinds[sandbox_id] = list(kinds)
        return paths

    async def remove(self, paths: Mapping[str, Path]) -> None:
        for path in paths.values():
            self.pinned.discard(path)
            self.removed.append(path)

    def is_pinned(self, path: Path) -> bool:
        return path in self.pinned

    async def mount_shm(self, path: Path) -> None:
        self.shm.add(path)

    async def unmount_shm(self, path: Path) -> None:
        self.shm.discard(path)

    def ops(self) -> NamespaceOps:
        return NamespaceOps(
            create=self.create,
            remove=self.remove,
            is_pinned=self.is_pinned,
            mount_shm=self.mount_shm,
            unmount_shm=self.unmount_shm,
        )


def settings_in(tmp_path: Path, **update: object) -> RuntimeSettings:
    settings, _ = load_settings(None)
    return settings.model_copy(
        update={
            "root_dir": tmp_path / "root",
            "state_dir": tmp_path / "state",
            # The embedded default is containerd's, which always wants an infra container.
            "drop_infra_container": True,
            **update,
        }
    )


class World:
    """A `SandboxService` on the fakes, with settings under `tmp_path`."""

    def __init__(self, tmp_path: Path, **update: object) -> None:
        self.settings = settings_in(tmp_path, **update)
        self.network = FakeNetworkPlugin()
        self.ns = FakeNamespaces()
        self.userns_handlers = {"runc"}  # the handlers that can run user namespaces here
        self.members = FakeMembers()
        self.service = self.restarted()

    def restarted(self) -> SandboxService:
        """A service over fresh records (as after a restart), not loaded yet."""
        return SandboxService(
            self.settings,
            SandboxRecords(self.settings),
            network=self.network,
            members=self.members,
            namespaces=self.ns.ops(),
            user_namespaces=lambda handler: handler.name in self.userns_handlers,
        )


class FakeMembers:
    """The container service as the sandbox service sees it; `fail_infra` makes it fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.announced: list[tuple[str, int]] = []
        self.fail_infra = False

    def announce(self, sandbox_id: str, kind: int) -> None:
        self.announced.append((sandbox_id, kind))

    async def stop_all(self, sandbox_id: str) -> None:
        self.calls.append(("stop_all", sandbox_id))

    async def remove_all(self, sandbox_id: str) -> None:
        self.calls.append(("remove_all", sandbox_id))

    async def run_infra(self, sandbox: SandboxEntry) -> None:
        self.calls.append(("run_infra", sandbox.metadata.id))
        if self.fail_infra:
            raise UnavailableError("pause image not found")
