"""CRI-O key history, 1.26 to 1.36 (../shared/reference/crio-config.md §2-4)."""

from __future__ import annotations

from crio_py.config.rules import KeyRule, expand

_UNRELEASED = (1, 37)
_KUBELET_PIDS = "the kubelet's podPidsLimit"

_ROOT = [
    KeyRule(("internal_wipe",), deprecated=(1, 26)),
    KeyRule(("internal_repair",), added=(1, 28)),
    KeyRule(("imagestore",), added=(1, 29)),
]

_API = [
    KeyRule(("tls_min_version",), added=(1, 36)),
    KeyRule(("tls_cipher_suites",), added=(1, 36)),
]

_RUNTIME = [
    KeyRule(("conmon",), deprecated=(1, 26), replacement="runtimes.<name>.monitor_path"),
    KeyRule(("conmon_cgroup",), deprecated=(1, 26), replacement="runtimes.<name>.monitor_cgroup"),
    KeyRule(("conmon_env",), deprecated=(1, 26), replacement="runtimes.<name>.monitor_env"),
    KeyRule(
        ("seccomp_profile",), deprecated=(1, 27), replacement="the kubelet's SeccompDefault feature"
    ),
    KeyRule(("uid_mappings",), deprecated=(1, 29), replacement="Kubernetes user namespaces"),
    KeyRule(("gid_mappings",), deprecated=(1, 29), replacement="Kubernetes user namespaces"),
    KeyRule(
        ("minimum_mappable_uid",), deprecated=(1, 29), replacement="Kubernetes user namespaces"
    ),
    KeyRule(
        ("minimum_mappable_gid",), deprecated=(1, 29), replacement="Kubernetes user namespaces"
    ),
    KeyRule(("pids_limit",), deprecated=(1, 26), replacement=_KUBELET_PIDS),
    KeyRule(("log_size_max",), deprecated=(1, 26), replacement="the kubelet's containerLogMaxSize"),
    KeyRule(("seccomp_use_default_when_empty",), removed=(1, 30)),
    KeyRule(("irqbalance_config_restore_file",), added=(1, 27)),
    KeyRule(("hostnetwork_disable_selinux",), added=(1, 27)),
    KeyRule(("disable_hostport_mapping",), added=(1, 28)),
    KeyRule(("blockio_reload",), added=(1, 29)),
    KeyRule(("shared_cpuset",), added=(1, 29)),
    KeyRule(("timezone",), added=(1, 30)),
    KeyRule(("privileged_seccomp_profile",), added=(1, 33)),
    KeyRule(("min_injected_gomaxprocs",), added=(1, 36)),
    KeyRule(("additional_artifact_stores",), added=(1, 36)),
    # Keys of older releases that 1.26 and later ignore without a word.
    KeyRule(
        ("manage_ns_lifecycle",),
        deprecated=(1, 20),
        removed=(1, 21),
        note="namespace management is always on",
    ),
    KeyRule(
        ("manage_network_ns_lifecycle",), removed=(1, 19), note="namespace management is always on"
    ),
    KeyRule(("default_mounts",), removed=(1, 20), replacement="default_mounts_file"),
    KeyRule(("runtime",), removed=(1, 16), replacement="runtimes.<name>.runtime_path"),
    KeyRule(("runtime_untrusted_workload",), removed=(1, 16), replacement="runtimes.<name>"),
    KeyRule(("default_workload_trust",), removed=(1, 16), replacement="RuntimeClass handlers"),
    KeyRule(("file_locking",), removed=(1, 16)),
    KeyRule(("file_locking_path",), removed=(1, 16)),
    KeyRule(
        ("registries",),
        removed=(1, 19),
        replacement="unqualified-search-registries in registries.conf",
        note="it never had an effect in [crio.runtime]",
    ),
]

_HANDLER = [
    KeyRule(("platform_runtime_paths",), added=(1, 28)),
    KeyRule(("runtime_pull_image",), added=(1, 29)),
    KeyRule(("container_min_memory",), added=(1, 30)),
    KeyRule(("no_sync_log",), added=(1, 31)),
    KeyRule(("inherit_default_runtime",), added=(1, 32)),
    KeyRule(("default_annotations",), added=(1, 32)),
    KeyRule(("stream_websockets",), added=(1, 34)),
    KeyRule(("exec_cpu_affinity",), added=(1, 34)),
    KeyRule(("seccomp_profile",), added=(1, 34)),
    KeyRule(("container_create_timeout",), added=(1, 35)),
]

_IMAGE = [
    KeyRule(
        ("registries",),
        deprecated=(1, 26),
        removed=(1, 31),
        replacement="unqualified-search-registries in registries.conf",
        note="it has had no effect since CRI-O 1.19",
    ),
    KeyRule(
        ("insecure_registries",),
        deprecated=(1, 34),
        replacement="insecure = true in registries.conf",
        note="it has no effect",
    ),
    KeyRule(("pinned_images",), added=(1, 28)),
    KeyRule(("signature_policy_dir",), added=(1, 28)),
    KeyRule(("auto_reload_registries",), added=(1, 30)),
    KeyRule(("pull_progress_timeout",), added=(1, 32)),
    KeyRule(("oci_artifact_mount_support",), added=(1, 33)),
    KeyRule(("short_name_mode",), added=(1, 34)),
    KeyRule(("namespaced_auth_dir",), added=(1, 35)),
]

_NETWORK = [
    KeyRule(("plugin_dir",), deprecated=(1, 26), replacement="plugin_dirs"),
    KeyRule(("cni_status_grace_period",), added=_UNRELEASED),
]

_METRICS = [KeyRule(("metrics_host",), added=(1, 30))]

_STATS = [
    KeyRule(("stats_collection_period",), deprecated=(1, 30), replacement="collection_period"),
    KeyRule(("collection_period",), added=(1, 30)),
    KeyRule(("included_pod_metrics",), added=(1, 30)),
]

_NRI = [
    KeyRule(("nri_config_file",), removed=(1, 27)),
    KeyRule(("nri_plugin_config_dir",), added=(1, 27)),
    KeyRule(("nri_plugin_registration_timeout",), added=(1, 27)),
    KeyRule(("nri_plugin_request_timeout",), added=(1, 27)),
    KeyRule(("nri_disable_connections",), added=(1, 27)),
    KeyRule(("default_validator",), added=(1, 34)),
]

KEY_RULES: list[KeyRule] = [
    *expand([("crio",)], _ROOT),
    *expand([("crio", "api")], _API),
    *expand([("crio", "runtime")], _RUNTIME),
    *expand([("crio", "runtime", "runtimes", "*")], _HANDLER),
    *expand([("crio", "image")], _IMAGE),
    *expand([("crio", "network")], _NETWORK),
    *expand([("crio", "metrics")], _METRICS),
    *expand([("crio", "stats")], _STATS),
    *expand([("crio", "nri")], _NRI),
    KeyRule(("crio", "checkpoint_restore"), added=_UNRELEASED),
]
