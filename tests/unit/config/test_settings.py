"""RuntimeSettings built from each format carry the right, normalised values."""

from __future__ import annotations

from pathlib import Path

import pytest

from crio_py.config.load import load_settings
from crio_py.errors import ConfigError, ConfigReadError
from tests.conftest import REPO


def test_containerd_example_settings() -> None:
    settings, _ = load_settings(REPO / "examples" / "containerd-config.toml")
    assert settings.source_format == "containerd"
    assert settings.socket.path == Path("/run/containerd/containerd.sock")
    assert settings.default_runtime == "runc"
    assert set(settings.runtimes) == {"runc", "runsc", "nvidia"}
    runc, runsc, nvidia = (settings.runtimes[n] for n in ("runc", "runsc", "nvidia"))
    assert (runc.kind, runc.binary, runc.cgroup_driver) == ("oci", "/usr/sbin/runc", "systemd")
    assert (runsc.kind, runsc.binary) == ("oci", "runsc")
    assert runsc.config_path == Path("/etc/containerd/runsc.toml")
    assert nvidia.binary == "/usr/bin/nvidia-container-runtime"
    assert settings.sandbox_image == "registry.example.com/k8s/pause:3.10"
    assert settings.registry.config_path == (Path("/etc/containerd/certs.d"),)
    assert settings.registry.auths["registry.example.com"].username == "node-puller"
    assert settings.max_concurrent_downloads == 5
    assert settings.metrics_address == "127.0.0.1:1338"
    assert settings.gc.deletion_threshold == 50
    assert settings.stream.idle_timeout_s == 4 * 3600
    assert settings.security.restrict_oom_score_adj is True
    assert settings.log_format == "json"
    assert "change-me" not in repr(settings.registry)


def test_crio_example_settings() -> None:
    settings, _ = load_settings(REPO / "examples" / "crio.conf")
    assert settings.source_format == "crio"
    assert settings.default_runtime == "crun"
    assert set(settings.runtimes) == {"crun", "runc", "runsc", "nvidia"}
    crun = settings.runtimes["crun"]
    assert (crun.binary, crun.root, crun.cgroup_driver) == ("/usr/bin/crun", Path("/run/crun"),
                                                             "systemd")
    assert crun.monitor_path == "/usr/bin/conmon"
    assert settings.runtimes["runsc"].monitor_path == "conmon"
    assert settings.sandbox_image == "registry.example.com/k8s/pause:3.10.1"
    assert settings.registry.global_auth_file == Path("/etc/crio/auth.json")
    assert settings.metrics_address == "127.0.0.1:9537"
    assert settings.container_defaults.ulimits == ("nofile=65536:65536",)
    assert settings.enable_unprivileged_icmp is True
    assert settings.socket.max_recv_message_size == 80 * 1024 * 1024


def test_runsc_flags_come_from_its_config_file(tmp_path: Path) -> None:
    runsc_toml = tmp_path / "runsc.toml"
    runsc_toml.write_text('[runsc_config]\nplatform = "ptrace"\ndebug = true\n')
    config = tmp_path / "config.toml"
    config.write_text(
        'version = 3\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runsc]\n'
        'runtime_type = "io.containerd.runsc.v1"\n'
        '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runsc.options]\n'
        f'TypeUrl = "io.containerd.runsc.v1.options"\nConfigPath = "{runsc_toml}"\n')
    settings, _ = load_settings(config)
    assert settings.runtimes["runsc"].extra_flags == ("--debug=true", "--platform=ptrace")


def test_conmon_keys_of_crio_runtime_override_every_handler(tmp_path: Path) -> None:
    config = tmp_path / "crio.conf"
    config.write_text('[crio.runtime]\nconmon = "/opt/conmon"\nconmon_cgroup = "pod"\n'
                      'default_runtime = "runc"\n[crio.runtime.runtimes.runc]\n'
                      'monitor_path = "/usr/bin/conmon"\nmonitor_cgroup = "system.slice"\n')
    settings, _ = load_settings(config)
    assert settings.runtimes["runc"].monitor_path == "/opt/conmon"
    assert settings.runtimes["runc"].monitor_cgroup == "pod"
    assert settings.runtimes["runc"].binary == "runc"


