"""Seccomp profiles: the built-in RuntimeDefault profile (seccomp_default.json, described in
its own "comment") and Localhost profile files, rendered to the spec's linux.seccomp.

Profiles may be in the OCI format or in the Docker/containerd format, whose `archMap` and
per-rule `includes`/`excludes` (by capability and architecture) are resolved here for one
container, as moby's `profiles/seccomp` does for containerd's `contrib/seccomp`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Mapping
from importlib import resources
from pathlib import Path
from typing import Final

from crio_py.errors import InvalidArgumentError, quote

# GOARCH → libseccomp's name of that architecture.
SCMP_ARCH: Final[Mapping[str, str]] = {
    "amd64": "SCMP_ARCH_X86_64", "386": "SCMP_ARCH_X86", "arm64": "SCMP_ARCH_AARCH64",
    "arm": "SCMP_ARCH_ARM", "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X",
    "riscv64": "SCMP_ARCH_RISCV64", "mips64": "SCMP_ARCH_MIPS64",
    "mips64le": "SCMP_ARCH_MIPSEL64",
}  # fmt: skip
_PASSED_ON: Final = ("defaultErrnoRet", "flags", "listenerPath", "listenerMetadata")
_RULE_KEYS: Final = ("errnoRet", "args")


@functools.cache
def _builtin_text() -> str:
    return resources.files("crio_py.ocispec").joinpath("seccomp_default.json").read_text("utf-8")


def builtin_profile() -> dict[str, object]:
    """The RuntimeDefault profile, unrendered (a fresh copy each call)."""
    return _parse(_builtin_text(), "the built-in seccomp profile")


def load_profile(path: str) -> dict[str, object]:
    """A profile file (Localhost, or CRI-O's seccomp_profile), unrendered."""
    if not path.startswith("/"):
        raise InvalidArgumentError(f"seccomp profile path {quote(path)} is not absolute")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read seccomp profile {path}: {exc.strerror}") from exc
    return _parse(text, f"seccomp profile {path}")


def _parse(text: str, what: str) -> dict[str, object]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("defaultAction"), str):
        raise InvalidArgumentError(f"{what} has no defaultAction")
    return data


def render(
    profile: Mapping[str, object], *, capabilities: Collection[str], arch: str
) -> dict[str, object]:
    """linux.seccomp for a container holding `capabilities` (its bounding set) on `arch`."""
    spec: dict[str, object] = {"defaultAction": profile["defaultAction"]}
    spec.update({k: profile[k] for k in _PASSED_ON if k in profile})
    architectures = _architectures(profile, arch)
    if architectures:
        spec["architectures"] = architectures
    syscalls = []
    for rule in _items(profile.get("syscalls"), "syscalls"):
        if _applies(rule, capabilities, arch):
            syscalls.append(_syscall(rule))
    if syscalls:
        spec["syscalls"] = syscalls
    return spec


def _architectures(profile: Mapping[str, object], arch: str) -> list[str]:
    if "archMap" not in profile:
        return [str(a) for a in _list(profile.get("architectures"), "architectures")]
    if profile.get("architectures"):
        raise InvalidArgumentError("seccomp profile sets both architectures and archMap")
    native = SCMP_ARCH.get(arch, "")
    for entry in _items(profile["archMap"], "archMap"):
        if entry.get("architecture") == native:
            subs = _list(entry.get("subArchitectures"), "subArchitectures")
            return [native, *(str(s) for s in subs)]
    return []


def _applies(rule: Mapping[str, object], capabilities: Collection[str], arch: str) -> bool:
    includes = _map(rule.get("includes"), "includes")
    excludes = _map(rule.get("excludes"), "excludes")
    inc_arches = _list(includes.get("arches"), "includes.arches")
    inc_caps = _list(includes.get("caps"), "includes.caps")
    if inc_arches and arch not in inc_arches:
        return False
    if any(cap not in capabilities for cap in inc_caps):
        return False
    if arch in _list(excludes.get("arches"), "excludes.arches"):
        return False
    return not any(cap in capabilities for cap in _list(excludes.get("caps"), "excludes.caps"))


def _syscall(rule: Mapping[str, object]) -> dict[str, object]:
    names = _list(rule.get("names"), "names") or ([rule["name"]] if "name" in rule else [])
    action = rule.get("action")
    if not names or not isinstance(action, str):
        raise InvalidArgumentError("seccomp profile rule needs names and an action")
    out: dict[str, object] = {"names": [str(n) for n in names], "action": action}
    out.update({k: rule[k] for k in _RULE_KEYS if k in rule})
    return out


def _map(value: object, what: str) -> Mapping[str, object]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"seccomp profile field {what} is not an object")
    return value


def _list(value: object, what: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgumentError(f"seccomp profile field {what} is not a list")
    return value


def _items(value: object, what: str) -> list[Mapping[str, object]]:
    return [_map(item, what) for item in _list(value, what)]
