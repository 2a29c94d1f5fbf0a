"""Where and how to pull from a registry host, from RuntimeSettings and hosts.toml files.

Order of endpoints, as containerd resolves them: the `host` entries of the registry's
hosts.toml then its `server`; without hosts.toml, the legacy `registry.mirrors` of the host
(or of `*`) then the registry itself. Credentials: registry.configs.<host>.auth / auths, then a
docker-style auth file (CRI-O's global_auth_file). The CRI request's AuthConfig wins over both
(the caller decides that).
"""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import ValidationError

from crio_py.config.model import Credentials, Endpoint, RegistrySettings
from crio_py.config.registry.hosts import HostEndpoint, HostsFile, find_hosts_file

logger = logging.getLogger(__name__)

DOCKER_HUB_HOST = "registry-1.docker.io"


def registry_host(domain: str) -> str:
    """The host that serves a reference's domain (docker.io is served elsewhere)."""
    return DOCKER_HUB_HOST if domain == "docker.io" else domain


def endpoints_for(registry: RegistrySettings, domain: str) -> list[Endpoint]:
    """The endpoints to try, in order, for images of `domain`."""
    return _resolve(registry, domain, _hosts_file(registry, domain))


_Stamp = tuple[str, int, int, int, int] | None  # a file's path, inode, times, size; None: none
_KEPT = 1024


class Resolver:
    """`endpoints_for` and `credentials_for` of one configuration, each file parsed once
    for each version of it: an edited hosts.toml or auth file applies at the next pull, as
    containerd and CRI-O read them, and an unchanged one is only stat'ed."""

    def __init__(self, registry: RegistrySettings) -> None:
        self.registry = registry
        self._endpoints: dict[str, tuple[_Stamp, list[Endpoint]]] = {}
        self._auth_file: tuple[_Stamp, dict[str, Credentials | None]] = (None, {})

    def endpoints(self, domain: str) -> list[Endpoint]:
        hosts_file = _hosts_file(self.registry, domain)
        stamp = _stamp(hosts_file)
        known = self._endpoints.get(domain)
        if known is not None and known[0] == stamp:
            return known[1]
        found = _resolve(self.registry, domain, hosts_file)
        if len(self._endpoints) >= _KEPT:
            self._endpoints.clear()
        self._endpoints[domain] = (stamp, found)
        return found

    def credentials(self, host: str) -> Credentials | None:
        path = self.registry.global_auth_file
        if host in self.registry.auths or path is None:
            return credentials_for(self.registry, host)
        stamp = _stamp(path)
        if stamp != self._auth_file[0]:
            self._auth_file = (stamp, {})
        by_host = self._auth_file[1]
        if host not in by_host:
            by_host[host] = _from_auth_file(path, host)
        return by_host[host]


def _stamp(path: Path | None) -> _Stamp:
    if path is None:
        return None
    try:
        status = path.stat()
    except OSError:
        return None
    return (str(path), status.st_ino, status.st_mtime_ns, status.st_ctime_ns, status.st_size)


def _hosts_file(registry: RegistrySettings, domain: str) -> Path | None:
    return find_hosts_file(":".join(str(p) for p in registry.config_path), domain)


def _resolve(registry: RegistrySettings, domain: str, hosts_file: Path | None) -> list[Endpoint]:
    if hosts_file is not None:
        parsed = _read_hosts(hosts_file)
        if parsed is not None:
            return _from_hosts_file(parsed, hosts_file.parent, domain)
    mirrors = registry.mirrors.get(domain) or registry.mirrors.get("*") or ()
    found = [_from_url(url, registry, mirror=True) for url in mirrors]
    default = _default_endpoint(registry, domain)
    if all(e.host != default.host for e in found):
        found.append(default)
    return found


def _read_hosts(path: Path) -> HostsFile | None:
    try:
        return HostsFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValidationError) as exc:
        logger.warning("Ignoring %s, which does not parse: %s", path, exc)
        return None


