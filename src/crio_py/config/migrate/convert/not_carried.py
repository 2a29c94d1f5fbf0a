"""Why a key is not carried to the other daemon: the reason tables of crossmap.md's
"none" and "partial" rows, in both directions."""

from __future__ import annotations

from typing import Any, get_args, get_origin

from pydantic import BaseModel

from crio_py.config.crio.models import CrioConfig
from crio_py.config.migrate.convert._common import (
    API,
    CNRI,
    HANDLERS,
    IMAGE,
    MAPPED_PLUGINS,
    METRICS,
    NET,
    RUN,
    STATS,
    TRACING,
    Key,
    first_reason,
    key_matches,
)

_CONMON = (
    "per-container conmon vs per-pod shim: containerd starts one shim per pod "
    "(runtime_path names the shim, options.ShimCgroup its cgroup), so conmon settings "
    "have no equivalent"
)
_NO_CONTAINERD = "containerd has no equivalent setting"
_STORAGE_FORMATS = (
    "different storage formats: containers/storage and containerd's content store and "
    "snapshots cannot share a directory, so containerd keeps its own {0} — never point both "
    "daemons at the same place"
)

# Tables the report treats as one key.
CRIO_UNITS: tuple[Key, ...] = (
    (*RUN, "workloads", "*"),
    (*HANDLERS, "*", "platform_runtime_paths"),
    (*HANDLERS, "*", "default_annotations"),
    (*CNRI, "default_validator"),
)

# Why a CRI-O key is not carried, first matching prefix wins.
_CRIO_REASONS: tuple[tuple[Key, str], ...] = (
    ((*HANDLERS, "*", "monitor_path"), _CONMON),
    ((*HANDLERS, "*", "monitor_cgroup"), _CONMON),
    ((*HANDLERS, "*", "monitor_env"), _CONMON),
    ((*HANDLERS, "*", "monitor_exec_cgroup"), _CONMON),
    (
        (*HANDLERS, "*", "allowed_annotations"),
        "partial: CRI-O's experimental annotations have no containerd equivalent; "
        "containerd's pod_annotations / container_annotations only copy annotations into the "
        "OCI spec (add them by hand for VM pass-through annotations such as io.katacontainers.*)",
    ),
    (
        (*HANDLERS, "*", "seccomp_profile"),
        "none: containerd sets a per-runtime profile only through a base_runtime_spec",
    ),
    ((*RUN, "conmon"), _CONMON),
    ((*RUN, "conmon_cgroup"), _CONMON),
    ((*RUN, "conmon_env"), _CONMON),
    (
        (*RUN, "log_size_max"),
        "different meaning: CRI-O limits the size of a container's log file, containerd's "
        "max_container_log_line_size the length of one log line — never map one to the other; "
        "set the kubelet's containerLogMaxSize instead",
    ),
    (
        (*RUN, "default_capabilities"),
        "none: containerd uses the OCI default capability set plus what the pod asks for; "
        "only a per-runtime base_runtime_spec (process.capabilities) could change it",
    ),
    ((*RUN, "default_env"), "none: only a per-runtime base_runtime_spec could set process.env"),
    (
        (*RUN, "default_ulimits"),
        "none: only a per-runtime base_runtime_spec could set process.rlimits",
    ),
    ((*RUN, "hooks_dir"), "none: use NRI or a base_runtime_spec with hooks"),
    ((*RUN, "default_mounts_file"), "none: use NRI or a base_runtime_spec with mounts"),
    (
        (*RUN, "seccomp_profile"),
        "partial: containerd's unset_seccomp_profile applies when the pod sets no profile, "
        "a different trigger, so it is not converted automatically",
    ),
    (
        (*RUN, "apparmor_profile"),
        "partial: containerd can only turn AppArmor off (disable_apparmor); "
        "it takes no profile name",
    ),
    ((*RUN, "pids_limit"), "none: set the kubelet's podPidsLimit"),
    ((*RUN, "workloads"), "none: containerd has no workloads"),
    (
        (*RUN, "namespaces_dir"),
        "partial: containerd pins network namespaces under /var/run/netns, or under its state "
        "directory with netns_mounts_under_state_dir = true",
    ),
    (
        (*RUN, "disable_hostport_mapping"),
        "none: under containerd the CNI portmap plugin maps hostPorts",
    ),
    (
        (*RUN, "decryption_keys_path"),
        'partial: containerd needs image_decryption.key_model = "node" and a stream processor '
        "run with --decryption-keys-path",
    ),
    ((*RUN, "enable_pod_events"), "none: containerd always serves container events"),
    (
        (*RUN, "drop_infra_ctr"),
        "none: containerd always runs a sandbox (pause) container for every pod",
    ),
    (
        (*IMAGE, "registries"),
        "registries.conf, not crio.conf: the key has had no effect since CRI-O 1.19; containerd "
        "always expands short names to docker.io/library/…",
    ),
    (
        (*IMAGE, "insecure_registries"),
        "registries.conf, not crio.conf (no effect in recent CRI-O); for containerd write "
        "skip_verify = true (or an http:// server) in the registry's hosts.toml",
    ),
    (
        (*IMAGE, "global_auth_file"),
        "partial: containerd reads no auth.json; use kubelet ImagePullSecrets or a credential "
        "provider (registry.configs.<host>.auth is deprecated)",
    ),
    (
        (*IMAGE, "pause_image_auth_file"),
        "none: containerd pulls the sandbox image with its registry configuration",
    ),
    ((*IMAGE, "pause_command"), "none: containerd runs the sandbox image's own entrypoint"),
    (
        (*IMAGE, "pinned_images"),
        "none: containerd's pinned_images maps a role to one image (only sandbox is used)",
    ),
    ((*IMAGE, "signature_policy"), "none: containerd has no policy.json image verification"),
    (
        (*NET, "cni_default_network"),
        "none: containerd loads the lexically first configuration in conf_dir; rename that "
        "file so it sorts first",
    ),
    ((*METRICS,), "none: containerd's metrics endpoint has no collectors, socket or TLS"),
    (
        (*TRACING,),
        "partial: give containerd OTEL_EXPORTER_OTLP_* environment variables instead "
        "(the io.containerd.tracing.processor.v1.otlp plugin is deprecated)",
    ),
    (
        (*STATS,),
        "partial: containerd's stats_collect_period covers only image filesystem stats",
    ),
    ((*CNRI, "nri_config_file"), "removed in CRI-O 1.27"),
    (("crio", "root"), _STORAGE_FORMATS.format("root (/var/lib/containerd)")),
    (("crio", "runroot"), _STORAGE_FORMATS.format("state (/run/containerd)")),
    (
        ("crio", "storage_option"),
        "partial: storage options become snapshotter plugin settings (for example "
        "io.containerd.snapshotter.v1.overlayfs mount_options); translate them by hand",
    ),
    (
        (*API, "stream_tls_ca"),
        "none: containerd's streaming server verifies no client certificate",
    ),
)


