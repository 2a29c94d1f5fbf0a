"""CRI config + image config + runtime handler → OCI runtime spec (a JSON-ready dict that
runc accepts as config.json).

`container_spec` mirrors containerd's `buildLinuxSpec` (internal/cri/server/container_create.go)
and CRI-O's `createSandboxContainer`; `sandbox_spec` mirrors containerd's infra container spec
(internal/cri/server/podsandbox/sandbox_run_linux.go). These are pure functions: the caller
gathers host facts (HostFeatures, HostDevice) and the sandbox's files; the only reads are the
image's /etc/passwd and /etc/group and seccomp profile files.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from cri_api.v1 import api_pb2

from crio_py.errors import InvalidArgumentError
from crio_py.ocispec import defaults as d
from crio_py.ocispec.mounts import (
    DEV_SHM,
    MountPlan,
    container_devices,
    container_mounts,
    sandbox_file_mounts,
)
from crio_py.ocispec.namespaces import container_options, creates_uts, id_mappings, namespaces
from crio_py.ocispec.process import (
    image_string,
    image_strings,
    merge_env,
    process_args,
    process_env,
    working_dir,
)
from crio_py.ocispec.request import PodRequest, SandboxSpecRequest, SpecRequest
from crio_py.ocispec.resources import (
    cgroups_path,
    oom_score_adj,
    resources_section,
    rlimits,
    sysctls,
)
from crio_py.ocispec.security import (
    Capabilities,
    SecurityContext,
    apparmor_profile,
    capabilities,
    masked_paths,
    seccomp_section,
)
from crio_py.ocispec.users import ResolvedUser, resolve_user, user_string

Json = dict[str, object]


def container_spec(request: SpecRequest) -> Json:
    """The OCI runtime spec of one CRI container."""
    sc = request.config.linux.security_context
    if sc.privileged and not request.sandbox_config.linux.security_context.privileged:
        raise InvalidArgumentError("no privileged container allowed in a non-privileged sandbox")
    caps = capabilities(
        sc.capabilities if sc.HasField("capabilities") else None,
        request.settings.container_defaults.capabilities,
        privileged=sc.privileged,
        available=request.host.capabilities,
    )
    spec: Json = {
        "ociVersion": d.OCI_VERSION,
        "process": _container_process(request, caps),
        "root": {
            "path": str(request.rootfs_path),
            "readonly": sc.readonly_rootfs or request.settings.container_defaults.read_only,
        },
    }
    linux = _container_linux(request, caps)
    spec["mounts"] = linux.pop("mounts")
    spec["annotations"] = _annotations(request, request.config)
    spec["linux"] = linux
    _set_hostname(spec, request, linux)
    return spec


def _container_process(request: SpecRequest, caps: Capabilities) -> Json:
    config, settings = request.config, request.settings
    sc = config.linux.security_context
    process: Json = {
        "terminal": config.tty,
        "user": _container_user(request).to_json(),
        "args": process_args(config, request.image_config),
        "env": process_env(
            config,
            request.image_config,
            settings.container_defaults.env,
            request.hostname or request.sandbox_config.hostname,
        ),
        "cwd": working_dir(config, request.image_config),
        "capabilities": caps.to_json(),
        "noNewPrivileges": sc.no_new_privs,
    }
    limits = rlimits(settings.container_defaults.ulimits)
    if limits:
        process["rlimits"] = limits
    _set_apparmor(process, request, sc)
    if config.linux.HasField("resources"):
        process["oomScoreAdj"] = _oom(request, config.linux.resources.oom_score_adj)
    return process


def _run_as(sc: SecurityContext) -> tuple[int | None, int | None]:
    """run_as_user and run_as_group, None where unset."""
    uid = sc.run_as_user.value if sc.HasField("run_as_user") else None
    gid = sc.run_as_group.value if sc.HasField("run_as_group") else None
    if (uid is not None and uid < 0) or (gid is not None and gid < 0):
        raise InvalidArgumentError("run_as_user and run_as_group must not be negative")
    return uid, gid


def _container_user(request: SpecRequest) -> ResolvedUser:
    sc = request.config.linux.security_context
    uid, gid = _run_as(sc)
    if gid is not None and uid is None and not sc.run_as_username:
        # containerd and CRI-O: "user group is specified without user or username".
        raise InvalidArgumentError("run_as_group is set without run_as_user or run_as_username")
    user = user_string(sc.run_as_username, uid, gid, image_string(request.image_config, "User"))
    return resolve_user(
        request.rootfs_path,
        user,
        supplemental=list(sc.supplemental_groups),
        merge_image_groups=sc.supplemental_groups_policy == api_pb2.Merge,
    )


def _namespace_options(request: SpecRequest) -> api_pb2.NamespaceOption:
    return container_options(
        request.sandbox_config.linux.security_context.namespace_options,
        request.config.linux.security_context.namespace_options,
    )


def _mount_plan(request: SpecRequest) -> MountPlan:
    sc = request.config.linux.security_context
    files = sandbox_file_mounts(
        request.sandbox_files,
        readonly_rootfs=sc.readonly_rootfs,
        host_ipc=_namespace_options(request).ipc == api_pb2.NODE,
    )
    return container_mounts(
        list(request.config.mounts),
        files,
        privileged=sc.privileged,
        read_only_tmpfs=request.settings.container_defaults.read_only,
        cgroup_writable=bool(request.handler and request.handler.cgroup_writable),
    )


def _container_linux(request: SpecRequest, caps: Capabilities) -> Json:
    config, settings, handler = request.config, request.settings, request.handler
    sc = config.linux.security_context
    host_devices = sc.privileged and not (handler and handler.privileged_without_host_devices)
    plan = _mount_plan(request)
    devices = container_devices(
        list(config.devices),
        request.host_devices,
        all_host_devices=bool(host_devices),
    )
    resources = resources_section(
        config.linux.resources if config.linux.HasField("resources") else None,
        host=request.host,
        pids_limit=settings.container_defaults.pids_limit,
    )
    resources["devices"] = devices.rules
    linux: Json = {"mounts": plan.mounts, "resources": resources}
    linux["cgroupsPath"] = cgroups_path(
        request.cgroup_parent,
        request.cgroup_driver,
        request.container_id,
        crio=request.settings.source_format == "crio",
    )
    linux.update(_common_linux(request, sc, _namespace_options(request), caps))
    if devices.devices:
        linux["devices"] = devices.devices
    if not sc.privileged:
        linux["maskedPaths"], linux["readonlyPaths"] = masked_paths(sc)
    if plan.rootfs_propagation:
        linux["rootfsPropagation"] = plan.rootfs_propagation
    return linux


def _common_linux(
    request: PodRequest,
    sc: SecurityContext,
    options: api_pb2.NamespaceOption,
    caps: Capabilities,
) -> Json:
    """namespaces, sysctl and seccomp: built the same way for containers and sandboxes."""
    sandbox = isinstance(request, SandboxSpecRequest)
    linux: Json = {
        "namespaces": namespaces(
            options,
            request.namespace_paths,
            sandbox=sandbox,
            cgroupns=request.host.cgroup_v2 and not sc.privileged,
        ),
        **id_mappings(options),
    }
    sysctl = sysctls(
        request.settings.container_defaults.sysctls,
        request.sandbox_config.linux.sysctls,
        host_network=options.network == api_pb2.NODE,
        host_ipc=options.ipc == api_pb2.NODE,
    )
    if sysctl:
        linux["sysctl"] = sysctl
    profile = seccomp_section(
        sc,
        privileged=sc.privileged,
        settings=request.settings,
        capabilities=caps.bounding,
        arch=request.host.arch,
    )
    if profile is not None:
        linux["seccomp"] = profile
    return linux


def _set_apparmor(process: Json, request: PodRequest, sc: SecurityContext) -> None:
    profile = apparmor_profile(
        sc,
        privileged=sc.privileged,
        security=request.settings.security,
        host_has_apparmor=request.host.apparmor,
    )
    if profile:
        process["apparmorProfile"] = profile


def _oom(request: PodRequest, requested: int) -> int:
    return oom_score_adj(
        requested,
        daemon=request.daemon_oom_score_adj,
        restrict=request.settings.security.restrict_oom_score_adj,
        can_lower=request.host.can_lower_oom_score_adj,
    )


def _set_hostname(spec: Json, request: PodRequest, linux: Json) -> None:
    """runc may set a hostname only in a UTS namespace it creates."""
    hostname = request.hostname or request.sandbox_config.hostname
    spec_namespaces = linux["namespaces"]
    if hostname and isinstance(spec_namespaces, list) and creates_uts(spec_namespaces):
        spec["hostname"] = hostname


def _annotations(request: PodRequest, config: api_pb2.ContainerConfig | None) -> dict[str, str]:
    """Pod and container annotations the handler lets through (containerd's pod_annotations
    and container_annotations globs), then the io.kubernetes.cri.* ones containerd sets."""
    patterns = request.handler.allowed_annotations if request.handler else ()
    sources = [request.sandbox_config.annotations]
    if config is not None:
        sources.append(config.annotations)
    result = {
        key: value
        for source in sources
        for key, value in sorted(source.items())
        if any(fnmatchcase(key, pattern) for pattern in patterns)
    }
    meta = request.sandbox_config.metadata
    result |= {
        d.SANDBOX_ID: request.sandbox_id,
        d.SANDBOX_NAMESPACE: meta.namespace,
        d.SANDBOX_UID: meta.uid,
        d.SANDBOX_NAME: meta.name,
    }
    if config is None:
        result[d.SANDBOX_LOG_DIR] = request.sandbox_config.log_directory
        result[d.SANDBOX_IMAGE_NAME] = request.image_name
        result[d.CONTAINER_TYPE] = d.CONTAINER_TYPE_SANDBOX
    else:
        result[d.CONTAINER_NAME] = config.metadata.name
        result[d.IMAGE_NAME] = request.image_name
        if request.infra_container:
            result[d.CONTAINER_TYPE] = d.CONTAINER_TYPE_CONTAINER
    return result


def sandbox_spec(request: SandboxSpecRequest) -> Json:
    """The OCI runtime spec of a sandbox's infra (pause) container: the image's entrypoint,
    a read-only root, the pod's namespaces, the pod cgroup and PodSandboxConfig resources."""
    sc = request.sandbox_config.linux.security_context
    caps = capabilities(
        None,
        request.settings.container_defaults.capabilities,
        privileged=sc.privileged,
        available=request.host.capabilities,
    )
    spec: Json = {
        "ociVersion": d.OCI_VERSION,
        "process": _sandbox_process(request, caps),
        "root": {"path": str(request.rootfs_path), "readonly": True},
        "mounts": _sandbox_mounts(request),
        "annotations": _annotations(request, None),
    }
    linux = _sandbox_linux(request, caps)
    spec["linux"] = linux
    _set_hostname(spec, request, linux)
    return spec


