"""Capabilities, AppArmor, seccomp and masked/read-only paths of a spec.

Capabilities follow containerd's `internal/cri/opts.WithCapabilities` ("ALL" in add or drop
first, then the single names; CRI names have no CAP_ prefix). AppArmor and seccomp follow
containerd's `internal/cri/sputil` (privileged means neither; no AppArmor request means the
runtime default, no seccomp request means unconfined or the configured fallback).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from cri_api.v1 import api_pb2

from crio_py.config.model import RuntimeSettings, SecuritySettings
from crio_py.errors import InvalidArgumentError, quote
from crio_py.ocispec import seccomp
from crio_py.ocispec.defaults import (
    ALL_CAPABILITIES,
    DEFAULT_CAPABILITIES,
    DEFAULT_MASKED_PATHS,
    DEFAULT_READONLY_PATHS,
)

RUNTIME_DEFAULT: Final = api_pb2.SecurityProfile.RuntimeDefault
UNCONFINED: Final = api_pb2.SecurityProfile.Unconfined
LOCALHOST: Final = api_pb2.SecurityProfile.Localhost
SecurityContext = api_pb2.LinuxContainerSecurityContext | api_pb2.LinuxSandboxSecurityContext
Profile = tuple[int, str]  # (SecurityProfile.ProfileType, localhost reference)


def normalize_capability(name: str) -> str:
    """Normalise "net_admin" / "CAP_NET_ADMIN" → "CAP_NET_ADMIN"; unknown names are an error."""
    cap = name.strip().upper()
    cap = cap if cap.startswith("CAP_") else f"CAP_{cap}"
    if cap not in ALL_CAPABILITIES:
        raise InvalidArgumentError(f"unknown capability {quote(name)}")
    return cap


@dataclass(frozen=True)
class Capabilities:
    """The bounding (= effective = permitted) set and the ambient (= inheritable) set."""

    bounding: tuple[str, ...]
    ambient: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        """process.capabilities."""
        caps = list(self.bounding)
        return {
            "bounding": caps,
            "effective": caps,
            "permitted": caps,
            "inheritable": list(self.ambient),
            "ambient": list(self.ambient),
        }


def capabilities(
    request: api_pb2.Capability | None,
    defaults: Sequence[str] | None,
    *,
    privileged: bool,
    available: Sequence[str] | None = None,
) -> Capabilities:
    """The container's capabilities: all `available` ones (the daemon's; every one when None)
    when privileged; else the configured default set (containerd's when None) with the CRI's
    adds and drops, "ALL" meaning all available. CRI ambient capabilities are added to the
    bounding set and are the only inheritable ones."""
    every = tuple(c for c in ALL_CAPABILITIES if available is None or c in available)
    if privileged:
        return Capabilities(every)
    base = DEFAULT_CAPABILITIES if defaults is None else defaults
    caps = [normalize_capability(c) for c in base]
    request = request or api_pb2.Capability()
    adds, add_all = _names(request.add_capabilities)
    drops, drop_all = _names(request.drop_capabilities)
    if add_all:
        caps = list(every)
    if drop_all:
        caps = []
    caps += [c for c in dict.fromkeys(adds) if c not in caps]
    caps = [c for c in caps if c not in drops]
    ambient, _ = _names(request.add_ambient_capabilities)
    caps += [c for c in dict.fromkeys(ambient) if c not in caps]
    return Capabilities(tuple(caps), tuple(dict.fromkeys(ambient)))


def _names(names: Iterable[str]) -> tuple[list[str], bool]:
    """Normalised names without "ALL", and whether "ALL" was among them."""
    names = list(names)
    has_all = any(n.strip().upper() == "ALL" for n in names)
    return [normalize_capability(n) for n in names if n.strip().upper() != "ALL"], has_all


def masked_paths(sc: api_pb2.LinuxContainerSecurityContext | None) -> tuple[list[str], list[str]]:
    """(linux.maskedPaths, linux.readonlyPaths): those the CRI sends, else containerd's."""
    sc = sc or api_pb2.LinuxContainerSecurityContext()
    masked = list(sc.masked_paths) or list(DEFAULT_MASKED_PATHS)
    readonly = list(sc.readonly_paths) or list(DEFAULT_READONLY_PATHS)
    return masked, readonly


def _profile(message: api_pb2.SecurityProfile | None, legacy: str, what: str) -> Profile | None:
    """The requested profile: the SecurityProfile message, else the deprecated string form
    ("runtime/default", "docker/default", "unconfined", "localhost/<ref>"), else None."""
    if message is not None:
        if message.profile_type != LOCALHOST and message.localhost_ref:
            raise InvalidArgumentError(f"{what}: localhost_ref is only valid for Localhost")
        if message.profile_type == LOCALHOST and not message.localhost_ref:
            raise InvalidArgumentError(f"{what}: Localhost profile without localhost_ref")
        # containerd trims the prefix in case a client sends the old string form here too.
        return message.profile_type, message.localhost_ref.removeprefix("localhost/")
    if not legacy:
        return None
    if legacy in ("runtime/default", "docker/default"):
        return RUNTIME_DEFAULT, ""
    if legacy == "unconfined":
        return UNCONFINED, ""
    if legacy.startswith("localhost/") and len(legacy) > len("localhost/"):
        return LOCALHOST, legacy.removeprefix("localhost/")
    raise InvalidArgumentError(f"{what}: unknown profile {quote(legacy)}")


def apparmor_profile(
    sc: SecurityContext, *, privileged: bool, security: SecuritySettings, host_has_apparmor: bool
) -> str:
    """process.apparmorProfile ("" for none). Without AppArmor on the host only a Localhost
    request fails; RuntimeDefault is the configured profile name (none when privileged)."""
    message = sc.apparmor if sc.HasField("apparmor") else None
    legacy = sc.apparmor_profile if isinstance(sc, api_pb2.LinuxContainerSecurityContext) else ""
    kind, ref = _profile(message, legacy, "apparmor") or (RUNTIME_DEFAULT, "")
    if not (host_has_apparmor and security.apparmor_enabled):
        if kind == LOCALHOST:
            raise InvalidArgumentError(
                f"apparmor profile {quote(ref)} requested but AppArmor is off"
            )
        return ""
    if kind == UNCONFINED or (kind == RUNTIME_DEFAULT and privileged):
        return ""
    return security.apparmor_profile if kind == RUNTIME_DEFAULT else ref


def seccomp_section(
    sc: SecurityContext,
    *,
    privileged: bool,
    settings: RuntimeSettings,
    capabilities: Sequence[str],
    arch: str,
) -> dict[str, object] | None:
    """linux.seccomp, or None for unconfined. With no request, a containerd configuration's
    unset_seccomp_profile applies; a CRI-O configuration's seccomp_profile is the file that
    RuntimeDefault uses instead of the built-in profile."""
    if privileged:
        return None
    message = sc.seccomp if sc.HasField("seccomp") else None
    profile = _profile(message, sc.seccomp_profile_path, "seccomp")
    configured = settings.security.seccomp_profile
    crio = settings.source_format == "crio"
    if profile is None and configured and not crio:
        profile = _profile(None, configured, "unset_seccomp_profile")
    if profile is None or profile[0] == UNCONFINED:
        return None
    if profile[0] == LOCALHOST:
        raw = seccomp.load_profile(profile[1])
    else:
        raw = seccomp.load_profile(configured) if crio and configured else seccomp.builtin_profile()
    return seccomp.render(raw, capabilities=capabilities, arch=arch)
