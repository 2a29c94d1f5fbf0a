"""Deprecated inline registry settings → `certs.d/<host>/hosts.toml` (containerd docs/hosts.md).

`registry.mirrors."<ns>".endpoint` becomes the ordered `[host."<url>"]` entries of
`<ns>/hosts.toml` (containerd 1.x tried the endpoints in order and the registry itself last,
which is what `server` does); `registry.configs."<host>".tls` becomes `ca`, `client` and
`skip_verify` wherever that host is reached. `configs.*.auth` stays: containerd 2.x still reads
it (deprecated), and `auths."<url>"` becomes `configs."<host>".auth`, as containerd does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import tomlkit
from tomlkit.items import Table
from tomlkit.toml_document import TOMLDocument

from crio_py.config.migrate.report import MigrationResult
from crio_py.config.tomledit import drop, ensure_table, plain, put, table_at

DEFAULT_HOSTS_DIR = "/etc/containerd/certs.d"
DOCKER_HUB = "https://registry-1.docker.io"


def registry_to_hosts(
    doc: TOMLDocument,
    registry_path: tuple[str, ...],
    hosts_dir: str | None,
    result: MigrationResult,
) -> None:
    """Move mirrors and TLS settings of the registry table into hosts.toml files."""
    registry = table_at(doc, registry_path)
    if registry is None:
        return
    base = ".".join(registry_path)
    _auths_to_configs(registry, base, result)
    mirrors = plain(registry.get("mirrors", {}))
    tls = _take_tls(registry, base, result)
    if not mirrors and not tls:
        return
    config_path = str(plain(registry.get("config_path", "")))
    result.hosts_dir = hosts_dir or config_path.split(":")[0] or DEFAULT_HOSTS_DIR
    result.hosts_files.update(hosts_files(mirrors, tls))
    if mirrors:
        drop(registry, "mirrors")
        for namespace in mirrors:
            result.add(
                "converted",
                f"{base}.mirrors.{namespace}",
                f"{result.hosts_dir}/{_dir_name(namespace)}/hosts.toml",
                "deprecated inline mirrors; hosts.toml is read without a restart",
            )
    if not config_path:
        put(registry, "config_path", result.hosts_dir)
        result.add(
            "written", f"{base}.config_path", result.hosts_dir, "where the hosts.toml files are"
        )


def _auths_to_configs(registry: Table, base: str, result: MigrationResult) -> None:
    auths = registry.get("auths")
    if not isinstance(auths, Table):
        return
    for url, auth in list(auths.items()):
        host = urlsplit(url if "://" in url else f"https://{url}").netloc
        configs = ensure_table(registry, ("configs", host))
        if "auth" not in configs:
            configs.add("auth", auth)
        result.add(
            "converted",
            f"{base}.auths.{url}",
            f"{base}.configs.{host}.auth",
            "containerd converts auths the same way; still deprecated: prefer ImagePullSecrets",
        )
    drop(registry, "auths")


def _take_tls(registry: Table, base: str, result: MigrationResult) -> dict[str, dict[str, Any]]:
    configs = registry.get("configs")
    if not isinstance(configs, Table):
        return {}
    tls: dict[str, dict[str, Any]] = {}
    for host, config in list(configs.items()):
        if isinstance(config, Table) and "tls" in config:
            tls[host] = plain(drop(config, "tls"))
            result.add(
                "converted",
                f"{base}.configs.{host}.tls",
                f"ca, client and skip_verify wherever hosts.toml reaches {host}",
                "containerd 2.0 removed configs.*.tls",
            )
            if not config:
                configs.remove(host)
        if isinstance(config, Table) and "auth" in config:
            result.add(
                "kept",
                f"{base}.configs.{host}.auth",
                None,
                "containerd 2.x still reads it (deprecated: prefer ImagePullSecrets)",
            )
    if not configs:
        registry.remove("configs")
    return tls


def hosts_files(mirrors: dict[str, Any], tls: dict[str, dict[str, Any]]) -> dict[str, str]:
    """`<dir>/hosts.toml` text for every mirrored namespace and every host with TLS settings."""
    files: dict[str, str] = {}
    used_tls: set[str] = set()
    for namespace, mirror in mirrors.items():
        endpoints = mirror.get("endpoint", []) if isinstance(mirror, dict) else []
        files[f"{_dir_name(namespace)}/hosts.toml"] = _hosts_file(
            namespace, endpoints, tls, used_tls
        )
    for host in tls:
        if host not in used_tls:
            files[f"{_dir_name(host)}/hosts.toml"] = _hosts_file(host, [], tls, used_tls)
    return files


def _hosts_file(
    namespace: str, endpoints: list[str], tls: dict[str, dict[str, Any]], used: set[str]
) -> str:
    doc = tomlkit.document()
    server = _server(namespace)
    if server:
        doc.add("server", server)
        _apply_tls(doc, urlsplit(server).netloc, tls, used)
    hosts = tomlkit.table(is_super_table=True)
    for endpoint in endpoints:
        url = endpoint if "://" in endpoint else f"https://{endpoint}"
        if server and urlsplit(url).netloc == urlsplit(server).netloc:
            continue  # the registry itself: that is `server`, tried last as before
        entry = tomlkit.table()
        entry.add("capabilities", ["pull", "resolve"])
        _apply_tls(entry, urlsplit(url).netloc, tls, used)
        hosts.add(url, entry)
    if hosts:
        doc.add("host", hosts)
    return tomlkit.dumps(doc)


def _apply_tls(table: Any, host: str, tls: dict[str, dict[str, Any]], used: set[str]) -> None:
    settings = tls.get(host) or tls.get(host.split(":")[0])
    if not settings:
        return
    used.add(host if host in tls else host.split(":")[0])
    if settings.get("ca_file"):
        table.add("ca", settings["ca_file"])
    if settings.get("cert_file"):
        pair = [settings["cert_file"], settings.get("key_file", "")]
        table.add("client", [[item for item in pair if item]])
    if settings.get("insecure_skip_verify"):
        table.add("skip_verify", True)


def _server(namespace: str) -> str:
    if namespace == "*":
        return ""
    if namespace == "docker.io":
        return DOCKER_HUB
    return f"https://{namespace}"


def _dir_name(namespace: str) -> str:
    """The certs.d directory of a namespace: `*` is `_default`, `host:port` is `host_port_`."""
    if namespace == "*":
        return "_default"
    if ":" in namespace:
        host, _, port = namespace.rpartition(":")
        return f"{host}_{port}_"
    return namespace
