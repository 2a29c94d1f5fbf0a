"""CNI: the network configuration in `conf_dir`, and the plugin binaries that attach a
sandbox's network namespace to it (containernetworking/cni SPEC.md, as libcni does it).

- `load_network` picks the network as libcni and CRI-O's ocicni do: the `.conflist`, `.conf`
  and `.json` files in lexical order (or the one named by `default_network`); a `.conf` or
  `.json` file holds one plugin and is wrapped into a list; a file that does not parse is
  skipped with a warning.
- `CniExecPlugin.add` runs the list's plugins in order with ADD, each one getting the result
  of the one before as `prevResult` (libcni AddNetworkList), and caches the final result at
  `cache_dir/<network>/<container id>.json` so that DEL works after a restart. `delete` runs
  them in reverse order with the cached result (libcni DelNetworkList), then drops the cache.
- Capability arguments (portMappings, bandwidth, ipRanges, dns) reach a plugin's
  `runtimeConfig` only when it declares the capability (libcni injectRuntimeConfig).

A failing plugin becomes an UnavailableError or InvalidArgumentError that names it; nothing
here picks a gRPC code. Every plugin runs through `_exec.run`.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from crio_py import crashpoint
from crio_py.backends import _exec
from crio_py.backends.cni_types import (
    LOOPBACK_NETWORK,
    VALID_NAME,
    CachedAttachment,
    CniResult,
    CniSandbox,
    NetworkConfig,
    NetworkStatus,
    PluginConfig,
    _version,
    load_network,
    parse_network,
    parse_result,
)
from crio_py.config.model import CniSettings
from crio_py.errors import (
    CommandError,
    CrioPyError,
    FailedPreconditionError,
    InvalidArgumentError,
    UnavailableError,
    UnimplementedError,
    quote,
)
from crio_py.fsutil import atomic_write_text

logger = logging.getLogger(__name__)

JsonObject = dict[str, Any]

CACHE_KIND = "cniCacheV1"
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NOT_READY = "NetworkPluginNotReady"
# CNI error codes that mean the configuration or the call is wrong (SPEC.md "Error"):
# 1 incompatible version, 2 unsupported field, 4 invalid environment, 6 undecodable
# content, 7 invalid network config. Every other code (3, 5, 11, 50, 51, ≥100) is
# something a retry may fix.
_INVALID_CODES = frozenset({1, 2, 4, 6, 7})


class CniExecPlugin:
    """Runs CNI plugin binaries for the network found in `conf_dir`."""

    def __init__(
        self,
        *,
        conf_dir: Path,
        bin_dirs: Sequence[Path],
        cache_dir: Path,
        max_conf_num: int = 1,
        default_network: str = "",
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.conf_dir = conf_dir
        self.bin_dirs = tuple(bin_dirs)
        self.cache_dir = cache_dir
        self.max_conf_num = max_conf_num
        self.default_network = default_network
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: CniSettings, cache_dir: Path) -> CniExecPlugin:
        """A plugin runner for the `[cni]` settings."""
        return cls(
            conf_dir=settings.conf_dir,
            bin_dirs=settings.bin_dirs,
            cache_dir=cache_dir,
            max_conf_num=settings.max_conf_num,
            default_network=settings.default_network,
        )

    def load(self) -> NetworkConfig | None:
        """The network sandboxes join now (the conf dir is read again on every call)."""
        return load_network(self.conf_dir, self.max_conf_num, self.default_network)

    async def status(self) -> NetworkStatus:
        """Ready when a network is configured, its plugins are installed, and (for spec 1.1.0
        and later) every plugin answers STATUS."""
        network = await asyncio.to_thread(self.load)
        if network is None:
            wanted = f'named "{self.default_network}" ' if self.default_network else ""
            return NetworkStatus(
                False, NOT_READY, f"no CNI network configuration {wanted}in {self.conf_dir}"
            )
        try:
            for plugin in (*LOOPBACK_NETWORK.plugins, *network.plugins):
                self.find_plugin(plugin.type, network)
            if _version(network.cni_version) >= (1, 1, 0):
                for plugin in network.plugins:
                    await self._exec("STATUS", network, plugin, _stdin(network, plugin), None)
        except CrioPyError as exc:
            return NetworkStatus(False, NOT_READY, str(exc))
        return NetworkStatus(True)

    def find_plugin(self, plugin_type: str, network: NetworkConfig | None = None) -> Path:
        """The first executable named `plugin_type` in `bin_dirs`; UnavailableError if none."""
        for directory in self.bin_dirs:
            candidate = directory / plugin_type
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
        where = f' (network "{network.name}")' if network else ""
        raise UnavailableError(
            f'CNI plugin "{plugin_type}"{where} is in none of: '
            f"{', '.join(str(d) for d in self.bin_dirs) or '(no plugin directory)'}"
        )

    async def add(self, network: NetworkConfig, sandbox: CniSandbox) -> CniResult:
        """Attach the sandbox to `network`; on failure, undo with a best-effort DEL (SPEC.md:
        a runtime should DEL after a failed ADD) and raise the ADD's error."""
        _validate(network, sandbox)
        if not sandbox.netns_path:
            raise InvalidArgumentError(f"sandbox {sandbox.container_id} has no netns for ADD")
        for plugin in network.plugins:  # all present, or nothing is set up
            self.find_plugin(plugin.type, network)
        capabilities = sandbox.capability_args()
        previous: JsonObject | None = None
        try:
            for plugin in network.plugins:
                stdin = _stdin(network, plugin, previous, capabilities)
                previous = await self._exec("ADD", network, plugin, stdin, sandbox)
            assert previous is not None  # a network always has a plugin
            result = parse_result(previous)
            if network.name != LOOPBACK_NETWORK.name:  # the pod's network set up in full
                crashpoint.reached("RunPodSandbox:cni-added-uncached")
            self._write_cache(network, sandbox, previous)
        except Exception:
            await self._undo_add(network, sandbox)
            raise
        logger.debug(
            "Attached sandbox %s to CNI network %s: %s",
            sandbox.container_id,
            network.name,
            ", ".join(result.pod_ips(sandbox.ifname)),
        )
        return result

    async def delete(self, network: NetworkConfig | None, sandbox: CniSandbox) -> None:
        """Detach the sandbox; fine when it is not attached. With no `network`, each network
        the cache says the sandbox is in is detached with its cached configuration.

        A cached attachment's CNI_ARGS and capability args are used (they describe what ADD
        set up); the cache is dropped only when every plugin's DEL succeeded.
        """
        if network is None:
            for cached in self.cached_attachments(sandbox.container_id):
                await self._delete(cached.network, sandbox, cached)
            return
        _validate(network, sandbox)
        await self._delete(network, sandbox, self.cached(network.name, sandbox.container_id))

    async def check(self, network: NetworkConfig, sandbox: CniSandbox) -> None:
        """CHECK every plugin against the cached result (libcni CheckNetworkList)."""
        _validate(network, sandbox)
        if _version(network.cni_version) < (0, 4, 0):
            raise UnimplementedError(
                f'CNI network "{network.name}" is version {network.cni_version}; CHECK '
                "needs 0.4.0 or later"
            )
        if network.disable_check:
            return
        cached = self.cached(network.name, sandbox.container_id)
        if cached is None:
            raise FailedPreconditionError(
                f"sandbox {sandbox.container_id} has no cached result in CNI network "
                f'"{network.name}"'
            )
        for plugin in network.plugins:
            stdin = _stdin(network, plugin, dict(cached.result), cached.capability_args)
            await self._exec("CHECK", network, plugin, stdin, sandbox, cached.cni_args)

    def cache_path(self, network_name: str, container_id: str) -> Path:
        """Where `add` caches the result of `container_id` in `network_name`."""
        return self.cache_dir / network_name / f"{container_id}.json"

    def cached(self, network_name: str, container_id: str) -> CachedAttachment | None:
        """The cached attachment, or None when there is none or it is unreadable."""
        path = self.cache_path(network_name, container_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("kind") != CACHE_KIND:
                raise ValueError(f"unknown kind {data.get('kind')!r}")
            return CachedAttachment(
                network=parse_network(json.dumps(data["config"])),
                container_id=str(data["containerId"]),
                ifname=str(data["ifName"]),
                netns_path=str(data.get("netns", "")),
                cni_args=tuple((str(k), str(v)) for k, v in data.get("cniArgs", [])),
                capability_args=dict(data.get("capabilityArgs") or {}),
                result=dict(data["result"]),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("Ignoring unreadable CNI result cache %s: %s", path, exc)
            return None

    def cached_attachments(self, container_id: str) -> list[CachedAttachment]:
        """Every cached attachment of `container_id`, by network name."""
        if not self.cache_dir.is_dir() or not VALID_NAME.match(container_id):
            return []
        found = []
        for directory in sorted(self.cache_dir.iterdir()):
            cached = self.cached(directory.name, container_id)
            if cached is not None:
                found.append(cached)
        return found

    async def _delete(
        self, network: NetworkConfig, sandbox: CniSandbox, cached: CachedAttachment | None
    ) -> None:
        if cached is not None:  # the cache knows the interface, and the netns after a restart
            sandbox = dataclasses.replace(
                sandbox,
                ifname=cached.ifname,
                netns_path=sandbox.netns_path or cached.netns_path,
            )
        _validate(network, sandbox)
        previous = None
        if cached is not None and _version(network.cni_version) >= (0, 4, 0):
            previous = dict(cached.result)
        capabilities = cached.capability_args if cached else sandbox.capability_args()
        args = cached.cni_args if cached else tuple(sandbox.cni_args())
        # Unlike libcni, a failing DEL does not stop the others: each plugin frees what it
        # can, and the first error is raised at the end with the cache kept for a retry.
        errors: list[CrioPyError] = []
        for plugin in reversed(network.plugins):
            stdin = _stdin(network, plugin, previous, capabilities)
            try:
                await self._exec("DEL", network, plugin, stdin, sandbox, args)
            except CrioPyError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        self.cache_path(network.name, sandbox.container_id).unlink(missing_ok=True)
        logger.debug("Detached sandbox %s from CNI network %s", sandbox.container_id, network.name)

    async def _undo_add(self, network: NetworkConfig, sandbox: CniSandbox) -> None:
        try:
            await self._delete(network, sandbox, None)
        except CrioPyError as exc:
            logger.warning(
                "Cleaning up sandbox %s in CNI network %s after a failed ADD: %s",
                sandbox.container_id,
                network.name,
                exc,
            )

    async def _exec(
        self,
        command: str,
        network: NetworkConfig,
        plugin: PluginConfig,
        stdin: JsonObject,
        sandbox: CniSandbox | None,
        cni_args: Sequence[tuple[str, str]] | None = None,
    ) -> JsonObject | None:
        """Run one plugin; its parsed result for ADD, None otherwise."""
        binary = self.find_plugin(plugin.type, network)
        what = f'CNI plugin "{plugin.type}" ({command}, network "{network.name}")'
        try:
            result = await _exec.run(
                [str(binary)],
                env=self._env(command, sandbox, cni_args),
                stdin=json.dumps(stdin).encode(),
                timeout_s=self.timeout_s,
                check=False,
                started=_crash_point(command),
            )
        except CommandError as exc:
            raise UnavailableError(f"{what} could not run: {exc}") from exc
        if result.returncode != 0:
            raise _plugin_error(what, result)
        if command != "ADD":
            return None
        try:
            parsed = json.loads(result.stdout)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise UnavailableError(f"{what} returned no valid result: {result.stdout[:200]!r}")
        return parsed

    def _env(
        self,
        command: str,
        sandbox: CniSandbox | None,
        cni_args: Sequence[tuple[str, str]] | None,
    ) -> dict[str, str]:
        """The CNI environment (SPEC.md "Parameters"), plus PATH for the tools plugins run."""
        netns = ""
        if sandbox is not None:
            netns = sandbox.netns_path
            # A DEL after the netns is gone passes none; plugins then clean up what they can.
            if command == "DEL" and netns and not os.path.exists(netns):
                netns = ""
        if cni_args is None:
            cni_args = sandbox.cni_args() if sandbox is not None else []
        return {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": sandbox.container_id if sandbox else "",
            "CNI_NETNS": netns,
            "CNI_IFNAME": sandbox.ifname if sandbox else "",
            "CNI_ARGS": ";".join(f"{k}={v}" for k, v in cni_args),
            "CNI_PATH": os.pathsep.join(str(d) for d in self.bin_dirs),
            "PATH": os.environ.get("PATH", DEFAULT_PATH),
        }

    def _write_cache(self, network: NetworkConfig, sandbox: CniSandbox, result: JsonObject) -> None:
        # The layout of libcni's cachedInfo, with the config as JSON rather than base64.
        document = {
            "kind": CACHE_KIND,
            "containerId": sandbox.container_id,
            "ifName": sandbox.ifname,
            "networkName": network.name,
            "netns": sandbox.netns_path,
            "cniArgs": [list(pair) for pair in sandbox.cni_args()],
            "capabilityArgs": sandbox.capability_args(),
            "config": network.to_json(),
            "result": result,
        }
        path = self.cache_path(network.name, sandbox.container_id)
        try:
            atomic_write_text(path, json.dumps(document, indent=2), mode=0o600)
        except OSError as exc:
            raise UnavailableError(f"could not cache the CNI result in {path}: {exc}") from exc


def _stdin(
    network: NetworkConfig,
    plugin: PluginConfig,
    previous: Mapping[str, Any] | None = None,
    capabilities: Mapping[str, Any] | None = None,
) -> JsonObject:
    """A plugin's configuration as it reads it: the list's name and version, the previous
    result, and the capability args it declares (libcni buildOneConfig)."""
    conf = copy.deepcopy(dict(plugin.conf))
    conf["name"] = network.name
    conf["cniVersion"] = network.cni_version
    if previous is not None:
        conf["prevResult"] = copy.deepcopy(dict(previous))
    wanted = {k: v for k, v in (capabilities or {}).items() if k in plugin.capabilities}
    if wanted:
        conf["runtimeConfig"] = copy.deepcopy(wanted)
    return conf


def _plugin_error(what: str, result: _exec.CommandResult) -> CrioPyError:
    """A failed plugin's error: the CNI error object on stdout, else its output."""
    try:
        payload = json.loads(result.stdout)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and "code" in payload:
        code = payload.get("code")
        message = str(payload.get("msg", "")) or "failed"
        details = str(payload.get("details", ""))
        text = f"{what}: {message}" + (f": {details}" if details else "")
        error_class = InvalidArgumentError if code in _INVALID_CODES else UnavailableError
        return error_class(f"{text} (CNI error code {code})")
    output = (result.stderr.strip() or result.stdout.strip())[-500:]
    return UnavailableError(
        f"{what} exited with {result.returncode}" + (f": {output}" if output else "")
    )


def _validate(network: NetworkConfig, sandbox: CniSandbox) -> None:
    """libcni's checks of the container id, network name and interface name."""
    if not VALID_NAME.match(sandbox.container_id):
        raise InvalidArgumentError(f"invalid container id {quote(sandbox.container_id)} for CNI")
    if not VALID_NAME.match(network.name):
        raise InvalidArgumentError(f"invalid CNI network name {quote(network.name)}")
    name = sandbox.ifname
    if not name or len(name) > 15 or name in (".", "..") or re.search(r"[/:\s]", name):
        raise InvalidArgumentError(f"invalid interface name {quote(name)}")
    for key, value in sandbox.cni_args():
        if any(c in key + value for c in ";="):
            raise InvalidArgumentError(f"CNI_ARGS cannot carry {key}={quote(value)}")


def _crash_point(command: str) -> Callable[[], None] | None:
    if command != "ADD":
        return None
    return lambda: crashpoint.reached("RunPodSandbox:cni-add-running")
