"""`config migrate` across formats (convert.py): CRI-O ⇄ containerd.

Golden tests pin the output of each mapping rule (../shared/reference/crossmap.md); corpus tests
check that every converted configuration lints without errors, never does what the cross-map
forbids, and that a round trip keeps every mapped setting.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from crio_py.config.containerd.cri import RUNSC_SHIM
from crio_py.config.crio.merge import dropin_files
from crio_py.config.diagnostics import Severity
from crio_py.config.load import LintOptions, import_paths, lint_paths, load_settings
from crio_py.config.migrate.convert import containerd_to_crio, crio_to_containerd
from crio_py.config.migrate.report import Change, MigrationResult
from crio_py.config.model import RuntimeHandler, RuntimeSettings
from crio_py.config.source import Source, parse_text, read_file
from crio_py.errors import ConfigReadError
from tests.conftest import CONFIGS

CRIO_CORPUS = sorted(
    p for p in (CONFIGS / "crio" / "corpus").iterdir() if p.suffix == ".conf" or p.is_dir()
)
CONTAINERD_CORPUS = sorted((CONFIGS / "containerd" / "corpus").glob("*.toml"))


def _version(path: Path) -> int:
    return int(tomllib.loads(path.read_text()).get("version", 1))


CONTAINERD_V2_V3 = [p for p in CONTAINERD_CORPUS if _version(p) in (2, 3)]
CONTAINERD_V3 = [p for p in CONTAINERD_CORPUS if _version(p) == 3]

RT = '[plugins."io.containerd.cri.v1.runtime"'
RUNTIMES = f"{RT}.containerd.runtimes"


# -- helpers ------------------------------------------------------------------------------------


def _to_containerd(*texts: str) -> MigrationResult:
    """Convert CRI-O texts (main file first, then drop-ins)."""
    return crio_to_containerd([parse_text(t, f"/etc/crio/{i}.conf") for i, t in enumerate(texts)])


def _to_crio(*texts: str, dropin: bool = False) -> MigrationResult:
    """Convert a containerd config (and its imports)."""
    sources = [parse_text(t, f"/etc/containerd/{i}.toml") for i, t in enumerate(texts)]
    return containerd_to_crio(sources, dropin=dropin)


def _section(text: str, header: str) -> str:
    """One table of a TOML text: its header line and the lines up to the next header."""
    lines = text.splitlines()
    assert header in lines, f"no {header} in:\n{text}"
    start = lines.index(header)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    return "\n".join(lines[start:end]).strip() + "\n"


def _changes(result: MigrationResult, key: str) -> list[Change]:
    return [c for c in result.changes if c.key == key]


def _change(result: MigrationResult, key: str) -> Change:
    found = _changes(result, key)
    assert len(found) == 1, f"expected one change for {key}, got {result.changes}"
    return found[0]


def _crio_sources(path: Path) -> list[Source]:
    """A CRI-O corpus entry: one file, or a directory with crio.conf and/or crio.conf.d."""
    if not path.is_dir():
        return [read_file(path)]
    main = [path / "crio.conf"] if (path / "crio.conf").is_file() else []
    return [read_file(p) for p in [*main, *dropin_files(path / "crio.conf.d")]]


def _containerd_sources(path: Path) -> list[Source]:
    """A containerd config and the files it imports."""
    main = read_file(path)
    return [main, *(read_file(p) for p in import_paths(main))]


def _errors(path: Path) -> list[str]:
    result = lint_paths([path], LintOptions())
    assert not result.unreadable
    return [
        f"{d.line}:{d.column} {d.code} {d.message}"
        for d in result.diagnostics
        if d.severity is Severity.ERROR
    ]


def _write_crio(root: Path, result: MigrationResult) -> Path:
    """Where `config show` finds the converted CRI-O configuration."""
    if result.target == "crio-dropin":
        path = root / "crio.conf.d" / "99-migrated.conf"
        path.parent.mkdir(parents=True)
        path.write_text(result.text)
        return path.parent
    path = root / "crio.conf"
    path.write_text(result.text)
    return path


# == CRI-O → containerd: golden output of each rule =============================================


def test_minimal_crio_config_becomes_a_full_containerd_config() -> None:
    result = _to_containerd('[crio.runtime]\ncgroup_manager = "cgroupfs"\n')
    assert result.source_format == "crio"
    assert result.target == "containerd-v3"
    assert result.text == (
        "# containerd config (version 3) converted from a CRI-O configuration by\n"
        "# `crio-py config migrate`; settings without an equivalent are listed in its report.\n"
        "version = 3\n"
        "\n"
        "[grpc]\n"
        "max_send_message_size = 83886080\n"
        "max_recv_message_size = 83886080\n"
        "\n"
        '[plugins."io.containerd.cri.v1.images"]\n'
        'image_pull_progress_timeout = "0s"\n'
        "\n"
        '[plugins."io.containerd.cri.v1.images".pinned_images]\n'
        'sandbox = "registry.k8s.io/pause:3.10.1"\n'
        "\n"
        '[plugins."io.containerd.cri.v1.runtime"]\n'
        "enable_unprivileged_ports = false\n"
        "enable_unprivileged_icmp = false\n"
        "\n"
        '[plugins."io.containerd.cri.v1.runtime".containerd]\n'
        'default_runtime_name = "crun"\n'
        "\n"
        '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.crun]\n'
        'runtime_type = "io.containerd.runc.v2"\n'
        "\n"
        '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.crun.options]\n'
        'BinaryName = "crun"\n'
        'Root = "/run/crun"\n'
        "SystemdCgroup = false\n"
    )
    # Every value CRI-O used implicitly and containerd would not is reported as written.
    written = {c.key for c in result.changes if c.action == "written"}
    assert written == {
        "crio.runtime.runtimes.crun",
        "crio.runtime.default_runtime",
        "crio.api.grpc_max_send_msg_size",
        "crio.api.grpc_max_recv_msg_size",
        "crio.image.pause_image",
        "crio.image.pull_progress_timeout",
        "crio.runtime.default_sysctls",
    }
    assert _change(result, "crio.runtime.cgroup_manager").action == "converted"


def test_default_cgroup_manager_is_written_as_systemd_cgroup() -> None:
    result = _to_containerd("[crio.runtime]\n")
    assert _section(result.text, f"{RUNTIMES}.crun.options]") == (
        f'{RUNTIMES}.crun.options]\nBinaryName = "crun"\nRoot = "/run/crun"\nSystemdCgroup = true\n'
    )
    change = _change(result, "crio.runtime.cgroup_manager")
    assert change.action == "written"
    assert "CRI-O's default cgroup_manager is systemd" in change.reason


def test_oci_handlers_become_runc_shim_runtimes_with_the_cgroup_driver_on_each() -> None:
    result = _to_containerd(
        "[crio.runtime]\n"
        'default_runtime = "runc"\n'
        'cgroup_manager = "systemd"\n'
        "no_pivot = true\n"
        "[crio.runtime.runtimes.runc]\n"
        'runtime_path = "/usr/libexec/crio/runc"\n'
        'runtime_root = "/run/runc"\n'
        "[crio.runtime.runtimes.nvidia]\n"
        'runtime_path = "/usr/bin/nvidia-container-runtime"\n'
        "privileged_without_host_devices = true\n"
    )
    text = result.text
    assert _section(text, f"{RT}.containerd]") == (
        f'{RT}.containerd]\ndefault_runtime_name = "runc"\n'
    )
    assert _section(text, f"{RUNTIMES}.runc.options]") == (
        f"{RUNTIMES}.runc.options]\n"
        'BinaryName = "/usr/libexec/crio/runc"\n'
        'Root = "/run/runc"\n'
        "SystemdCgroup = true\n"
        "NoPivotRoot = true\n"
    )
    assert _section(text, f"{RUNTIMES}.nvidia]") == (
        f"{RUNTIMES}.nvidia]\n"
        'runtime_type = "io.containerd.runc.v2"\n'
        "privileged_without_host_devices = true\n"
    )
    assert _section(text, f"{RUNTIMES}.nvidia.options]") == (
        f"{RUNTIMES}.nvidia.options]\n"
        'BinaryName = "/usr/bin/nvidia-container-runtime"\n'
        "SystemdCgroup = true\n"
        "NoPivotRoot = true\n"
    )
    # CRI-O's built-in crun handler is kept as a RuntimeClass handler.
    assert f"{RUNTIMES}.crun.options]" in text
    assert _change(result, "crio.runtime.no_pivot").action == "converted"
    # Never the OCI binary as containerd's runtime_path (that names the shim).
    assert "runtime_path" not in text


def test_vm_handlers_become_shim_runtimes_named_after_the_shim_binary() -> None:
    result = _to_containerd(
        "[crio.runtime.runtimes.kata-qemu]\n"
        'runtime_type = "vm"\n'
        'runtime_path = "/opt/kata/bin/containerd-shim-kata-qemu-v2"\n'
        'runtime_root = "/run/vc"\n'
        'runtime_config_path = "/opt/kata/share/defaults/kata-containers/configuration-qemu.toml"\n'
        "privileged_without_host_devices = true\n"
    )
    assert _section(result.text, f"{RUNTIMES}.kata-qemu]") == (
        f"{RUNTIMES}.kata-qemu]\n"
        'runtime_type = "io.containerd.kata-qemu.v2"\n'
        'runtime_path = "/opt/kata/bin/containerd-shim-kata-qemu-v2"\n'
        "privileged_without_host_devices = true\n"
    )
    assert _section(result.text, f"{RUNTIMES}.kata-qemu.options]") == (
        f"{RUNTIMES}.kata-qemu.options]\n"
        'ConfigPath = "/opt/kata/share/defaults/kata-containers/configuration-qemu.toml"\n'
    )
    # No cgroup driver on a shim that is not runc.
    assert "SystemdCgroup" not in _section(result.text, f"{RUNTIMES}.kata-qemu.options]")
    root = _change(result, "crio.runtime.runtimes.kata-qemu.runtime_root")
    assert root.action == "not-carried"


def test_pod_handler_is_not_carried_and_containerd_falls_back_to_runc() -> None:
    result = _to_containerd(
        "[crio.runtime]\n"
        'default_runtime = "conmonrs"\n'
        "[crio.runtime.runtimes.conmonrs]\n"
        'runtime_type = "pod"\n'
        'monitor_path = "/usr/libexec/crio/conmonrs"\n'
    )
    change = _change(result, "crio.runtime.runtimes.conmonrs")
    assert change.action == "not-carried"
    assert "conmon-rs" in change.reason
    assert "conmonrs" not in result.text
    assert _section(result.text, f"{RT}.containerd]") == (
        f'{RT}.containerd]\ndefault_runtime_name = "runc"\n'
    )
    assert _section(result.text, f"{RUNTIMES}.runc.options]") == (
        f'{RUNTIMES}.runc.options]\nBinaryName = "runc"\nSystemdCgroup = true\n'
    )
    # The handler's own keys are covered by the handler's change, not reported one by one.
    assert not _changes(result, "crio.runtime.runtimes.conmonrs.monitor_path")


def test_inherit_default_runtime_is_resolved() -> None:
    result = _to_containerd(
        "[crio.runtime]\n"
        'default_runtime = "crun"\n'
        "[crio.runtime.runtimes.crun]\n"
        'runtime_path = "/usr/bin/crun"\n'
        'runtime_root = "/run/crun"\n'
        "[crio.runtime.runtimes.fast]\n"
        "inherit_default_runtime = true\n"
    )
    assert _section(result.text, f"{RUNTIMES}.fast.options]") == (
        f"{RUNTIMES}.fast.options]\n"
        'BinaryName = "/usr/bin/crun"\n'
        'Root = "/run/crun"\n'
        "SystemdCgroup = true\n"
    )
    assert (
        "inherit_default_runtime resolved from crun"
        in _change(result, "crio.runtime.runtimes.fast").reason
    )


def test_pause_image_and_pull_timeout_go_to_the_images_plugin() -> None:
    result = _to_containerd(
        "[crio.image]\n"
        'pause_image = "registry.example.com/k8s/pause:3.9"\n'
        'pull_progress_timeout = "2m0s"\n'
        'image_volumes = "ignore"\n'
    )
    assert _section(result.text, '[plugins."io.containerd.cri.v1.images"]') == (
        '[plugins."io.containerd.cri.v1.images"]\nimage_pull_progress_timeout = "2m0s"\n'
    )
    assert _section(result.text, '[plugins."io.containerd.cri.v1.images".pinned_images]') == (
        '[plugins."io.containerd.cri.v1.images".pinned_images]\n'
        'sandbox = "registry.example.com/k8s/pause:3.9"\n'
    )
    # Never in the CRI server plugin, where version 3 ignores it.
    assert "sandbox_image" not in result.text
    assert "ignore_image_defined_volumes = true" in _section(result.text, f"{RT}]")
    assert _change(result, "crio.image.pause_image").action == "moved"


@pytest.mark.parametrize(
    ("volumes", "expected"), [("mkdir", "false"), ("bind", "false"), ("ignore", "true")]
)
def test_image_volumes(volumes: str, expected: str) -> None:
    result = _to_containerd(f'[crio.image]\nimage_volumes = "{volumes}"\n')
    assert f"ignore_image_defined_volumes = {expected}\n" in _section(result.text, f"{RT}]")


def test_one_cni_plugin_dir_becomes_bin_dir() -> None:
    result = _to_containerd(
        '[crio.network]\nnetwork_dir = "/etc/cni/net.d/"\nplugin_dirs = ["/opt/cni/bin/"]\n'
    )
    assert _section(result.text, f"{RT}.cni]") == (
        f'{RT}.cni]\nbin_dir = "/opt/cni/bin/"\nconf_dir = "/etc/cni/net.d/"\n'
    )


def test_several_cni_plugin_dirs_become_bin_dirs_for_containerd_2_1() -> None:
    result = _to_containerd(
        '[crio.network]\nplugin_dir = "/usr/libexec/cni"\nplugin_dirs = ["/opt/cni/bin"]\n'
    )
    assert _section(result.text, f"{RT}.cni]") == (
        f'{RT}.cni]\nbin_dirs = [\n    "/usr/libexec/cni",\n    "/opt/cni/bin",\n]\n'
    )
    change = _change(result, "crio.network.plugin_dirs")
    assert "2.1" in change.reason
    assert "bin_dir =" not in result.text  # never bin_dir and bin_dirs together


def test_api_keys_go_to_grpc_and_the_streaming_server() -> None:
    result = _to_containerd(
        "[crio.api]\n"
        'listen = "/run/k8s/cri.sock"\n'
        "grpc_max_send_msg_size = 16777216\n"
        "grpc_max_recv_msg_size = 0\n"
        'stream_address = "0.0.0.0"\n'
        'stream_port = "10010"\n'
        "stream_enable_tls = true\n"
        'stream_tls_cert = "/etc/crio/tls/stream.crt"\n'
        'stream_tls_key = "/etc/crio/tls/stream.key"\n'
        'stream_tls_ca = "/etc/kubernetes/pki/ca.crt"\n'
        'stream_idle_timeout = "30m"\n'
    )
    assert _section(result.text, "[grpc]") == (
        "[grpc]\n"
        "max_send_message_size = 16777216\n"
        "max_recv_message_size = 83886080\n"
        'address = "/run/k8s/cri.sock"\n'
    )
    assert _section(result.text, '[plugins."io.containerd.grpc.v1.cri"]') == (
        '[plugins."io.containerd.grpc.v1.cri"]\n'
        'stream_server_address = "0.0.0.0"\n'
        'stream_server_port = "10010"\n'
        "enable_tls_streaming = true\n"
        'stream_idle_timeout = "30m"\n'
    )
    assert _section(
        result.text, '[plugins."io.containerd.grpc.v1.cri".x509_key_pair_streaming]'
    ) == (
        '[plugins."io.containerd.grpc.v1.cri".x509_key_pair_streaming]\n'
        'tls_cert_file = "/etc/crio/tls/stream.crt"\n'
        'tls_key_file = "/etc/crio/tls/stream.key"\n'
    )
    assert _change(result, "crio.api.grpc_max_recv_msg_size").action == "converted"
    assert _change(result, "crio.api.stream_tls_ca").action == "not-carried"


def test_empty_stream_idle_timeout_is_not_written() -> None:
    result = _to_containerd('[crio.api]\nstream_idle_timeout = ""\n')
    assert "stream_idle_timeout" not in result.text
    assert _change(result, "crio.api.stream_idle_timeout").action == "not-carried"


def test_log_level_and_metrics() -> None:
    result = _to_containerd(
        '[crio.runtime]\nlog_level = "debug"\n'
        '[crio.metrics]\nenable_metrics = true\nmetrics_host = "0.0.0.0"\nmetrics_port = 9537\n'
    )
    assert _section(result.text, "[debug]") == '[debug]\nlevel = "debug"\n'
    assert _section(result.text, "[metrics]") == '[metrics]\naddress = "0.0.0.0:9537"\n'


def test_metrics_on_ipv6_and_defaults() -> None:
    result = _to_containerd('[crio.metrics]\nenable_metrics = true\nmetrics_host = "::1"\n')
    assert _section(result.text, "[metrics]") == '[metrics]\naddress = "[::1]:9090"\n'


def test_disabled_metrics_write_no_address() -> None:
    result = _to_containerd("[crio.metrics]\nenable_metrics = false\nmetrics_port = 9537\n")
    assert "[metrics]" not in result.text
    assert _change(result, "crio.metrics.metrics_port").action == "not-carried"


def test_runtime_switches_move_to_the_runtime_plugin() -> None:
    result = _to_containerd(
        "[crio.runtime]\n"
        "selinux = true\n"
        'cdi_spec_dirs = ["/etc/cdi"]\n'
        "device_ownership_from_security_context = true\n"
        "enable_criu_support = false\n"
        'blockio_config_file = "/etc/crio/blockio.yaml"\n'
        'rdt_config_file = "/etc/crio/rdt.yaml"\n'
    )
    assert _section(result.text, f"{RT}]") == (
        f"{RT}]\n"
        "enable_unprivileged_ports = false\n"
        "enable_unprivileged_icmp = false\n"
        "enable_selinux = true\n"
        'cdi_spec_dirs = ["/etc/cdi"]\n'
        "device_ownership_from_security_context = true\n"
        "enable_criu = false\n"
    )
    assert _section(result.text, '[plugins."io.containerd.service.v1.tasks-service"]') == (
        '[plugins."io.containerd.service.v1.tasks-service"]\n'
        'blockio_config_file = "/etc/crio/blockio.yaml"\n'
        'rdt_config_file = "/etc/crio/rdt.yaml"\n'
    )


def test_two_default_sysctls_become_containerd_switches() -> None:
    result = _to_containerd(
        "[crio.runtime]\n"
        "default_sysctls = [\n"
        '  "net.ipv4.ping_group_range=0   2147483647",\n'
        '  "net.ipv4.ip_unprivileged_port_start=0",\n'
        '  "net.ipv4.tcp_keepalive_time=600",\n'
        "]\n"
    )
    runtime = _section(result.text, f"{RT}]")
    assert "enable_unprivileged_ports = true\n" in runtime
    assert "enable_unprivileged_icmp = true\n" in runtime
    actions = [(c.action, c.to) for c in _changes(result, "crio.runtime.default_sysctls")]
    assert actions == [
        ("converted", f"{RT[1:]}.enable_unprivileged_icmp"),
        ("converted", f"{RT[1:]}.enable_unprivileged_ports"),
        ("not-carried", None),
    ]


def test_another_unprivileged_port_start_is_not_the_switch() -> None:
    result = _to_containerd(
        '[crio.runtime]\ndefault_sysctls = ["net.ipv4.ip_unprivileged_port_start=1024"]\n'
    )
    assert "enable_unprivileged_ports = false\n" in _section(result.text, f"{RT}]")


def test_nri_and_tracing() -> None:
    result = _to_containerd(
        "[crio.nri]\n"
        "enable_nri = false\n"
        'nri_listen = "/var/run/nri/nri.sock"\n'
        'nri_plugin_dir = "/opt/nri/plugins"\n'
        'nri_plugin_config_dir = "/etc/nri/conf.d"\n'
        'nri_plugin_registration_timeout = "10s"\n'
        'nri_plugin_request_timeout = "5s"\n'
        "nri_disable_connections = true\n"
        "[crio.tracing]\n"
        "enable_tracing = true\n"
        "tracing_sampling_rate_per_million = 250000\n"
    )
    assert _section(result.text, '[plugins."io.containerd.nri.v1.nri"]') == (
        '[plugins."io.containerd.nri.v1.nri"]\n'
        "disable = true\n"
        'socket_path = "/var/run/nri/nri.sock"\n'
        'plugin_path = "/opt/nri/plugins"\n'
        'plugin_config_path = "/etc/nri/conf.d"\n'
        'plugin_registration_timeout = "10s"\n'
        'plugin_request_timeout = "5s"\n'
        "disable_connections = true\n"
    )
    assert _section(result.text, '[plugins."io.containerd.internal.v1.tracing"]') == (
        '[plugins."io.containerd.internal.v1.tracing"]\nsampling_ratio = 0.25\n'
    )
    assert _change(result, "crio.tracing.enable_tracing").action == "not-carried"


@pytest.mark.parametrize(
    ("driver", "snapshotter"),
    [("overlay", "overlayfs"), ("vfs", "native"), ("btrfs", "btrfs"), ("zfs", "zfs")],
)
def test_storage_driver_becomes_the_snapshotter(driver: str, snapshotter: str) -> None:
    result = _to_containerd(f'[crio]\nstorage_driver = "{driver}"\n')
    section = _section(result.text, '[plugins."io.containerd.cri.v1.images"]')
    assert f'snapshotter = "{snapshotter}"\n' in section


def test_devicemapper_is_not_carried() -> None:
    result = _to_containerd('[crio]\nstorage_driver = "devicemapper"\n')
    assert "snapshotter" not in result.text
    assert _change(result, "crio.storage_driver").action == "not-carried"


def test_comments_stay_with_the_carried_keys() -> None:
    result = _to_containerd(
        "[crio.runtime]\n"
        "# Must match KubeletConfiguration.cgroupDriver.\n"
        'cgroup_manager = "systemd"\n'
        'log_level = "warn"  # noisy otherwise\n'
        "\n"
        "# The handler for RuntimeClass gpu.\n"
        "[crio.runtime.runtimes.gpu]\n"
        'runtime_path = "/usr/bin/nvidia-container-runtime"\n'
        "[crio.image]\n"
        "# Mirror of registry.k8s.io/pause.\n"
        'pause_image = "registry.example.com/pause:3.10"\n'
    )
    assert _section(result.text, "[debug]") == '[debug]\nlevel = "warn" # noisy otherwise\n'
    assert _section(result.text, '[plugins."io.containerd.cri.v1.images".pinned_images]') == (
        '[plugins."io.containerd.cri.v1.images".pinned_images]\n'
        "# Mirror of registry.k8s.io/pause.\n"
        'sandbox = "registry.example.com/pause:3.10"\n'
    )
    assert _section(result.text, f"{RUNTIMES}.gpu]") == (
        f"{RUNTIMES}.gpu]\n"
        "# The handler for RuntimeClass gpu.\n"
        'runtime_type = "io.containerd.runc.v2"\n'
    )
    # The cgroup driver comment goes with the default runtime's SystemdCgroup.
    assert "# Must match KubeletConfiguration.cgroupDriver.\nSystemdCgroup = true\n" in (
        _section(result.text, f"{RUNTIMES}.crun.options]")
    )


def test_drop_ins_are_merged_in_load_order() -> None:
    result = _to_containerd(
        '[crio.runtime]\nlog_level = "info"\n'
        '[crio.image]\npause_image = "registry.k8s.io/pause:3.9"\n',
        '[crio.runtime]\nlog_level = "debug"\n',
    )
    assert '[debug]\nlevel = "debug"\n' in result.text
    assert 'sandbox = "registry.k8s.io/pause:3.9"' in result.text


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        (
            "[crio.runtime]\nlog_size_max = 52428800\n",
            "crio.runtime.log_size_max",
            "different meaning",
        ),
        (
            '[crio]\nroot = "/var/lib/containers/storage"\n',
            "crio.root",
            "different storage formats",
        ),
        (
            '[crio]\nrunroot = "/run/containers/storage"\n',
            "crio.runroot",
            "different storage formats",
        ),
        (
            '[crio.runtime.runtimes.crun]\nmonitor_path = "/usr/bin/conmon"\n',
            "crio.runtime.runtimes.crun.monitor_path",
            "per-container conmon vs per-pod shim",
        ),
        ('[crio.runtime]\nconmon_cgroup = "pod"\n', "crio.runtime.conmon_cgroup", "per-pod shim"),
        (
            '[crio.runtime]\ndefault_capabilities = ["CHOWN"]\n',
            "crio.runtime.default_capabilities",
            "base_runtime_spec",
        ),
        ('[crio.image]\nregistries = ["quay.io"]\n', "crio.image.registries", "registries.conf"),
        (
            '[crio.image]\ninsecure_registries = ["r.example.com"]\n',
            "crio.image.insecure_registries",
            "registries.conf",
        ),
        ("[crio.runtime]\npids_limit = 4096\n", "crio.runtime.pids_limit", "podPidsLimit"),
        (
            '[crio.runtime.workloads.w]\nactivation_annotation = "a"\n',
            "crio.runtime.workloads.w",
            "no workloads",
        ),
        (
            '[crio.runtime]\npause_image = "registry.k8s.io/pause:3.9"\n',
            "crio.runtime.pause_image",
            "does not read",
        ),
    ],
)
def test_keys_without_an_equivalent_are_reported(text: str, key: str, reason: str) -> None:
    result = _to_containerd(text)
    change = _change(result, key)
    assert change.action == "not-carried"
    assert reason in change.reason


def test_log_size_max_never_becomes_a_log_line_size() -> None:
    result = _to_containerd("[crio.runtime]\nlog_size_max = 52428800\n")
    assert "max_container_log_line_size" not in result.text


def test_every_set_key_is_accounted_for() -> None:
    text = (CONFIGS / "crio" / "corpus" / "legacy-1.26-node.conf").read_text()
    result = _to_containerd(text)
    reported = {c.key for c in result.changes}
    for table, keys in tomllib.loads(text)["crio"].items():
        if not isinstance(keys, dict) or table == "runtime":
            continue
        for key in keys:
            assert f"crio.{table}.{key}" in reported, key


def test_a_crio_config_with_errors_is_refused() -> None:
    with pytest.raises(ConfigReadError, match="has errors"):
        _to_containerd('[crio.runtime]\ndefault_runtime = "missing"\n')


# == containerd → CRI-O: golden output of each rule =============================================


def test_minimal_version_3_config_becomes_crio_conf() -> None:
    result = _to_crio("version = 3\n")
    assert (result.source_format, result.target) == ("containerd", "crio")
    assert result.text == (
        "# CRI-O crio.conf converted from a containerd config (version 3) by\n"
        "# `crio-py config migrate`; settings without an equivalent are listed in its report.\n"
        "\n"
        "[crio.api]\n"
        "grpc_max_send_msg_size = 16777216\n"
        "grpc_max_recv_msg_size = 16777216\n"
        "\n"
        "[crio.runtime]\n"
        'default_runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        "default_sysctls = [\n"
        '    "net.ipv4.ip_unprivileged_port_start=0",\n'
        '    "net.ipv4.ping_group_range=0 2147483647",\n'
        "]\n"
        "enable_pod_events = true\n"
        "\n"
        "[crio.runtime.runtimes.runc]\n"
        'runtime_type = "oci"\n'
        "\n"
        "[crio.image]\n"
        'pause_image = "registry.k8s.io/pause:3.10"\n'
        'pull_progress_timeout = "5m0s"\n'
    )
    assert all(c.action == "written" for c in result.changes)


def test_minimal_version_2_config_becomes_a_drop_in() -> None:
    result = _to_crio(
        "version = 2\n"
        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n'
        "SystemdCgroup = true\n",
        dropin=True,
    )
    assert result.target == "crio-dropin"
    assert result.text == (
        "# CRI-O drop-in for crio.conf.d converted from a containerd config (version 2) by\n"
        "# `crio-py config migrate`; settings without an equivalent are listed in its report.\n"
        "# It holds only the settings that differ from CRI-O's defaults.\n"
        "\n"
        "[crio.api]\n"
        "grpc_max_send_msg_size = 16777216\n"
        "grpc_max_recv_msg_size = 16777216\n"
        "\n"
        "[crio.runtime]\n"
        'default_runtime = "runc"\n'
        "enable_pod_events = true\n"
        "\n"
        "[crio.runtime.runtimes.runc]\n"
        'runtime_type = "oci"\n'
        "\n"
        "[crio.image]\n"
        'pause_image = "registry.k8s.io/pause:3.8"\n'
        'pull_progress_timeout = "5m0s"\n'
        "\n"
        "[crio.nri]\n"
        "enable_nri = false\n"
    )
    manager = _change(
        result,
        'plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options.SystemdCgroup',
    )
    assert manager.action == "converted"
    assert "the drop-in leaves it out" in manager.reason


V3 = "version = 3\n"
V3_RUNTIMES = "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes"


def test_runc_runtimes_become_oci_handlers() -> None:
    result = _to_crio(
        V3
        + f"{V3_RUNTIMES}.runc.options]\nSystemdCgroup = true\n"
        + f"{V3_RUNTIMES}.crun]\nruntime_type = 'io.containerd.runc.v2'\n"
        + "privileged_without_host_devices = true\n"
        + f"{V3_RUNTIMES}.crun.options]\n"
        + "BinaryName = '/usr/bin/crun'\nRoot = '/run/containerd/crun'\nSystemdCgroup = true\n"
        + f"{V3_RUNTIMES}.nvidia]\nruntime_type = 'io.containerd.runc.v2'\n"
        + f"{V3_RUNTIMES}.nvidia.options]\n"
        + "BinaryName = 'nvidia-container-runtime'\nSystemdCgroup = true\n"
        + f"{V3_RUNTIMES}.untrusted]\nruntime_type = 'io.containerd.runc.v2'\n"
        + "runtime_path = '/usr/local/bin/containerd-shim-runc-v2'\n"
        + f"{V3_RUNTIMES}.untrusted.options]\nSystemdCgroup = true\n"
    )
    text = result.text
    assert _section(text, "[crio.runtime.runtimes.runc]") == (
        '[crio.runtime.runtimes.runc]\nruntime_type = "oci"\n'
    )
    assert _section(text, "[crio.runtime.runtimes.crun]") == (
        "[crio.runtime.runtimes.crun]\n"
        'runtime_type = "oci"\n'
        'runtime_path = "/usr/bin/crun"\n'
        'runtime_root = "/run/containerd/crun"\n'
        "privileged_without_host_devices = true\n"
    )
    # A bare binary name other than the handler's: CRI-O needs a path.
    assert _section(text, "[crio.runtime.runtimes.nvidia]") == (
        "[crio.runtime.runtimes.nvidia]\n"
        'runtime_type = "oci"\n'
        'runtime_path = "/usr/bin/nvidia-container-runtime"\n'
    )
    assert (
        "check it"
        in _change(
            result, 'plugins."io.containerd.cri.v1.runtime".containerd.runtimes.nvidia'
        ).reason
    )
    # containerd's default runc: CRI-O must not look up "untrusted" in PATH.
    assert _section(text, "[crio.runtime.runtimes.untrusted]") == (
        '[crio.runtime.runtimes.untrusted]\nruntime_type = "oci"\nruntime_path = "/usr/bin/runc"\n'
    )
    shim = _change(
        result, 'plugins."io.containerd.cri.v1.runtime".containerd.runtimes.untrusted.runtime_path'
    )
    assert shim.action == "not-carried"
    assert "shim" in shim.reason
    assert 'cgroup_manager = "systemd"' in text


def test_runsc_becomes_an_oci_handler_without_its_flags() -> None:
    result = _to_crio(
        V3
        + f"{V3_RUNTIMES}.gvisor]\nruntime_type = 'io.containerd.runsc.v1'\n"
        + f"{V3_RUNTIMES}.gvisor.options]\n"
        + "TypeUrl = 'io.containerd.runsc.v1.options'\nConfigPath = '/etc/containerd/runsc.toml'\n"
    )
    assert _section(result.text, "[crio.runtime.runtimes.gvisor]") == (
        '[crio.runtime.runtimes.gvisor]\nruntime_type = "oci"\nruntime_path = "/usr/bin/runsc"\n'
    )
    flags = _change(
        result,
        'plugins."io.containerd.cri.v1.runtime".containerd.runtimes.gvisor.options.ConfigPath',
    )
    assert flags.action == "not-carried"
    assert "/etc/containerd/runsc.toml" in flags.reason
    assert "runtime_config_path" not in result.text


def test_kata_style_shims_become_vm_handlers() -> None:
    result = _to_crio(
        V3
        + f"{V3_RUNTIMES}.kata]\nruntime_type = 'io.containerd.kata.v2'\n"
        + "privileged_without_host_devices = true\n"
        + "pod_annotations = ['io.katacontainers.*']\n"
        + f"{V3_RUNTIMES}.kata.options]\nConfigPath = '/etc/kata-containers/configuration.toml'\n"
        + f"{V3_RUNTIMES}.kata-clh]\nruntime_type = 'io.containerd.kata-clh.v2'\n"
        + "runtime_path = '/opt/kata/bin/containerd-shim-kata-v2'\n"
    )
    assert _section(result.text, "[crio.runtime.runtimes.kata]") == (
        "[crio.runtime.runtimes.kata]\n"
        'runtime_type = "vm"\n'
        'runtime_path = "/usr/bin/containerd-shim-kata-v2"\n'
        'runtime_config_path = "/etc/kata-containers/configuration.toml"\n'
        "privileged_without_host_devices = true\n"
    )
    assert _section(result.text, "[crio.runtime.runtimes.kata-clh]") == (
        "[crio.runtime.runtimes.kata-clh]\n"
        'runtime_type = "vm"\n'
        'runtime_path = "/opt/kata/bin/containerd-shim-kata-v2"\n'
    )
    annotations = _change(
        result, 'plugins."io.containerd.cri.v1.runtime".containerd.runtimes.kata.pod_annotations'
    )
    assert annotations.action == "not-carried"


def test_runc_runtimes_that_disagree_on_the_cgroup_driver_follow_the_default() -> None:
    result = _to_crio(
        V3
        + "[plugins.'io.containerd.cri.v1.runtime'.containerd]\ndefault_runtime_name = 'crun'\n"
        + f"{V3_RUNTIMES}.runc.options]\nSystemdCgroup = true\n"
        + f"{V3_RUNTIMES}.crun]\nruntime_type = 'io.containerd.runc.v2'\n"
        + f"{V3_RUNTIMES}.crun.options]\nBinaryName = '/usr/bin/crun'\nSystemdCgroup = false\n"
    )
    assert 'cgroup_manager = "cgroupfs"\n' in _section(result.text, "[crio.runtime]")
    other = _change(
        result,
        'plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options.SystemdCgroup',
    )
    assert other.action == "not-carried"
    assert "follows runtime crun" in other.reason


def test_legacy_default_runtime_table_becomes_the_default_handler() -> None:
    result = _to_crio(
        "version = 2\n"
        '[plugins."io.containerd.grpc.v1.cri".containerd.default_runtime]\n'
        'runtime_type = "io.containerd.runc.v2"\n'
        'pod_annotations = ["example.com/*"]\n'
        '[plugins."io.containerd.grpc.v1.cri".containerd.default_runtime.options]\n'
        'BinaryName = "/usr/bin/crun"\n'
        "SystemdCgroup = true\n"
    )
    assert 'default_runtime = "default"\n' in _section(result.text, "[crio.runtime]")
    assert _section(result.text, "[crio.runtime.runtimes.default]") == (
        '[crio.runtime.runtimes.default]\nruntime_type = "oci"\nruntime_path = "/usr/bin/crun"\n'
    )
    legacy = 'plugins."io.containerd.grpc.v1.cri".containerd.default_runtime'
    assert _change(result, f"{legacy}.pod_annotations").action == "not-carried"


def test_an_unconvertible_default_runtime_falls_back_to_runc() -> None:
    result = _to_crio(
        V3
        + "[plugins.'io.containerd.cri.v1.runtime'.containerd]\ndefault_runtime_name = 'wasm'\n"
        + f"{V3_RUNTIMES}.wasm]\nruntime_type = 'io.containerd.wasmtime.v1'\n"
    )
    assert 'default_runtime = "runc"\n' in _section(result.text, "[crio.runtime]")
    assert "wasm" not in result.text
    runtimes = 'plugins."io.containerd.cri.v1.runtime".containerd'
    assert _change(result, f"{runtimes}.runtimes.wasm").action == "not-carried"
    assert _change(result, f"{runtimes}.default_runtime_name").action == "converted"


@pytest.mark.parametrize(
    ("image", "expected", "action"),
    [
        ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9", "moved"),
        ("rancher/mirrored-pause:3.6", "docker.io/rancher/mirrored-pause:3.6", "converted"),
        ("pause:3.9", "docker.io/library/pause:3.9", "converted"),
        ("localhost:5000/pause:3.9", "localhost:5000/pause:3.9", "moved"),
    ],
)
def test_sandbox_image_becomes_a_qualified_pause_image(
    image: str, expected: str, action: str
) -> None:
    result = _to_crio(
        f'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\nsandbox_image = "{image}"\n'
    )
    assert f'pause_image = "{expected}"\n' in _section(result.text, "[crio.image]")
    assert _change(result, 'plugins."io.containerd.grpc.v1.cri".sandbox_image').action == action


def test_cni_directories() -> None:
    result = _to_crio(
        V3
        + "[plugins.'io.containerd.cri.v1.runtime'.cni]\n"
        + "bin_dirs = ['/opt/cni/bin', '/usr/libexec/cni']\nconf_dir = '/etc/cni/net.d'\n"
        + "max_conf_num = 1\n"
    )
    assert _section(result.text, "[crio.network]") == (
        "[crio.network]\n"
        "plugin_dirs = [\n"
        '    "/opt/cni/bin",\n'
        '    "/usr/libexec/cni",\n'
        "]\n"
        'network_dir = "/etc/cni/net.d"\n'
    )
    one = _to_crio(
        'version = 2\n[plugins."io.containerd.grpc.v1.cri".cni]\nbin_dir = "/opt/cni/bin"\n'
    )
    assert _section(one.text, "[crio.network]") == (
        '[crio.network]\nplugin_dirs = ["/opt/cni/bin"]\n'
    )


def test_server_streaming_debug_and_metrics() -> None:
    result = _to_crio(
        V3
        + "[grpc]\naddress = '/run/containerd/containerd.sock'\nmax_recv_message_size = 33554432\n"
        + "[debug]\nlevel = 'debug'\nformat = 'json'\n"
        + "[metrics]\naddress = '127.0.0.1:1338'\ngrpc_histogram = true\n"
        + "[plugins.'io.containerd.grpc.v1.cri']\n"
        + "stream_server_address = '192.168.40.21'\nstream_server_port = '10010'\n"
        + "stream_idle_timeout = '30m0s'\nenable_tls_streaming = true\n"
        + "[plugins.'io.containerd.grpc.v1.cri'.x509_key_pair_streaming]\n"
        + "tls_cert_file = '/etc/containerd/tls/streaming.crt'\n"
        + "tls_key_file = '/etc/containerd/tls/streaming.key'\n"
    )
    assert _section(result.text, "[crio.api]") == (
        "[crio.api]\n"
        "grpc_max_send_msg_size = 16777216\n"
        "grpc_max_recv_msg_size = 33554432\n"
        'listen = "/run/containerd/containerd.sock"\n'
        'stream_address = "192.168.40.21"\n'
        'stream_port = "10010"\n'
        "stream_enable_tls = true\n"
        'stream_tls_cert = "/etc/containerd/tls/streaming.crt"\n'
        'stream_tls_key = "/etc/containerd/tls/streaming.key"\n'
        'stream_idle_timeout = "30m0s"\n'
    )
    assert 'log_level = "debug"\n' in _section(result.text, "[crio.runtime]")
    assert _section(result.text, "[crio.metrics]") == (
        '[crio.metrics]\nenable_metrics = true\nmetrics_host = "127.0.0.1"\nmetrics_port = 1338\n'
    )
    assert _change(result, "debug.format").action == "not-carried"
    assert _change(result, "metrics.grpc_histogram").action == "not-carried"


def test_tls_streaming_without_a_certificate_stays_off() -> None:
    result = _to_crio(V3 + "[plugins.'io.containerd.grpc.v1.cri']\nenable_tls_streaming = true\n")
    assert "stream_enable_tls" not in result.text
    change = _change(result, 'plugins."io.containerd.grpc.v1.cri".enable_tls_streaming')
    assert change.action == "not-carried"
    assert "self-signed" in change.reason


def test_runtime_plugin_switches() -> None:
    result = _to_crio(
        "version = 2\n"
        '[plugins."io.containerd.grpc.v1.cri"]\n'
        "enable_selinux = true\n"
        "enable_unprivileged_ports = true\n"
        'cdi_spec_dirs = ["/etc/cdi"]\n'
        "device_ownership_from_security_context = true\n"
        "ignore_image_defined_volumes = true\n"
        'image_pull_progress_timeout = "1m0s"\n'
        '[plugins."io.containerd.grpc.v1.cri".containerd]\n'
        'snapshotter = "native"\n'
        '[plugins."io.containerd.service.v1.tasks-service"]\n'
        'rdt_config_file = "/etc/rdt.yaml"\n'
        '[plugins."io.containerd.nri.v1.nri"]\n'
        "disable = false\n"
        'socket_path = "/run/nri/nri.sock"\n'
        '[plugins."io.containerd.internal.v1.tracing"]\n'
        "sampling_ratio = 0.5\n"
    )
    text = result.text
    assert _section(text, "[crio]") == '[crio]\nstorage_driver = "vfs"\n'
    runtime = _section(text, "[crio.runtime]")
    assert 'default_sysctls = ["net.ipv4.ip_unprivileged_port_start=0"]\n' in runtime
    assert "selinux = true\n" in runtime
    assert 'cdi_spec_dirs = ["/etc/cdi"]\n' in runtime
    assert "device_ownership_from_security_context = true\n" in runtime
    assert 'rdt_config_file = "/etc/rdt.yaml"\n' in runtime
    image = _section(text, "[crio.image]")
    assert 'image_volumes = "ignore"\n' in image
    assert 'pull_progress_timeout = "1m0s"\n' in image
    assert _section(text, "[crio.nri]") == (
        '[crio.nri]\nenable_nri = true\nnri_listen = "/run/nri/nri.sock"\n'
    )
    assert _section(text, "[crio.tracing]") == (
        "[crio.tracing]\ntracing_sampling_rate_per_million = 500000\n"
    )


def test_nri_disabled_in_version_3() -> None:
    result = _to_crio(V3 + "[plugins.'io.containerd.nri.v1.nri']\ndisable = true\n")
    assert _section(result.text, "[crio.nri]") == "[crio.nri]\nenable_nri = false\n"
    assert "enable_nri" not in _to_crio(V3).text


def test_registry_mirrors_come_back_as_a_registries_conf_snippet() -> None:
    result = _to_crio(
        "version = 2\n"
        '[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n'
        'endpoint = ["https://mirror.gcr.io", "http://10.0.0.5:5000/v2", '
        '"https://registry-1.docker.io"]\n'
        '[plugins."io.containerd.grpc.v1.cri".registry.configs."r.example.com".auth]\n'
        'username = "robot"\npassword = "s3cret-token"\n'
        '[plugins."io.containerd.grpc.v1.cri".registry.configs."r.example.com".tls]\n'
        "insecure_skip_verify = true\n"
    )
    mirrors = _change(result, 'plugins."io.containerd.grpc.v1.cri".registry.mirrors')
    assert mirrors.action == "not-carried"
    assert mirrors.reason.endswith(
        "\n"
        "[[registry]]\n"
        'location = "docker.io"\n'
        "\n"
        "[[registry.mirror]]\n"
        'location = "mirror.gcr.io"\n'
        "\n"
        "[[registry.mirror]]\n"
        'location = "10.0.0.5:5000"\n'
        "insecure = true"
    )
    tls = _change(
        result, 'plugins."io.containerd.grpc.v1.cri".registry.configs."r.example.com".tls'
    )
    assert "/etc/containers/certs.d/r.example.com/ca.crt" in tls.reason
    assert tls.reason.endswith('[[registry]]\nlocation = "r.example.com"\ninsecure = true')
    auth = _change(
        result, 'plugins."io.containerd.grpc.v1.cri".registry.configs."r.example.com".auth'
    )
    assert auth.action == "not-carried"
    assert all("s3cret-token" not in (c.reason + str(c.to)) for c in result.changes)
    assert "mirror" not in result.text
    assert "insecure" not in result.text


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        (
            '[plugins."io.containerd.grpc.v1.cri"]\nmax_container_log_line_size = 262144\n',
            'plugins."io.containerd.grpc.v1.cri".max_container_log_line_size',
            "different meaning",
        ),
        ('root = "/var/lib/containerd"\n', "root", "different storage formats"),
        (
            '[plugins."io.containerd.gc.v1.scheduler"]\npause_threshold = 0.05\n'
            "deletion_threshold = 100\n",
            'plugins."io.containerd.gc.v1.scheduler"',
            "image GC",
        ),
        (
            '[plugins."io.containerd.grpc.v1.cri".registry]\n'
            'config_path = "/etc/containerd/certs.d"\n',
            'plugins."io.containerd.grpc.v1.cri".registry.config_path',
            "registries.conf",
        ),
        (
            '[plugins."io.containerd.grpc.v1.cri".containerd]\nsnapshotter = "stargz"\n',
            'plugins."io.containerd.grpc.v1.cri".containerd.snapshotter',
            "no driver",
        ),
        ("oom_score = -999\n", "oom_score", "no equivalent"),
    ],
)
def test_containerd_keys_without_an_equivalent_are_reported(
    text: str, key: str, reason: str
) -> None:
    result = _to_crio("version = 2\n" + text)
    change = _change(result, key)
    assert change.action == "not-carried"
    assert reason in change.reason


def test_log_line_size_never_becomes_log_size_max() -> None:
    result = _to_crio(
        'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\nmax_container_log_line_size = -1\n'
    )
    assert "log_size_max" not in result.text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[plugins.cri]\nsandbox_image = "pause:3.2"\n',
            "version 1 .*migrate it to version 2 or 3",
        ),
        ("version = 4\n", "version 4 cannot be converted"),
    ],
)
def test_other_config_versions_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigReadError, match=message):
        _to_crio(text)


def test_a_containerd_config_with_errors_is_refused() -> None:
    text = (
        "version = 3\n"
        "[plugins.'io.containerd.cri.v1.runtime'.containerd]\n"
        "default_runtime_name = 'x'\n"
    )
    with pytest.raises(ConfigReadError, match="has errors"):
        _to_crio(text)


def test_a_drop_in_leaves_out_what_equals_crio_defaults() -> None:
    result = _to_crio(
        V3
        + "[grpc]\nmax_recv_message_size = 83886080\nmax_send_message_size = 83886080\n"
        + "[plugins.'io.containerd.cri.v1.images']\nimage_pull_progress_timeout = '0s'\n"
        + "[plugins.'io.containerd.cri.v1.images'.pinned_images]\n"
        + "sandbox = 'registry.k8s.io/pause:3.10.1'\n"
        + "[plugins.'io.containerd.cri.v1.runtime']\n"
        + "enable_unprivileged_ports = false\nenable_unprivileged_icmp = false\n"
        + "[plugins.'io.containerd.cri.v1.runtime'.cni]\nconf_dir = '/etc/cni/net.d'\n"
        + "[plugins.'io.containerd.cri.v1.runtime'.containerd]\ndefault_runtime_name = 'crun'\n"
        + f"{V3_RUNTIMES}.crun]\nruntime_type = 'io.containerd.runc.v2'\n"
        + f"{V3_RUNTIMES}.crun.options]\nBinaryName = 'crun'\nRoot = '/run/crun'\n"
        + "SystemdCgroup = true\n",
        dropin=True,
    )
    # No runc handler (nothing uses containerd's built-in one); the default handler stays
    # named, and containerd's container events stay on: the rest equals CRI-O's defaults.
    assert result.text.split("\n\n", 1)[1] == (
        '[crio.runtime]\ndefault_runtime = "crun"\nenable_pod_events = true\n'
    )
    crun = _change(result, 'plugins."io.containerd.cri.v1.runtime".containerd.runtimes.crun')
    assert "the drop-in leaves it out" in crun.reason


# == the corpus ==================================================================================


def _forbidden_in_containerd(text: str) -> list[str]:
    """What crossmap.md §8 says a converter must not write."""
    data = tomllib.loads(text)
    plugins = data.get("plugins", {})
    runtime = plugins.get("io.containerd.cri.v1.runtime", {})
    images = plugins.get("io.containerd.cri.v1.images", {})
    problems = []
    if "max_container_log_line_size" in runtime:
        problems.append("log_size_max became a log line size")
    if "cgroup" in data or "systemd_cgroup" in runtime:
        problems.append("cgroup_manager went to [cgroup] or systemd_cgroup")
    for name, table in runtime.get("containerd", {}).get("runtimes", {}).items():
        if table["runtime_type"] == "io.containerd.runc.v2" and "runtime_path" in table:
            problems.append(f"the OCI binary of {name} became the shim path")
    if {"bin_dir", "bin_dirs"} <= set(runtime.get("cni", {})):
        problems.append("bin_dir and bin_dirs together")
    if "registry" in images:
        problems.append("registry settings written")
    if "sandbox_image" in plugins.get("io.containerd.grpc.v1.cri", {}):
        problems.append("the sandbox image outside pinned_images")
    return problems


@pytest.mark.parametrize("path", CRIO_CORPUS, ids=lambda p: p.name)
def test_crio_corpus_converts_to_a_containerd_config_without_errors(
    path: Path, tmp_path: Path
) -> None:
    result = crio_to_containerd(_crio_sources(path))
    written = tmp_path / "config.toml"
    written.write_text(result.text)
    assert _errors(written) == []
    assert _forbidden_in_containerd(result.text) == []


@pytest.mark.parametrize("dropin", [False, True], ids=["crio.conf", "drop-in"])
@pytest.mark.parametrize("path", CONTAINERD_V2_V3, ids=lambda p: p.name)
def test_containerd_corpus_converts_to_crio_without_errors(
    path: Path, dropin: bool, tmp_path: Path
) -> None:
    result = containerd_to_crio(_containerd_sources(path), dropin=dropin)
    assert _errors(_write_crio(tmp_path, result)) == []
    data = tomllib.loads(result.text).get("crio", {})
    assert "log_size_max" not in data.get("runtime", {})
    assert "insecure_registries" not in data.get("image", {})


# -- round trips ------------------------------------------------------------------------------


def _handler_fields(handler: RuntimeHandler | None, original: RuntimeHandler) -> Any:
    """The mapped fields of a handler. Which fields map depends on the original's kind:
    a vm handler keeps its shim and config file but no state root (options.Root is a runc
    option); runsc through the runc shim takes the common cgroup driver."""
    if handler is None:
        return None
    fields: dict[str, Any] = {"kind": handler.kind}
    if original.kind == "vm":
        fields["config_path"] = handler.config_path
        if original.binary.startswith("/"):  # containerd names a PATH shim by its type only
            fields["binary"] = handler.binary
        return fields
    fields.update(binary=handler.binary, root=handler.root)
    if original.runtime_type != RUNSC_SHIM:
        fields["cgroup_driver"] = handler.cgroup_driver
    return fields


def _mapped(settings: RuntimeSettings, original: RuntimeSettings) -> dict[str, Any]:
    """Every RuntimeSettings field the cross-map carries both ways. Handlers are those of the
    original, except conmon-rs ones (containerd has no equivalent)."""
    return {
        "default_runtime": settings.default_runtime,
        "runtimes": {
            name: _handler_fields(settings.runtimes.get(name), before)
            for name, before in original.runtimes.items()
            if before.kind != "pod"
        },
        "sandbox_image": settings.sandbox_image,
        "cni_conf_dir": settings.cni.conf_dir,
        "cni_bin_dirs": settings.cni.bin_dirs,
        "socket_path": settings.socket.path,
        "max_recv_message_size": settings.socket.max_recv_message_size,
        "max_send_message_size": settings.socket.max_send_message_size,
        "stream_address": settings.stream.address,
        "stream_port": settings.stream.port,
        "stream_tls": (
            settings.stream.tls_enabled,
            settings.stream.tls_cert,
            settings.stream.tls_key,
        ),
        "stream_idle_timeout_s": settings.stream.idle_timeout_s,
        "metrics_address": settings.metrics_address,
        "log_level": settings.log_level,
        "selinux": settings.security.selinux_enabled,
        "cdi_spec_dirs": settings.cdi_spec_dirs,
        "enable_unprivileged_ports": settings.enable_unprivileged_ports,
        "enable_unprivileged_icmp": settings.enable_unprivileged_icmp,
        "image_pull_progress_timeout_s": settings.image_pull_progress_timeout_s,
    }


def _crio_round_trip(path: Path, dropin: bool) -> Any:
    name = "drop-in" if dropin else "crio"
    return pytest.param("crio", path, dropin, id=f"crio→containerd→{name}:{path.name}")


ROUND_TRIPS = [
    *(_crio_round_trip(p, False) for p in CRIO_CORPUS),
    *(_crio_round_trip(p, True) for p in CRIO_CORPUS),
    *(
        pytest.param("containerd", p, False, id=f"containerd→crio→containerd:{p.name}")
        for p in CONTAINERD_V3
    ),
]


@pytest.mark.parametrize(("start", "path", "dropin"), ROUND_TRIPS)
def test_round_trip_keeps_every_mapped_setting(
    start: str, path: Path, dropin: bool, tmp_path: Path
) -> None:
    original, _ = load_settings(path)
    there, back = tmp_path / "there", tmp_path / "back"
    there.mkdir()
    back.mkdir()
    if start == "crio":
        middle = there / "config.toml"
        middle.write_text(crio_to_containerd(_crio_sources(path)).text)
        result = containerd_to_crio([read_file(middle)], dropin=dropin)
        final = _write_crio(back, result)
    else:
        middle = _write_crio(there, containerd_to_crio(_containerd_sources(path), dropin=False))
        final = back / "config.toml"
        final.write_text(crio_to_containerd(_crio_sources(middle)).text)
    converted, _ = load_settings(middle)
    # The socket is the one setting each daemon keeps at its own conventional path when the
    # input leaves it unset (crossmap: "paths differ by convention").
    assert _mapped(converted, original) | {"socket_path": None} == \
        _mapped(original, original) | {"socket_path": None}  # the other daemon
    round_trip, _ = load_settings(final)
    assert _mapped(round_trip, original) == _mapped(original, original)  # and back
