"""linux.namespaces of a container or sandbox spec.

A pod in a user namespace of its own (userns mode POD) joins the one the daemon pinned, which
owns the pod's other namespaces; every spec also carries the id mappings. A sandbox creates
the pod's namespaces (or joins the network namespace the daemon pinned for
CNI); its containers join them by path. A host (NODE) mode leaves that namespace out, so the
process stays in the host's; host network also means the host's UTS namespace, as in
Kubernetes. The PID namespace is private to each container unless the pod shares it.
"""

from __future__ import annotations

from collections.abc import Mapping

from cri_api.v1 import api_pb2

from crio_py.errors import InvalidArgumentError, quote
from crio_py.ocispec.request import NamespaceKind

NODE = api_pb2.NODE


def _entry(kind: str, paths: Mapping[NamespaceKind, str], key: NamespaceKind) -> dict[str, str]:
    path = paths.get(key, "")
    if path and not path.startswith("/"):
        raise InvalidArgumentError(f"{key} namespace path {quote(path)} is not absolute")
    return {"type": kind, "path": path} if path else {"type": kind}


def container_options(
    sandbox: api_pb2.NamespaceOption, container: api_pb2.NamespaceOption
) -> api_pb2.NamespaceOption:
    """The namespace modes of a container: network and IPC are the sandbox's, whatever the
    container's config says (containerd's WithPodNamespaces joins the sandbox's), while the
    PID mode and the user namespace are the container's own."""
    options = api_pb2.NamespaceOption()
    options.CopyFrom(container)
    options.network = sandbox.network
    options.ipc = sandbox.ipc
    return options


def namespaces(
    options: api_pb2.NamespaceOption,
    paths: Mapping[NamespaceKind, str],
    *,
    sandbox: bool,
    cgroupns: bool,
) -> list[dict[str, str]]:
    """The namespaces, in containerd's order (pid, ipc, uts, mount, network, cgroup).
    `cgroupns`: a private cgroup namespace (cgroup v2, not privileged, as containerd does)."""
    result = []
    if has_userns(options):
        if not paths.get("user"):
            raise InvalidArgumentError("no pinned user namespace to join")
        result.append(_entry("user", paths, "user"))
    if options.pid != NODE:
        result.append(_pid(options, paths, sandbox=sandbox))
    if options.ipc != NODE:
        result.append(_entry("ipc", paths, "ipc"))
    if options.network != NODE:
        result.append(_entry("uts", paths, "uts"))
    result.append({"type": "mount"})
    if options.network != NODE:
        result.append(_entry("network", paths, "network"))
    if cgroupns:
        result.append({"type": "cgroup"})
    return result


def _pid(
    options: api_pb2.NamespaceOption, paths: Mapping[NamespaceKind, str], *, sandbox: bool
) -> dict[str, str]:
    if sandbox or options.pid == api_pb2.CONTAINER:
        return {"type": "pid"}
    if options.pid == api_pb2.TARGET and not paths.get("pid"):
        raise InvalidArgumentError(
            f"no PID namespace path for target container {quote(options.target_id)}"
        )
    return _entry("pid", paths, "pid")


def has_userns(options: api_pb2.NamespaceOption) -> bool:
    """Whether the pod runs in a user namespace of its own (mode POD)."""
    return options.HasField("userns_options") and options.userns_options.mode == api_pb2.POD


def id_mappings(options: api_pb2.NamespaceOption) -> dict[str, list[dict[str, int]]]:
    """linux.uidMappings and gidMappings: runc wants them even to join a user namespace."""
    if not has_userns(options):
        return {}
    userns = options.userns_options

    def lines(mappings: list[api_pb2.IDMapping]) -> list[dict[str, int]]:
        return [
            {"containerID": m.container_id, "hostID": m.host_id, "size": m.length} for m in mappings
        ]

    return {"uidMappings": lines(list(userns.uids)), "gidMappings": lines(list(userns.gids))}


def creates_uts(spec_namespaces: list[dict[str, str]]) -> bool:
    """Whether the spec makes a new UTS namespace (only then may it set a hostname)."""
    return any(ns["type"] == "uts" and "path" not in ns for ns in spec_namespaces)