def _crio_known(path: Key) -> bool:
    """Whether CRI-O reads this key path at all (misplaced keys are not)."""
    model: type[BaseModel] = CrioConfig
    parts = list(path)
    while parts:
        info = model.model_fields.get(parts.pop(0))
        if info is None:
            return False
        annotation = info.annotation
        if get_origin(annotation) is dict:
            if not parts:
                return True
            parts.pop(0)
            annotation = get_args(annotation)[1]
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return True
        model = annotation
    return True


def crio_reason(path: Key) -> str:
    if not _crio_known(path):
        return "CRI-O does not read this key here (see `crio-py config lint`); nothing to carry"
    return first_reason(_CRIO_REASONS, path) or _NO_CONTAINERD


# == containerd → CRI-O ========================================================================


_NO_CRIO = "CRI-O has no equivalent setting"


_CRI: Key = ("plugins", "<cri>")
_CRI_RUNTIME: Key = (*_CRI, "containerd", "runtimes", "*")
# The deprecated single-runtime tables of containerd 1.x hold the same keys as runtimes.<name>.
_LEGACY_RUNTIMES: tuple[Key, ...] = (
    (*_CRI, "containerd", "default_runtime"),
    (*_CRI, "containerd", "untrusted_workload_runtime"),
)

CONTAINERD_UNITS: tuple[Key, ...] = (
    (*_CRI, "registry", "mirrors"),
    (*_CRI, "registry", "configs", "*", "auth"),
    (*_CRI, "registry", "configs", "*", "tls"),
    (*_CRI, "registry", "auths"),
    (*_CRI, "registry", "headers"),
    (*_CRI, "image_decryption"),
    ("timeouts",),
    ("proxy_plugins", "*"),
    ("stream_processors", "*"),
    ("ttrpc",),
    ("cgroup",),
)

