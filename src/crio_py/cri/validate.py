"""Checks of what RunPodSandbox, CreateContainer and the exec RPCs carry, made before anything
is created, so that a malformed request is INVALID_ARGUMENT and not a failure halfway (an
embedded NUL that `os` refuses, a port the portmap plugin refuses, a sysctl runc refuses).

containerd and CRI-O trust the kubelet for most of this; a hostile or broken client is not
the kubelet, so the rules follow what Kubernetes itself validates: names are at most 253
bytes and are no paths (they name records and go to CNI as K8S_POD_NAME), ports are in range,
DNS settings are single words, sysctls are namespaced. Messages quote values with
`errors.quote`, which cuts a long one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from cri_api.v1 import api_pb2

from crio_py.config.model import CgroupDriver
from crio_py.errors import InvalidArgumentError, quote
from crio_py.ocispec.resources import cgroups_path, validate_sysctl

NAME_LIMIT = 253
"""Bytes of a metadata name, namespace or uid (a Kubernetes DNS subdomain is at most 253)."""
PATH_MAX = 4096
"""Linux's limit on a path, with its terminating NUL."""
_NAMESPACE_MODES = frozenset(api_pb2.NamespaceMode.values())
_PROTOCOLS = frozenset(api_pb2.Protocol.values())


def no_nul(what: str, value: str) -> None:
    """A string the kernel takes as a C string (a path, an argument, an environment entry)."""
    if "\0" in value:
        raise InvalidArgumentError(f"{what} {quote(value)} contains a NUL byte")


def name(what: str, value: str) -> None:
    """A metadata name, namespace or uid: short, and no path."""
    no_nul(what, value)
    if len(value.encode()) > NAME_LIMIT:
        raise InvalidArgumentError(f"{what} {quote(value)} is longer than {NAME_LIMIT} bytes")
    if "/" in value or value in (".", ".."):
        raise InvalidArgumentError(f"{what} {quote(value)} cannot be a path")


def absolute_path(what: str, value: str) -> None:
    """A host path the daemon will open or create."""
    no_nul(what, value)
    if not value.startswith("/"):
        raise InvalidArgumentError(f"{what} {quote(value)} is not an absolute path")
    if len(value.encode()) >= PATH_MAX:
        raise InvalidArgumentError(f"{what} {quote(value)} is longer than PATH_MAX")


def command(what: str, argv: Iterable[str]) -> None:
    """A command line for execve: no argument may hold a NUL."""
    for arg in argv:
        no_nul(f"{what} argument", arg)


def sandbox_config(config: api_pb2.PodSandboxConfig, cgroup_driver: CgroupDriver) -> None:
    """RunPodSandbox's config, before a namespace is pinned or a name reserved."""
    meta = config.metadata
    missing = [f for f in ("name", "namespace", "uid") if not getattr(meta, f)]
    if missing:
        raise InvalidArgumentError(f"sandbox metadata lacks {', '.join(missing)}")
    for field in ("name", "namespace", "uid"):
        name(f"sandbox metadata {field}", getattr(meta, field))
    if config.log_directory:
        absolute_path("log_directory", config.log_directory)
    _port_mappings(config.port_mappings)
    if config.HasField("dns_config"):
        _dns(config.dns_config)
    _namespace_modes(config.linux.security_context.namespace_options)
    for key, value in config.linux.sysctls.items():
        validate_sysctl(key, value)
    parent = config.linux.cgroup_parent
    if parent:
        no_nul("cgroup_parent", parent)
        if ".." in parent.split("/"):
            raise InvalidArgumentError(f"cgroup_parent {quote(parent)} cannot contain '..'")
        cgroups_path(parent, cgroup_driver, "x")  # what the spec builder will refuse


def container_config(config: api_pb2.ContainerConfig) -> None:
    """CreateContainer's config, before its name is reserved or its rootfs mounted."""
    if not config.metadata.name:
        raise InvalidArgumentError("container metadata lacks a name")
    name("container metadata name", config.metadata.name)
    if not config.image.image:
        raise InvalidArgumentError("container config names no image")
    command("command", config.command)
    command("args", config.args)
    for env in config.envs:
        no_nul("environment variable", f"{env.key}={env.value}")
        if not env.key or "=" in env.key:
            raise InvalidArgumentError(f"environment variable name {quote(env.key)} is invalid")
    no_nul("working_dir", config.working_dir)
    _namespace_modes(config.linux.security_context.namespace_options)


def _port_mappings(mappings: Iterable[api_pb2.PortMapping]) -> None:
    for mapping in mappings:
        port = f"port mapping {mapping.host_port}->{mapping.container_port}"
        if not 0 < mapping.container_port < 65536:
            raise InvalidArgumentError(f"{port}: container_port not in 1..65535")
        if not 0 <= mapping.host_port < 65536:
            raise InvalidArgumentError(f"{port}: host_port not in 0..65535")
        if mapping.protocol not in _PROTOCOLS:
            raise InvalidArgumentError(f"{port}: unknown protocol {mapping.protocol}")
        if mapping.host_ip:
            try:
                ipaddress.ip_address(mapping.host_ip)
            except ValueError:
                raise InvalidArgumentError(
                    f"{port}: host_ip {quote(mapping.host_ip)} is not an IP address"
                ) from None


def _dns(dns: api_pb2.DNSConfig) -> None:
    """Each entry becomes a word of resolv.conf: no space or newline may split it."""
    for server in dns.servers:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise InvalidArgumentError(f"DNS server {quote(server)} is not an IP address") from None
    for what, words in (("DNS search domain", dns.searches), ("DNS option", dns.options)):
        for word in words:
            if not word or any(c.isspace() or c == "\0" for c in word):
                raise InvalidArgumentError(f"{what} {quote(word)} is not a single word")
            if len(word.encode()) > NAME_LIMIT:
                raise InvalidArgumentError(f"{what} {quote(word)} is longer than {NAME_LIMIT}")


def _namespace_modes(options: api_pb2.NamespaceOption) -> None:
    for kind in ("network", "pid", "ipc"):
        mode = getattr(options, kind)
        if mode not in _NAMESPACE_MODES:
            raise InvalidArgumentError(f"{kind} namespace mode {mode} is unknown")
