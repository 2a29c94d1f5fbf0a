"""Container Device Interface: spec files parsed and checked, device names resolved, and the
container edits of the devices a container asks for applied to its OCI spec.

Follows the CDI specification (cncf-tags/container-device-interface SPEC.md, pkg/cdi):
a spec declares a `kind` (vendor/class) and devices; a device is asked for by its fully
qualified name `vendor/class=name`. Edits of the spec apply once when any of its devices is
asked for, then each device's own edits. A device two specs of the same directory define is a
conflict; a spec of a later directory replaces one of an earlier directory.

Pure: the caller reads the files and stat()s the host nodes (cri/container/cdi.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crio_py.errors import InvalidArgumentError, quote
from crio_py.ocispec.mounts import device_json
from crio_py.ocispec.request import HostDevice

SPEC_VERSIONS = ("0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0")
ANNOTATION_PREFIX = "cdi.k8s.io/"
HOOK_NAMES = (
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
)
# pkg/cdi/parser: vendor is a domain-like name, class and device names are plain words.
_VENDOR = re.compile(r"^[A-Za-z](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$")
_CLASS = re.compile(r"^[A-Za-z](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$")
_DEVICE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.:-]*[A-Za-z0-9])?$")
_ACCESS = re.compile(r"^[rwm]{1,3}$")

Json = dict[str, Any]


class _Model(BaseModel):
    # Fields of newer spec versions that crio-py does not use are kept out of the way.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class DeviceNode(_Model):
    """A device node to create in the container (`containerEdits.deviceNodes[]`)."""

    path: str
    host_path: str = Field("", alias="hostPath")
    type: Literal["", "b", "c", "u", "p"] = ""
    major: int | None = None
    minor: int | None = None
    file_mode: int | None = Field(None, alias="fileMode")
    permissions: str = ""
    uid: int | None = None
    gid: int | None = None


class Mount(_Model):
    """A mount to add (`containerEdits.mounts[]`)."""

    host_path: str = Field(alias="hostPath")
    container_path: str = Field(alias="containerPath")
    type: str = ""
    options: tuple[str, ...] = ()


class Hook(_Model):
    """An OCI hook to add (`containerEdits.hooks[]`)."""

    hook_name: str = Field(alias="hookName")
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


class ContainerEdits(_Model):
    """What a spec or a device changes in a container's OCI spec."""

    env: tuple[str, ...] = ()
    device_nodes: tuple[DeviceNode, ...] = Field((), alias="deviceNodes")
    hooks: tuple[Hook, ...] = ()
    mounts: tuple[Mount, ...] = ()
    additional_gids: tuple[int, ...] = Field((), alias="additionalGids")
    intel_rdt: Json | None = Field(None, alias="intelRdt")
    net_devices: tuple[Json, ...] = Field((), alias="netDevices")


class Device(_Model):
    """One device of a spec."""

    name: str
    annotations: dict[str, str] = {}
    container_edits: ContainerEdits = Field(alias="containerEdits")


class CdiSpec(_Model):
    """One spec file."""

    cdi_version: str = Field(alias="cdiVersion")
    kind: str
    annotations: dict[str, str] = {}
    devices: tuple[Device, ...]
    container_edits: ContainerEdits = Field(ContainerEdits(), alias="containerEdits")


@dataclass(frozen=True)
class LoadedSpec:
    """A parsed spec, the file it came from and the rank of its directory (later wins)."""

    spec: CdiSpec
    path: str
    rank: int


def parse_spec(data: object, path: str, rank: int) -> LoadedSpec:
    """A checked spec; ValueError saying what is wrong with the file."""
    try:
        spec = CdiSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        raise ValueError(f"{where}: {first['msg']}") from None
    if spec.cdi_version not in SPEC_VERSIONS:
        raise ValueError(f"cdiVersion {quote(spec.cdi_version)} is not a known CDI version")
    needed = required_version(spec)
    if _version_key(spec.cdi_version) < _version_key(needed):
        raise ValueError(
            f"the spec uses CDI {needed} features but says cdiVersion {spec.cdi_version}"
        )
    vendor, _ = split_kind(spec.kind)
    if not spec.devices:
        raise ValueError(f"kind {vendor}: the spec defines no devices")
    seen: set[str] = set()
    for device in spec.devices:
        if not _DEVICE.match(device.name):
            raise ValueError(f"device name {quote(device.name)} is not a valid CDI device name")
        if device.name in seen:
            raise ValueError(f"device {quote(device.name)} is defined twice")
        seen.add(device.name)
        _check_edits(device.container_edits, device.name)
    _check_edits(spec.container_edits, "the spec")
    return LoadedSpec(spec, path, rank)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def required_version(spec: CdiSpec) -> str:
    """The lowest spec version with every feature `spec` uses (specs-go version.go)."""
    edits = [spec.container_edits, *(d.container_edits for d in spec.devices)]
    _, device_class = spec.kind.partition("/")[::2]
    checks = [
        ("1.1.0", any(e.net_devices for e in edits)),
        ("0.7.0", any(e.intel_rdt is not None or e.additional_gids for e in edits)),
        (
            "0.6.0",
            bool(spec.annotations)
            or any(d.annotations for d in spec.devices)
            or "." in device_class,
        ),
        (
            "0.5.0",
            any(d.name[:1].isdigit() for d in spec.devices)
            or any(n.host_path for e in edits for n in e.device_nodes),
        ),
        ("0.4.0", any(m.type for e in edits for m in e.mounts)),
    ]
    return next((version for version, used in checks if used), "0.3.0")


