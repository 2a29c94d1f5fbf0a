"""The per-sandbox files containers bind-mount later: `hosts`, `resolv.conf` and `hostname`,
under `<root_dir>/sandboxes/<id>/` (as CRI-O keeps them in the sandbox's run directory).

Pure file writing; nothing here touches a namespace or the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cri_api.v1 import api_pb2

from crio_py.fsutil import atomic_write_text

HOST_HOSTS = Path("/etc/hosts")
HOST_RESOLV_CONF = Path("/etc/resolv.conf")
LOCALHOST_LINES = (
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
)


@dataclass(frozen=True)
class SandboxFiles:
    """Where one sandbox's files are."""

    hosts_path: Path
    resolv_conf_path: Path
    hostname_path: Path

    @classmethod
    def under(cls, directory: Path) -> SandboxFiles:
        return cls(directory / "hosts", directory / "resolv.conf", directory / "hostname")


def hosts_text(hostname: str, ips: Sequence[str], *, host_network: bool) -> str:
    """`/etc/hosts`: the host's own for a host-network sandbox (CRI-O copies it), otherwise
    localhost plus the sandbox's addresses under its hostname."""
    if host_network:
        try:
            return HOST_HOSTS.read_text(encoding="utf-8")
        except OSError:
            pass
    lines = [*LOCALHOST_LINES, *(f"{ip}\t{hostname}" for ip in ips)]
    return "\n".join(lines) + "\n"


def resolv_conf_text(dns: api_pb2.DNSConfig | None) -> str:
    """`/etc/resolv.conf` from the DNSConfig; the host's when the config has none (CRI-O)."""
    if dns is None or not (dns.servers or dns.searches or dns.options):
        try:
            return HOST_RESOLV_CONF.read_text(encoding="utf-8")
        except OSError:
            return ""
    lines = [f"nameserver {server}" for server in dns.servers]
    if dns.searches:
        lines.append("search " + " ".join(dns.searches))
    if dns.options:
        lines.append("options " + " ".join(dns.options))
    return "\n".join(lines) + "\n"


def write_files(
    directory: Path,
    *,
    hostname: str,
    ips: Sequence[str],
    host_network: bool,
    dns: api_pb2.DNSConfig | None,
) -> SandboxFiles:
    """Write the three files and say where they are."""
    directory.mkdir(parents=True, exist_ok=True)
    files = SandboxFiles.under(directory)
    atomic_write_text(files.hosts_path, hosts_text(hostname, ips, host_network=host_network))
    atomic_write_text(files.resolv_conf_path, resolv_conf_text(dns))
    atomic_write_text(files.hostname_path, hostname + "\n")
    return files


@dataclass(frozen=True)
class PodFiles:
    """What a sandbox's files are written from; `write` (again) once the IPs are known."""

    directory: Path
    hostname: str
    host_network: bool
    config: api_pb2.PodSandboxConfig

    def write(self, ips: Sequence[str]) -> SandboxFiles:
        dns = self.config.dns_config if self.config.HasField("dns_config") else None
        return write_files(
            self.directory, hostname=self.hostname, ips=ips, host_network=self.host_network, dns=dns
        )