def _from_hosts_file(hosts: HostsFile, directory: Path, domain: str) -> list[Endpoint]:
    found = [
        _from_host_entry(url, entry, directory, mirror=True)
        for url, entry in hosts.host.items()
        if "pull" in entry.capabilities
    ]
    server = hosts.server or f"https://{registry_host(domain)}"
    found.append(_from_host_entry(server, hosts, directory, mirror=False))
    return found


def _from_host_entry(url: str, entry: HostEndpoint, directory: Path, *, mirror: bool) -> Endpoint:
    split = urlsplit(url if "://" in url else f"https://{url}")
    return Endpoint(
        host=split.netloc,
        scheme="http" if split.scheme == "http" else "https",
        skip_verify=entry.skip_verify,
        ca_files=tuple(_paths(entry.ca, directory)),
        client_pairs=_client_pairs(entry.client, directory),
        mirror=mirror,
    )


def _paths(value: str | list[str] | None, directory: Path) -> list[Path]:
    items = [value] if isinstance(value, str) else list(value or [])
    return [p if p.is_absolute() else directory / p for p in map(Path, items)]


def _client_pairs(
    value: str | list[str] | list[list[str]] | None, directory: Path
) -> tuple[tuple[Path, Path | None], ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    pairs: list[tuple[Path, Path | None]] = []
    for item in items:
        cert, *key = [item] if isinstance(item, str) else item
        pairs.append((_paths(cert, directory)[0], _paths(key[0], directory)[0] if key else None))
    return tuple(pairs)


def _from_url(url: str, registry: RegistrySettings, *, mirror: bool) -> Endpoint:
    split = urlsplit(url if "://" in url else f"https://{url}")
    tls = registry.tls.get(split.netloc)
    return Endpoint(
        host=split.netloc,
        scheme="http" if split.scheme == "http" else "https",
        skip_verify=bool(tls and tls.insecure_skip_verify)
        or split.netloc in registry.insecure_hosts,
        ca_files=(Path(tls.ca_file),) if tls and tls.ca_file else (),
        client_pairs=((Path(tls.cert_file), Path(tls.key_file) if tls.key_file else None),)
        if tls and tls.cert_file
        else (),
        mirror=mirror,
    )


def _default_endpoint(registry: RegistrySettings, domain: str) -> Endpoint:
    host = registry_host(domain)
    insecure = domain in registry.insecure_hosts or host in registry.insecure_hosts
    return _from_url(f"{'http' if insecure else 'https'}://{host}", registry, mirror=False)


def credentials_for(registry: RegistrySettings, host: str) -> Credentials | None:
    """Credentials the configuration holds for a registry host, if any."""
    auth = registry.auths.get(host)
    if auth is not None:
        if auth.auth and not auth.username:
            return Credentials.from_auth(auth.auth)  # lint has checked that it decodes
        return Credentials(
            username=auth.username, password=auth.password, identity_token=auth.identity_token
        )
    if registry.global_auth_file is not None:
        return _from_auth_file(registry.global_auth_file, host)
    return None


def _from_auth_file(path: Path, host: str) -> Credentials | None:
    """A docker config.json / containers auth.json entry for a host."""
    try:
        auths = json.loads(path.read_text(encoding="utf-8")).get("auths", {})
    except (OSError, ValueError, AttributeError) as exc:
        logger.warning("Ignoring auth file %s: %s", path, exc)
        return None
    for key in (host, f"https://{host}", f"https://{host}/v1/"):
        entry = auths.get(key) if isinstance(auths, dict) else None
        if isinstance(entry, dict) and isinstance(entry.get("auth"), str):
            try:
                found = Credentials.from_auth(entry["auth"])
            except ValueError as exc:  # its message quotes nothing of the entry
                logger.warning("Ignoring the entry for %s in auth file %s: %s", key, path, exc)
                return None
            token = str(entry.get("identitytoken", ""))
            return found.model_copy(update={"identity_token": token})
    return None