def _sandbox_process(request: SandboxSpecRequest, caps: Capabilities) -> Json:
    sc = request.sandbox_config.linux.security_context
    image = request.image_config
    uid, gid = _run_as(sc)
    user = resolve_user(
        request.rootfs_path,
        user_string("", uid, gid, image_string(image, "User")),
        supplemental=list(sc.supplemental_groups),
        merge_image_groups=sc.supplemental_groups_policy == api_pb2.Merge,
    )
    process: Json = {
        "terminal": False,
        "user": user.to_json(),
        "args": process_args(api_pb2.ContainerConfig(), image),
        "env": merge_env([d.DEFAULT_PATH_ENV], image_strings(image, "Env")),
        "cwd": working_dir(api_pb2.ContainerConfig(), image),
        "capabilities": caps.to_json(),
        "noNewPrivileges": True,
        "oomScoreAdj": _oom(request, d.SANDBOX_OOM_SCORE_ADJ),
    }
    _set_apparmor(process, request, sc)
    return process


def _sandbox_mounts(request: SandboxSpecRequest) -> list[Json]:
    """containerd's defaults (sysfs writable when privileged) with the sandbox's /dev/shm and
    files bound read-only, nosuid, nodev, noexec in place of the default /dev/shm."""
    sc = request.sandbox_config.linux.security_context
    host_ipc = sc.namespace_options.ipc == api_pb2.NODE
    files = dict(request.sandbox_files)
    if host_ipc:
        files[DEV_SHM] = DEV_SHM
    mounts: list[Json] = [
        {
            "destination": dest,
            "type": kind,
            "source": source,
            "options": ["rw" if sc.privileged and o == "ro" else o for o in options],
        }
        for dest, kind, source, options in d.DEFAULT_MOUNTS
        if dest not in files
    ]
    for dest, source in sorted(files.items()):
        if not dest.startswith("/") or not source.startswith("/"):
            raise InvalidArgumentError(f"sandbox file mount {dest} → {source} is not absolute")
        mounts.append(
            {
                "destination": dest,
                "type": "bind",
                "source": source,
                "options": ["rbind", "ro", "nosuid", "nodev", "noexec"],
            }
        )
    return mounts


def _sandbox_linux(request: SandboxSpecRequest, caps: Capabilities) -> Json:
    linux_config = request.sandbox_config.linux
    sc = linux_config.security_context
    resources = resources_section(
        linux_config.resources if linux_config.HasField("resources") else None,
        host=request.host,
        default_shares=d.SANDBOX_CPU_SHARES,
    )
    resources["devices"] = [{"allow": False, "access": "rwm"}]
    linux: Json = {
        "resources": resources,
        "cgroupsPath": cgroups_path(
            request.cgroup_parent,
            request.cgroup_driver,
            request.sandbox_id,
            crio=request.settings.source_format == "crio",
        ),
    }
    linux.update(_common_linux(request, sc, sc.namespace_options, caps))
    if not sc.privileged:
        linux["maskedPaths"], linux["readonlyPaths"] = masked_paths(None)
    return linux