def split_kind(kind: str) -> tuple[str, str]:
    """(vendor, class) of a `vendor/class` kind; ValueError when malformed."""
    vendor, slash, device_class = kind.partition("/")
    if not slash or not _VENDOR.match(vendor) or not _CLASS.match(device_class):
        raise ValueError(f"kind {quote(kind)} is not vendor/class")
    return vendor, device_class


def split_name(qualified: str) -> tuple[str, str]:
    """(kind, device name) of `vendor/class=name`; InvalidArgumentError when malformed."""
    kind, equals, name = qualified.partition("=")
    try:
        split_kind(kind)
    except ValueError:
        equals = ""
    if not equals or not _DEVICE.match(name):
        raise InvalidArgumentError(
            f"CDI device {quote(qualified)} is not a qualified name (vendor.com/class=name)"
        )
    return kind, name


def _check_edits(edits: ContainerEdits, owner: str) -> None:
    for entry in edits.env:
        if "=" not in entry:
            raise ValueError(f"{owner}: env entry {quote(entry)} is not KEY=VALUE")
    for node in edits.device_nodes:
        if not node.path.startswith("/"):
            raise ValueError(f"{owner}: device node path {quote(node.path)} is not absolute")
        if node.permissions and not _ACCESS.match(node.permissions):
            raise ValueError(f"{owner}: permissions {quote(node.permissions)} not of r, w, m")
        if node.type in ("b", "c", "u") and (node.major is None) != (node.minor is None):
            raise ValueError(f"{owner}: device node {node.path} has only one of major, minor")
    for hook in edits.hooks:
        if hook.hook_name not in HOOK_NAMES:
            raise ValueError(f"{owner}: hook name {quote(hook.hook_name)} is not an OCI hook")
        if not hook.path.startswith("/"):
            raise ValueError(f"{owner}: hook path {quote(hook.path)} is not absolute")
    for mount in edits.mounts:
        if not mount.container_path.startswith("/") or not mount.host_path:
            raise ValueError(f"{owner}: mount {quote(mount.container_path)} needs two paths")


@dataclass
class Registry:
    """Every device of the loaded specs by qualified name; later directories win, and two
    specs of one directory that define the same device leave it in conflict."""

    devices: dict[str, tuple[LoadedSpec, Device]] = field(default_factory=dict)
    conflicts: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)

    def add(self, loaded: LoadedSpec) -> None:
        """Take the devices of one more spec."""
        for device in loaded.spec.devices:
            qualified = f"{loaded.spec.kind}={device.name}"
            rank = self._rank(qualified)
            if rank is None or rank < loaded.rank:
                self.devices[qualified] = (loaded, device)
                self.conflicts.pop(qualified, None)
            elif rank == loaded.rank:
                held = self.devices.pop(qualified, None)
                _, paths = self.conflicts.get(qualified, (rank, [held[0].path] if held else []))
                self.conflicts[qualified] = (rank, [*paths, loaded.path])

    def _rank(self, qualified: str) -> int | None:
        if qualified in self.devices:
            return self.devices[qualified][0].rank
        if qualified in self.conflicts:
            return self.conflicts[qualified][0]
        return None

    def resolve(self, names: Iterable[str], dirs: Sequence[str]) -> list[tuple[LoadedSpec, Device]]:
        """The specs and devices of `names`, each once, in the order asked."""
        found: list[tuple[LoadedSpec, Device]] = []
        for qualified in dict.fromkeys(names):
            split_name(qualified)
            if qualified in self.conflicts:
                files = ", ".join(self.conflicts[qualified][1])
                raise InvalidArgumentError(
                    f"CDI device {quote(qualified)} is defined by conflicting specs: {files}"
                )
            entry = self.devices.get(qualified)
            if entry is None:
                raise InvalidArgumentError(self._unknown(qualified, dirs))
            found.append(entry)
        return found

    def _unknown(self, qualified: str, dirs: Sequence[str]) -> str:
        where = ", ".join(dirs) or "no CDI spec directory (CDI is off)"
        message = f"CDI device {quote(qualified)} is not defined by any spec in {where}"
        if self.broken:
            message += f" (spec files left unread: {'; '.join(self.broken)})"
        return message


