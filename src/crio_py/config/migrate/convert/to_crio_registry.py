"""containerd registry settings → the registries.conf snippet a CRI-O node needs
(crossmap.md, right to left)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import tomlkit

from crio_py.config.containerd.cri import (
    Registry,
)
from crio_py.config.migrate.convert._common import (
    ConvertContext,
    str_key,
)
from crio_py.config.migrate.convert.containerd_input import (
    ContainerdInput,
    Parts,
)

_REGISTRIES_CONF = (
    "CRI-O reads registries from containers-registries.conf(5), not crio.conf; add this to "
    "/etc/containers/registries.conf (or a file in /etc/containers/registries.conf.d/):\n"
)


def registry_to_crio(ctx: ConvertContext, config: ContainerdInput, parts: Parts) -> None:
    base = str_key(parts.view.registry_path)
    registry = parts.view.registry
    if ctx.is_set((*base, "config_path")):
        ctx.skip((*base, "config_path"), _CONFIG_PATH)
    if ctx.is_set((*base, "mirrors")):
        snippet = _registries_snippet(registry, list(registry.mirrors))
        reason = _REGISTRIES_CONF + snippet if snippet else _NO_MIRRORS
        ctx.skip((*base, "mirrors"), reason)
    for host in registry.configs:
        if ctx.is_set((*base, "configs", host, "auth")):
            ctx.skip((*base, "configs", host, "auth"), _AUTH)
        if ctx.is_set((*base, "configs", host, "tls")):
            ctx.skip((*base, "configs", host, "tls"), _tls_reason(registry, host))
    if ctx.is_set((*base, "auths")):
        ctx.skip((*base, "auths"), _AUTH)
    if ctx.is_set((*base, "headers")):
        ctx.skip((*base, "headers"), "none: CRI-O sends no extra registry headers")


_CONFIG_PATH = (
    "CRI-O reads containers-registries.conf(5) and /etc/containers/certs.d/<host>/ instead of "
    "hosts.toml files: each <dir>/<host>/hosts.toml becomes a [[registry]] location = <host> "
    "with one [[registry.mirror]] per [host.…] entry, and its ca / client files go to "
    "/etc/containers/certs.d/<host>/"
)
_NO_MIRRORS = (
    "CRI-O reads mirrors from containers-registries.conf(5); these endpoints only name the "
    "registries themselves, so nothing needs to be added there"
)
_AUTH = (
    "credentials are not carried (nor shown here): give CRI-O an auth.json (global_auth_file) "
    "or let the kubelet pass ImagePullSecrets / credential-provider credentials"
)


def _tls_reason(registry: Registry, host: str) -> str:
    reason = (
        f"put the CA for {host} in /etc/containers/certs.d/{host}/ca.crt and a client pair as "
        "client.cert / client.key there (containers-certs.d(5))"
    )
    snippet = _registries_snippet(registry, [host])
    return f"{reason}; skip_verify becomes insecure = true:\n{snippet}" if snippet else reason


def _registries_snippet(registry: Registry, hosts: list[str]) -> str:
    """registries.conf [[registry]] entries for the mirrors and insecure hosts of a registry."""
    entries: list[dict[str, Any]] = []
    for host in hosts:
        mirror = registry.mirrors.get(host)
        config = registry.configs.get(host)
        insecure = bool(config and config.tls and config.tls.insecure_skip_verify)
        mirrors = [
            m for m in (_mirror(host, url) for url in (mirror.endpoint if mirror else [])) if m
        ]
        if host in ("*", "_default") or not (mirrors or insecure):
            continue
        entry: dict[str, Any] = {"location": host}
        if insecure:
            entry["insecure"] = True
        if mirrors:
            entry["mirror"] = mirrors
        entries.append(entry)
    return tomlkit.dumps({"registry": entries}).strip() if entries else ""


def _mirror(host: str, url: str) -> dict[str, Any] | None:
    """A [[registry.mirror]] for one containerd endpoint URL (None for the registry itself)."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    segments = [s for s in parts.path.split("/") if s]
    if segments[:1] == ["v2"]:
        segments = segments[1:]
    if segments[-1:] == ["v2"]:
        segments = segments[:-1]
    location = "/".join([parts.netloc, *segments])
    upstream = {host, "registry-1.docker.io", "index.docker.io"} if host == "docker.io" else {host}
    if location in upstream:
        return None
    mirror: dict[str, Any] = {"location": location}
    if parts.scheme == "http":
        mirror["insecure"] = True
    return mirror


# -- what is not carried, and the drop-in filter ------------------------------------------------
