"""containers-registries.conf(5): where CRI-O takes registry mirrors and insecure registries.

CRI-O does not configure registries in crio.conf; it reads `/etc/containers/registries.conf`
(or `$CONTAINERS_REGISTRIES_CONF`) and the `registries.conf.d/*.conf` drop-ins beside it. This
module reads the version 2 format (`[[registry]]` with `location`, `prefix`, `insecure`,
`blocked` and `[[registry.mirror]]` entries) and the version 1 `[registries.insecure]` list,
into the mirrors and insecure hosts of RegistrySettings. Mirrors are kept per registry host:
a `prefix` or `location` with a repository path is reduced to its host (logged).
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_PATH = Path("/etc/containers/registries.conf")


def default_path() -> Path:
    """The registries.conf CRI-O reads (containers/image honours this variable too)."""
    return Path(os.environ.get("CONTAINERS_REGISTRIES_CONF", DEFAULT_PATH))


@dataclass
class Registries:
    """What registries.conf says about pulling."""

    mirrors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    insecure_hosts: set[str] = field(default_factory=set)
    blocked_hosts: set[str] = field(default_factory=set)


def read_registries(path: Path) -> Registries:
    """registries.conf and its .d drop-ins (later files win per registry), or nothing."""
    found = Registries()
    drop_ins = sorted(path.with_suffix(".conf.d").glob("*.conf")) if path.suffix else []
    for file in [path, *drop_ins]:
        data = _load(file)
        if data is not None:
            _apply(found, data, file)
    return found


def _load(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        logger.warning("Ignoring %s, which does not parse: %s", path, exc)
        return None


def _apply(found: Registries, data: dict[str, Any], path: Path) -> None:
    legacy = data.get("registries", {})
    if isinstance(legacy, dict):
        insecure = legacy.get("insecure", {})
        if isinstance(insecure, dict):
            found.insecure_hosts |= {str(h) for h in insecure.get("registries", [])}
    for entry in data.get("registry", []):
        if isinstance(entry, dict):
            _apply_registry(found, entry, path)


def _apply_registry(found: Registries, entry: dict[str, Any], path: Path) -> None:
    location = str(entry.get("location", ""))
    host = _host(str(entry.get("prefix") or location), path)
    if not host:
        return
    if entry.get("insecure"):
        found.insecure_hosts.add(_host(location, path) or host)
    if entry.get("blocked"):
        found.blocked_hosts.add(host)
    mirrors = [m for m in entry.get("mirror", []) if isinstance(m, dict) and m.get("location")]
    endpoints = []
    for mirror in mirrors:
        mirror_host = _host(str(mirror["location"]), path)
        if mirror.get("insecure"):
            found.insecure_hosts.add(mirror_host)
        endpoints.append(mirror_host)
    if location and _host(location, path) != host:
        endpoints.append(_host(location, path))  # `location` rewrites where the registry is
    if endpoints:
        found.mirrors[host] = tuple(endpoints)


def _host(location: str, path: Path) -> str:
    location = location.removeprefix("*.")
    host, _, repository = location.partition("/")
    if repository:
        logger.info(
            "%s: %s has a repository path; crio-py mirrors whole registries, so it uses %s",
            path,
            location,
            host,
        )
    return host
