"""containerd registry host files: `<config_path>/<host>/hosts.toml` (docs/hosts.md).

Lookup for a registry host H: in each directory of config_path, `H` with `:port` written as
`_port_`, then `H` itself, then `_default`; the first that exists wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from crio_py.config.diagnostics import Diagnostic
from crio_py.config.rules import Target
from crio_py.config.source import Source
from crio_py.config.types import Duration, Table
from crio_py.config.walk import Walker

CAPABILITIES = ("pull", "resolve", "push")
StrOrList = str | list[str]
ClientCerts = str | list[str] | list[list[str]]


class HostEndpoint(Table):
    """`[host."<url>"]`: one mirror, tried in file order before `server`."""

    capabilities: list[str] = Field(list(CAPABILITIES), description="pull, resolve, push")
    ca: StrOrList | None = Field(None, description="CA file(s), relative to this directory")
    client: ClientCerts | None = Field(None, description="client cert (+key) files or pairs")
    skip_verify: bool = False
    header: dict[str, StrOrList] = {}
    override_path: bool = Field(False, description="the URL path is the API root")
    dial_timeout: Duration = Field("", description="2.1+")


class HostsFile(HostEndpoint):
    """A hosts.toml file: the upstream `server` plus ordered `host` mirrors."""

    server: str = Field("", description="upstream URL tried after every host")
    host: dict[str, HostEndpoint] = {}


def host_dir_names(host: str) -> list[str]:
    """Directory names tried for a registry host, in containerd's order."""
    names = []
    if ":" in host:
        name, _, port = host.rpartition(":")
        names.append(f"{name}_{port}_")
    return [*names, host, "_default"]


def find_hosts_file(config_path: str, host: str) -> Path | None:
    """The hosts.toml containerd would use for a registry host, if any."""
    for directory in filter(None, config_path.split(":")):
        for name in host_dir_names(host):
            candidate = Path(directory) / name / "hosts.toml"
            if candidate.is_file():
                return candidate
    return None


def lint_hosts(source: Source, target: Target) -> tuple[list[Diagnostic], HostsFile]:
    """Lint one hosts.toml file."""
    walker = Walker(source, target, [])
    hosts: HostsFile = walker.run(HostsFile, source.data)
    _check_capabilities(walker, hosts.capabilities, ("capabilities",))
    for url, endpoint in hosts.host.items():
        _check_capabilities(walker, endpoint.capabilities, ("host", url, "capabilities"))
        if "://" in url and not url.startswith(("http://", "https://")):
            walker.report(
                "invalid-value", ("host", url), f'host URL "{url}" must use http:// or https://'
            )
    return walker.diagnostics, hosts


def _check_capabilities(walker: Walker, capabilities: list[str], path: tuple[Any, ...]) -> None:
    for index, capability in enumerate(capabilities):
        if capability not in CAPABILITIES:
            walker.report(
                "invalid-value",
                (*path, index),
                f'capability "{capability}" must be pull, resolve or push; '
                "containerd fails to parse this file",
                value=True,
            )