def test_a_config_with_errors_is_refused_with_its_diagnostics(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n'
                      'default_runtime_name = "missing"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert [d.code for d in caught.value.diagnostics] == ["default-runtime-missing"]


def test_unreadable_and_foreign_files_are_read_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigReadError):
        load_settings(tmp_path / "absent.toml")
    foreign = tmp_path / "other.toml"
    foreign.write_text('[tool.black]\nline-length = 100\n')
    with pytest.raises(ConfigReadError):
        load_settings(foreign)


def test_an_empty_directory_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigReadError):
        load_settings(tmp_path)


def test_an_empty_duration_is_an_unset_one(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('version = 3\n[timeouts]\n"io.containerd.timeout.shim.load" = ""\n')
    settings, _ = load_settings(config)
    assert settings.timeouts_s == {"io.containerd.timeout.shim.load": 0.0}


def test_handler_flavour_is_decided_when_settings_are_loaded() -> None:
    containerd, _ = load_settings(REPO / "examples" / "containerd-config.toml")
    crio, _ = load_settings(REPO / "examples" / "crio.conf")
    flavours = {
        (settings.source_format, name): handler.flavour
        for settings in (containerd, crio)
        for name, handler in settings.runtimes.items()
    }
    assert flavours == {
        ("containerd", "runc"): "runc",
        ("containerd", "runsc"): "runsc",
        ("containerd", "nvidia"): "runc",
        ("crio", "crun"): "runc",
        ("crio", "runc"): "runc",
        ("crio", "runsc"): "runsc",
        ("crio", "nvidia"): "runc",
    }


def test_runc_options_are_read_as_containerd_decodes_them_ignoring_case(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        'version = 3\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]\n'
        'runtime_type = "io.containerd.runc.v2"\n'
        '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]\n'
        'binaryname = "/opt/bin/runc"\nsystemdcgroup = true\nroot = "/run/r"\n'
        "nopivotroot = true\n")
    settings, _ = load_settings(config)
    runc = settings.runtimes["runc"]
    assert (runc.binary, runc.cgroup_driver, runc.root, runc.no_pivot) == (
        "/opt/bin/runc", "systemd", Path("/run/r"), True)


@pytest.mark.parametrize(
    ("text", "dirs"),
    [
        ("version = 3\n", (Path("/etc/cdi"), Path("/var/run/cdi"))),
        (
            'version = 3\n[plugins."io.containerd.cri.v1.runtime"]\nenable_cdi = false\n',
            (),
        ),
        ('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n', ()),
        (
            'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\nenable_cdi = true\n'
            'cdi_spec_dirs = ["/opt/cdi"]\n',
            (Path("/opt/cdi"),),
        ),
    ],
)
def test_cdi_spec_dirs_are_read_only_with_cdi_enabled(
    tmp_path: Path, text: str, dirs: tuple[Path, ...]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    settings, _ = load_settings(config)
    assert settings.cdi_spec_dirs == dirs


@pytest.mark.parametrize(
    ("manager", "conmon_cgroup", "expected"),
    [("cgroupfs", "", "pod"), ("systemd", "", "system.slice"), ("cgroupfs", "pod", "pod")],
)
def test_crio_empty_conmon_cgroup_is_its_manager_default(
    tmp_path: Path, manager: str, conmon_cgroup: str, expected: str
) -> None:
    config = tmp_path / "crio.conf"
    config.write_text(
        f'[crio.runtime]\ncgroup_manager = "{manager}"\nconmon_cgroup = "{conmon_cgroup}"\n'
    )
    settings, _ = load_settings(config)
    assert {h.monitor_cgroup for h in settings.runtimes.values()} == {expected}