def requested_names(cdi_devices: Iterable[str], annotations: Mapping[str, str]) -> list[str]:
    """The devices a container asks for: the CRI CDI_devices field, then the
    `cdi.k8s.io/<key>` annotations (comma-separated qualified names, pkg/cdi annotations.go)."""
    names = [name for name in cdi_devices if name]
    for key in sorted(annotations):
        if not key.startswith(ANNOTATION_PREFIX):
            continue
        if key == ANNOTATION_PREFIX:
            raise InvalidArgumentError(f"CDI annotation {quote(key)} has no name after the prefix")
        names += [part.strip() for part in annotations[key].split(",") if part.strip()]
    return names


StatDevice = Callable[[str], HostDevice | None]
"""The device node at a host path, or None when there is none."""


def apply(spec: Json, chosen: Sequence[tuple[LoadedSpec, Device]], stat: StatDevice) -> None:
    """Apply the edits of each chosen spec (once) and device to the OCI spec in place."""
    edits: list[ContainerEdits] = []
    seen_specs: set[str] = set()
    for loaded, device in chosen:
        if loaded.path not in seen_specs:
            seen_specs.add(loaded.path)
            edits.append(loaded.spec.container_edits)
        edits.append(device.container_edits)
    for edit in edits:
        _apply_one(spec, edit, stat)


def _apply_one(spec: Json, edits: ContainerEdits, stat: StatDevice) -> None:
    if edits.intel_rdt or edits.net_devices:
        raise InvalidArgumentError("CDI intelRdt and netDevices edits are not supported here")
    process = spec.setdefault("process", {})
    process["env"] = _merged_env(process.get("env", []), edits.env)
    linux = spec.setdefault("linux", {})
    for node in edits.device_nodes:
        _add_device(linux, _resolved(node, stat), node.permissions or "rwm")
    for mount in edits.mounts:
        _add_mount(spec, mount)
    for hook in edits.hooks:
        spec.setdefault("hooks", {}).setdefault(hook.hook_name, []).append(_hook_json(hook))
    user = process.setdefault("user", {"uid": 0, "gid": 0})
    gids: list[int] = user.setdefault("additionalGids", [])
    for gid in edits.additional_gids:
        if gid != 0 and gid not in gids:  # pkg/cdi leaves out gid 0
            gids.append(gid)


def _merged_env(current: list[str], added: Iterable[str]) -> list[str]:
    """Entries of `added` replace the ones of the same key (runtime-tools' AddProcessEnv)."""
    merged = {entry.partition("=")[0]: entry for entry in current}
    for entry in added:
        merged[entry.partition("=")[0]] = entry
    return list(merged.values())


def _resolved(node: DeviceNode, stat: StatDevice) -> HostDevice:
    """The node with what the spec leaves out taken from the host node (SPEC.md: type,
    major and minor default to the host device's)."""
    host_path = node.host_path or node.path
    if node.type == "p" or (node.type and node.major is not None and node.minor is not None):
        host = None
    else:
        host = stat(host_path)
        if host is None:
            raise InvalidArgumentError(
                f"CDI device node {node.path}: {quote(host_path)} is not a device on the host"
            )
    base = host or HostDevice(path=host_path, type=node.type or "c", major=0, minor=0)
    return HostDevice(
        path=node.path,
        type=node.type or base.type,
        major=_given(node.major, base.major),
        minor=_given(node.minor, base.minor),
        file_mode=_given(node.file_mode, base.file_mode),
        uid=_given(node.uid, base.uid),
        gid=_given(node.gid, base.gid),
    )


def _given(value: int | None, default: int) -> int:
    return default if value is None else value


def _add_device(linux: Json, dev: HostDevice, access: str) -> None:
    devices: list[Json] = [d for d in linux.get("devices", []) if d.get("path") != dev.path]
    devices.append(device_json(dev.path, dev))
    linux["devices"] = devices
    if dev.type == "p":
        return
    rules: list[Json] = linux.setdefault("resources", {}).setdefault("devices", [])
    rules.append(
        {"allow": True, "type": dev.type, "major": dev.major, "minor": dev.minor, "access": access}
    )


def _add_mount(spec: Json, mount: Mount) -> None:
    """Replaces a mount at the same destination, as pkg/cdi does."""
    kind = mount.type or "bind"
    options = list(mount.options)
    if kind == "bind" and not {"bind", "rbind"} & set(options):
        options.append("rbind")
    mounts = [m for m in spec.get("mounts", []) if m.get("destination") != mount.container_path]
    mounts.append(
        {
            "destination": mount.container_path,
            "type": kind,
            "source": mount.host_path,
            "options": options,
        }
    )
    spec["mounts"] = mounts


def _hook_json(hook: Hook) -> Json:
    entry: Json = {"path": hook.path}
    if hook.args:
        entry["args"] = list(hook.args)
    if hook.env:
        entry["env"] = list(hook.env)
    if hook.timeout is not None:
        entry["timeout"] = hook.timeout
    return entry
