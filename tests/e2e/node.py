"""A node for end-to-end tests of pods and containers: `crio-py serve` on a private root,
a CNI network of its own (bridge + portmap + loopback, a random 10.x.y.0/24, never
10.88.0.0/16) and the test images pulled from the local registry.

`leaks()` lists what a test may not leave behind: mounts under the work dir, namespace pins,
cgroups of its containers, and conmon or container processes that name the work dir.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from cri_api.v1 import api_pb2, api_pb2_grpc

from tests.fixtures.catalog import PushedImages
from tests.fixtures.cninet import cni_network
from tests.fixtures.daemon import Daemon, crio_config, daemon_config

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass
class Node:
    """One daemon with its network; `runtime` and `images` are its CRI stubs."""

    daemon: Daemon
    channel: grpc.Channel
    subnet: ipaddress.IPv4Network
    bridge: str
    log_dir: Path
    conf_dir: Path
    container_ids: set[str] = field(default_factory=set)
    busybox: str = ""  # image ids, once pulled
    configured: str = ""

    @property
    def runtime(self) -> api_pb2_grpc.RuntimeServiceStub:
        return api_pb2_grpc.RuntimeServiceStub(self.channel)

    @property
    def images(self) -> api_pb2_grpc.ImageServiceStub:
        return api_pb2_grpc.ImageServiceStub(self.channel)

    def pull(self, image: str) -> str:
        return self.images.PullImage(
            api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=image))
        ).image_ref

    def run_pod(self, name: str, **fields: object) -> tuple[str, api_pb2.PodSandboxConfig]:
        config = pod_config(name, self.log_dir, **fields)
        reply = self.runtime.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=config))
        return reply.pod_sandbox_id, config

    def create(
        self, pod_id: str, pod: api_pb2.PodSandboxConfig, config: api_pb2.ContainerConfig
    ) -> str:
        request = api_pb2.CreateContainerRequest(
            pod_sandbox_id=pod_id, config=config, sandbox_config=pod
        )
        container_id = self.runtime.CreateContainer(request).container_id
        self.container_ids.add(container_id)
        return container_id

    def start(self, container_id: str) -> None:
        self.runtime.StartContainer(api_pb2.StartContainerRequest(container_id=container_id))

    def status(self, container_id: str, verbose: bool = False) -> api_pb2.ContainerStatus:
        request = api_pb2.ContainerStatusRequest(container_id=container_id, verbose=verbose)
        return self.runtime.ContainerStatus(request).status

    def exec(self, container_id: str, *cmd: str, timeout: int = 10) -> api_pb2.ExecSyncResponse:
        request = api_pb2.ExecSyncRequest(container_id=container_id, cmd=list(cmd), timeout=timeout)
        return self.runtime.ExecSync(request, timeout=timeout + 20)

    def remove_everything(self) -> None:
        for item in self.runtime.ListPodSandbox(api_pb2.ListPodSandboxRequest()).items:
            self.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=item.id))
        for item in self.runtime.ListContainers(api_pb2.ListContainersRequest()).containers:
            self.runtime.RemoveContainer(api_pb2.RemoveContainerRequest(container_id=item.id))

    def leaks(self) -> list[str]:
        """What is left of this node's pods and containers."""
        work = str(self.daemon.workdir)
        found = [f"mount {m}" for m in mount_points() if m.startswith(work)]
        wanted = set(self.container_ids)
        found += [f"cgroup {d}" for d in cgroups_named(wanted)]
        daemon_pid = self.daemon.process.pid if self.daemon.process else -1
        found += [
            f"process {pid}: {line}"
            for pid, line in processes_naming(work)
            if pid != daemon_pid and not _is_relay_of(pid, daemon_pid, line)
        ]
        return found


