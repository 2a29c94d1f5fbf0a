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
    hosts_file = find_hosts_file(":".join(str(p) for p in registry.config_path), domain)
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