_CONTAINERD_REASONS: tuple[tuple[Key, str], ...] = (
    (
        (*_CRI_RUNTIME, "runtime_path"),
        "containerd's runtime_path is the shim binary; CRI-O's runtime_path is the OCI runtime "
        "(conmon takes the shim's place), so it is not copied",
    ),
    (
        (*_CRI_RUNTIME, "pod_annotations"),
        "partial: CRI-O hands pod annotations to the runtime anyway; its allowed_annotations "
        "are about CRI-O's own experimental annotations",
    ),
    (
        (*_CRI_RUNTIME, "container_annotations"),
        "partial: CRI-O hands annotations to the runtime anyway; its allowed_annotations "
        "are about CRI-O's own experimental annotations",
    ),
    (
        (*_CRI_RUNTIME, "base_runtime_spec"),
        "none: CRI-O builds the spec from default_capabilities, default_env, default_ulimits …; "
        "translate the spec by hand",
    ),
    ((*_CRI_RUNTIME, "cni_conf_dir"), "none: CRI-O has one CNI configuration for all handlers"),
    ((*_CRI_RUNTIME, "cni_max_conf_num"), "none: CRI-O has one CNI configuration for all handlers"),
    ((*_CRI_RUNTIME, "snapshotter"), "none: CRI-O has one storage driver for all handlers"),
    (
        (*_CRI_RUNTIME, "cgroup_writable"),
        "partial: allow the annotation cgroup2-mount-hierarchy-rw.crio.io for the workloads "
        "that need a writable cgroup",
    ),
    (
        (*_CRI_RUNTIME, "options", "ShimCgroup"),
        "partial: CRI-O's monitor_cgroup places conmon (one per container), not a shim",
    ),
    ((*_CRI_RUNTIME, "options"), "a shim option CRI-O has no equivalent for"),
    (
        (*_CRI, "max_container_log_line_size"),
        "different meaning: containerd limits the length of one log line, CRI-O's log_size_max "
        "the size of a whole log file — never map one to the other",
    ),
    (
        (*_CRI, "disable_apparmor"),
        "partial: CRI-O has only apparmor_profile; AppArmor is off when the host has none",
    ),
    (
        (*_CRI, "unset_seccomp_profile"),
        "partial: CRI-O's seccomp_profile is the profile behind RuntimeDefault, a different "
        "trigger, so it is not converted automatically",
    ),
    (
        (*_CRI, "stats_collect_period"),
        "partial: CRI-O's collection_period covers container and pod stats, not only images",
    ),
    ((*_CRI, "enable_cdi"), "CRI-O always reads CDI specs from cdi_spec_dirs"),
    (
        (*_CRI, "netns_mounts_under_state_dir"),
        "partial: CRI-O's namespaces_dir says where namespaces are pinned",
    ),
    ((*_CRI, "disable_tcp_service"), "none: CRI-O serves the CRI only on its unix socket"),
    ((*_CRI, "image_decryption"), "partial: set CRI-O's decryption_keys_path by hand"),
    ((*_CRI, "cni"), "none: CRI-O loads one CNI configuration (cni_default_network picks it)"),
    ((*_CRI, "pinned_images"), "containerd uses only the sandbox role"),
    (
        (*_CRI, "containerd", "disable_snapshot_annotations"),
        "none: snapshot annotations serve containerd's remote snapshotters",
    ),
    (
        (*_CRI, "containerd", "discard_unpacked_layers"),
        "none: containers/storage keeps no compressed layers",
    ),
    ((*_CRI, "max_concurrent_downloads"), "none: containers/image sets its own concurrency"),
    (
        ("root",),
        "different storage formats: containerd's content store and snapshots and CRI-O's "
        "containers/storage cannot share a directory; CRI-O keeps its own root — never point "
        "both daemons at the same place",
    ),
    (("state",), "different storage formats: CRI-O keeps its own runroot"),
    (
        ("imports",),
        "CRI-O reads drop-ins from crio.conf.d instead; the imported files are part of this "
        "conversion",
    ),
    (("grpc",), "none: CRI-O's socket has no owner, group or TCP listener settings"),
    (("debug",), "none: CRI-O has no debug socket or log format setting"),
    (
        ("plugins", "io.containerd.snapshotter.v1.overlayfs"),
        "partial: overlay mount options go to CRI-O's storage_option (overlay.mountopt=…)",
    ),
    (
        ("plugins", "io.containerd.transfer.v1.local"),
        "none: CRI-O pulls with containers/image; registry hosts go to registries.conf",
    ),
    (
        ("plugins", "io.containerd.gc.v1.scheduler"),
        "none: CRI-O removes images only when the kubelet's image GC asks",
    ),
    (
        ("plugins", "io.containerd.shim.v1.manager"),
        "partial: CRI-O's per-handler monitor_env sets conmon's environment",
    ),
    (
        ("plugins", "io.containerd.tracing.processor.v1.otlp"),
        "partial: set enable_tracing and tracing_endpoint in [crio.tracing] by hand",
    ),
    (_CRI, _NO_CRIO),
    (("plugins",), "this containerd plugin has no CRI-O equivalent"),
)


def containerd_reason(path: Key) -> str:
    for legacy in _LEGACY_RUNTIMES:
        if key_matches(legacy, path):  # read it as runtimes.<name>
            path = (*_CRI_RUNTIME, *path[len(legacy) :])
    return first_reason(_CONTAINERD_REASONS, path) or _NO_CRIO


def unmapped_plugin_units(data: dict[str, Any]) -> tuple[Key, ...]:
    plugins = data.get("plugins", {})
    names = plugins if isinstance(plugins, dict) else {}
    return tuple(("plugins", n) for n in names if n not in MAPPED_PLUGINS)