def cgroups_named(names: set[str]) -> list[Path]:
    """The cgroup directories with one of these names, in every hierarchy. A walk that
    ignores directories vanishing under it: other work on the host removes its cgroups
    meanwhile (a glob raised FileNotFoundError then)."""
    found = []
    for top, directories, _ in os.walk(CGROUP_ROOT, onerror=lambda _: None):
        found += [Path(top) / name for name in directories if _cgroup_id(name) in names]
    return found


def _is_relay_of(pid: int, daemon_pid: int, line: str) -> bool:
    """The daemon's own socket relay (a CRI-O configuration), which lives as long as it."""
    try:
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return False
    return parent == daemon_pid and "crio_py.relay" in line


def _cgroup_id(name: str) -> str:
    """The container id a cgroup is named for: <id>, CRI-O's crio-<id> or crio-<id>.scope."""
    return name.removeprefix("crio-").removesuffix(".scope")


def pod_config(name: str, log_dir: Path, **fields: object) -> api_pb2.PodSandboxConfig:
    options = api_pb2.NamespaceOption(pid=api_pb2.CONTAINER)
    return api_pb2.PodSandboxConfig(
        metadata=api_pb2.PodSandboxMetadata(name=name, namespace="e2e", uid=secrets.token_hex(8)),
        hostname=name,
        log_directory=str(log_dir / name),
        labels={"app": name},
        linux=api_pb2.LinuxPodSandboxConfig(
            security_context=api_pb2.LinuxSandboxSecurityContext(namespace_options=options)
        ),
        **fields,  # type: ignore[arg-type]
    )


def container_config(
    name: str, image: str, *args: str, **fields: object
) -> api_pb2.ContainerConfig:
    options = api_pb2.NamespaceOption(pid=api_pb2.CONTAINER)
    linux = fields.pop("linux", None) or api_pb2.LinuxContainerConfig(
        security_context=api_pb2.LinuxContainerSecurityContext(namespace_options=options)
    )
    return api_pb2.ContainerConfig(
        metadata=api_pb2.ContainerMetadata(name=name),
        image=api_pb2.ImageSpec(image=image),
        args=list(args),
        log_path=f"{name}.log",
        linux=linux,  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


def mount_points() -> set[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as stream:
        return {line.split()[4] for line in stream}


def processes_naming(text: str) -> list[tuple[int, str]]:
    """Processes whose command line contains `text`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        line = raw.replace(b"\0", b" ").decode(errors="replace")
        if text in line:
            found.append((int(entry), line[:200]))
    return found


@contextmanager
def node(
    workdir: Path, registry_host: str, extra_config: str = "", *, crio: str | None = None
) -> Iterator[Node]:
    """A started daemon with a network; everything is removed afterwards. The daemon reads a
    containerd configuration with `extra_config` appended, or with `crio` given, a CRI-O one
    with `crio` inserted in its [crio.runtime] table."""
    with cni_network(workdir) as network:
        daemon = Daemon(workdir / "crio")
        daemon.trust(registry_host, plain_http=True)
        if crio is None:
            config = daemon_config(daemon, network.conf_dir, registry_host, extra_config)
        else:
            config = crio_config(daemon, network.conf_dir, registry_host, crio)
        daemon.config.write_text(config, encoding="utf-8")
        with daemon, daemon.channel() as channel:
            log_dir = workdir / "pods"
            current = Node(
                daemon, channel, network.subnet, network.bridge, log_dir, network.conf_dir
            )
            try:
                yield current
            finally:
                if current.daemon.process is not None:
                    current.remove_everything()


@contextmanager
def crio_node_with_busybox(workdir: Path, pushed_images: PushedImages) -> Iterator[Node]:
    """A node on a CRI-O configuration that runs infra containers, busybox pulled; afterwards
    nothing of its pods may be left."""
    registry = pushed_images.registries["plain"].host
    with node(workdir, registry, crio="drop_infra_ctr = false\n") as current:
        current.busybox = current.pull(pushed_images.ref("plain", "busybox"))
        yield current
        current.remove_everything()
        assert current.leaks() == []
