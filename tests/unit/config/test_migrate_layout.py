"""containerd migrations keep the file's comments and layout, and decide what to write from what
the file's daemon does today."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from crio_py.cli import main
from crio_py.config.load import LintOptions, lint_paths
from crio_py.config.migrate.steps import MigrateRequest, migrate

INDENTED_V2 = """version = 2

# scraped by the node exporter
[metrics]
  address = "127.0.0.1:1338"

# ---- Kubernetes ----
[plugins."io.containerd.grpc.v1.cri"]
  # pause image from the local mirror
  sandbox_image = "mirror.test/pause:3.9"
  # no line limit
  max_container_log_line_size = -1

  [plugins."io.containerd.grpc.v1.cri".containerd]
    # xfs with ftype=1
    snapshotter = "overlayfs"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      runtime_engine = "runc"
      runtime_root = "/run/runc-k8s"

  # plugins from the distribution package
  [plugins."io.containerd.grpc.v1.cri".cni]
    # where the package puts them
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
"""


def _migrate(tmp_path: Path, text: str, to: str | None = None) -> tuple[str, dict[str, str]]:
    path = tmp_path / "config.toml"
    path.write_text(text)
    result = migrate(MigrateRequest(path, to))
    return result.text, {c.key: f"{c.action}: {c.reason}" for c in result.changes}


def _block(text: str, header: str) -> list[str]:
    """The lines of one table: its header up to the next header."""
    lines = text.splitlines()
    start = lines.index(header)
    ends = [i for i in range(start + 1, len(lines)) if lines[i].lstrip()[:1] == "["
            or lines[i].startswith("#")]  # fmt: skip
    end = ends[0] if ends else len(lines)
    return [line for line in lines[start:end] if line]


def test_comments_travel_with_their_keys_in_the_files_indentation(tmp_path: Path) -> None:
    text, _ = _migrate(tmp_path, INDENTED_V2)
    assert _block(text, '[plugins."io.containerd.cri.v1.images"]') == [
        '[plugins."io.containerd.cri.v1.images"]',
        "  # xfs with ftype=1",
        '  snapshotter = "overlayfs"',
    ]
    assert _block(text, '[plugins."io.containerd.cri.v1.images".pinned_images]') == [
        '[plugins."io.containerd.cri.v1.images".pinned_images]',
        "  # pause image from the local mirror",
        '  sandbox = "mirror.test/pause:3.9"',
    ]
    assert _block(text, "[metrics]") == ["[metrics]", '  address = "127.0.0.1:1338"']
    assert "# scraped by the node exporter\n[metrics]" in text
    assert '# ---- Kubernetes ----\n[plugins."io.containerd.cri.v1.runtime"]' in text


def test_bin_dir_becomes_bin_dirs_where_it_stood(tmp_path: Path) -> None:
    text, changes = _migrate(tmp_path, INDENTED_V2)
    assert (
        '  [plugins."io.containerd.cri.v1.runtime".cni]\n'
        "    # where the package puts them\n"
        '    bin_dirs = ["/usr/lib/cni"]\n'
        '    conf_dir = "/etc/cni/net.d"\n'
    ) in text
    assert changes["plugins.io.containerd.cri.v1.runtime.cni.bin_dir"].startswith("converted")


def test_removed_runtime_keys_are_in_the_report(tmp_path: Path) -> None:
    text, changes = _migrate(tmp_path, INDENTED_V2)
    base = "plugins.io.containerd.grpc.v1.cri.containerd.runtimes.runc"
    assert changes[f"{base}.runtime_engine"] == "removed: removed in containerd 2.0"
    assert changes[f"{base}.runtime_root"] == "removed: removed in containerd 2.0"
    runtimes = tomllib.loads(text)["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]
    assert runtimes["runtimes"]["runc"] == {"runtime_type": "io.containerd.runc.v2"}


def test_unprivileged_ports_follow_what_the_daemon_does_today(tmp_path: Path) -> None:
    text, changes = _migrate(tmp_path, INDENTED_V2.replace(
        "  max_container_log_line_size = -1\n",
        "  max_container_log_line_size = -1\n  enable_unprivileged_ports = true\n"))  # fmt: skip
    runtime = tomllib.loads(text)["plugins"]["io.containerd.cri.v1.runtime"]
    assert (runtime["enable_unprivileged_ports"], runtime["enable_unprivileged_icmp"]) == (
        True, False)  # fmt: skip
    icmp = changes["plugins.io.containerd.cri.v1.runtime.enable_unprivileged_icmp"]
    assert icmp.startswith("written: the file leaves it unset, so containerd 1.x keeps it false")


@pytest.mark.parametrize("source", [
    'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
    '[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "pause:3.9"\n',
    'disabled_plugins = ["cri"]\n[plugins.cri]\n  sandbox_image = "pause:3.9"\n',
])  # fmt: skip
def test_no_unprivileged_keys_when_the_cri_plugin_is_disabled(tmp_path: Path, source: str) -> None:
    text, changes = _migrate(tmp_path, source)
    assert "enable_unprivileged" not in text
    assert changes["plugins.io.containerd.cri.v1.runtime.enable_unprivileged_ports"] == (
        "kept: not written: disabled_plugins turns the CRI plugin off"
    )


def test_an_empty_plugin_dir_is_dropped_with_a_report_line(tmp_path: Path) -> None:
    text, changes = _migrate(tmp_path, 'version = 2\nplugin_dir = ""\nroot = "/var/lib/cd"\n')
    assert text.startswith('version = 3\nroot = "/var/lib/cd"\n\n[plugins.')
    assert changes["plugin_dir"].startswith("removed: containerd 2.x loads no Go plugins")
    out = tmp_path / "out.toml"
    out.write_text(text)
    assert lint_paths([out], LintOptions()).diagnostics == []


V3_SERVER = """version = 3

# the daemon's own socket, apart from the host's containerd
[grpc]
  address = "/run/cd-k8s/cd.sock"
  tcp_address = ""
  uid = 0

[debug]
  address = ""
  level = "debug"

[metrics]
  address = ""
  grpc_histogram = false
"""


def test_v4_ttrpc_follows_grpc_and_no_empty_server_blocks(tmp_path: Path) -> None:
    text, changes = _migrate(tmp_path, V3_SERVER, "containerd-v4")
    config = tomllib.loads(text)
    assert config["plugins"] == {
        "io.containerd.server.v1.grpc": {"address": "/run/cd-k8s/cd.sock"},
        "io.containerd.server.v1.ttrpc": {"address": "/run/cd-k8s/cd.sock.ttrpc"},
    }
    assert config["debug"] == {"level": "debug"}
    assert "# the daemon's own socket, apart from the host's containerd\n" \
           '[plugins."io.containerd.server.v1.grpc"]\n' in text  # fmt: skip
    assert '  address = "/run/cd-k8s/cd.sock.ttrpc"\n' in text
    for key in ("grpc.tcp_address", "grpc.uid", "debug.address", "metrics.grpc_histogram"):
        assert changes[key] == "removed: unset (empty), the default"


def test_v4_keeps_a_ttrpc_address_the_file_sets(tmp_path: Path) -> None:
    source = V3_SERVER + '\n[ttrpc]\n  address = "/run/other.ttrpc"\n'
    config = tomllib.loads(_migrate(tmp_path, source, "containerd-v4")[0])
    assert config["plugins"]["io.containerd.server.v1.ttrpc"] == {"address": "/run/other.ttrpc"}


MIRRORS = """version = 2
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://cache.test"]
"""


def test_printed_migration_writes_hosts_files_to_hosts_dir_or_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(MIRRORS)
    assert main(["config", "migrate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "pass --hosts-dir DIR" in err
    hosts = tmp_path / "certs.d"
    assert main(["config", "migrate", str(path), "--hosts-dir", str(hosts)]) == 0
    out = capsys.readouterr().out
    assert tomllib.loads(out)["plugins"]["io.containerd.cri.v1.images"]["registry"] == {
        "config_path": str(hosts)}  # fmt: skip
    hub = tomllib.loads((hosts / "docker.io" / "hosts.toml").read_text())
    assert list(hub["host"]) == ["https://cache.test"]
    assert path.read_text() == MIRRORS


BROKEN_V2 = (
    'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  max_concurrent_downloads = "six"\n'
)
BROKEN_CRIO = "[crio.runtime]\nlog_level = 7\n"


@pytest.mark.parametrize("name, text, argv", [
    ("config.toml", BROKEN_V2, []),
    ("config.toml", BROKEN_V2, ["--to", "crio-dropin"]),
    ("crio.conf", BROKEN_CRIO, []),
])  # fmt: skip
def test_a_file_with_errors_is_refused_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, argv: list[str]
) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert main(["config", "migrate", str(path), *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "pass --force" in err and "error[invalid-type]" in err
    assert main(["config", "migrate", str(path), "--force", *argv]) == 0
    out, err = capsys.readouterr()
    assert out and "  kept" in err and "error[invalid-type] at " + name + ":" in err


CRIO_NODE = """[crio.api]
listen = "/var/run/crio/crio.sock"

[crio.runtime]
default_runtime = "crun"
enable_pod_events = true

[crio.runtime.runtimes.crun]
runtime_path = "/usr/bin/crun"
"""


def test_crio_round_trip_keeps_its_default_runtime_and_events_and_adds_no_runc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crio = tmp_path / "crio.conf"
    crio.write_text(CRIO_NODE)
    assert main(["config", "migrate", str(crio)]) == 0
    containerd_text, report = capsys.readouterr()
    assert "address" not in tomllib.loads(containerd_text)["grpc"]
    assert "not-carried crio.api.listen: CRI-O's own socket, left to containerd's default" in report
    containerd = tmp_path / "config.toml"
    containerd.write_text(containerd_text)
    assert main(["config", "migrate", str(containerd), "--to", "crio-dropin"]) == 0
    runtime = tomllib.loads(capsys.readouterr().out)["crio"]["runtime"]
    assert runtime["default_runtime"] == "crun"
    assert runtime["enable_pod_events"] is True
    assert list(runtime["runtimes"]) == ["crun"]


CRIO_ONLY = """[crio.image]
global_auth_file = "/etc/crio/pull.json"

[crio.runtime]
default_capabilities = ["CHOWN", "SETUID", "SETGID"]
seccomp_profile = "/etc/crio/strict.json"

[crio.runtime.runtimes.crun]
runtime_path = "/usr/bin/crun"
monitor_cgroup = "pod"
"""


@pytest.mark.parametrize("to", ["crio", "crio-dropin"])
def test_crio_only_settings_survive_a_round_trip_through_containerd(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], to: str
) -> None:
    crio = tmp_path / "crio.conf"
    crio.write_text(CRIO_ONLY)
    assert main(["config", "migrate", str(crio)]) == 0
    containerd = tmp_path / "config.toml"
    containerd.write_text(capsys.readouterr().out)
    assert lint_paths([containerd], LintOptions()).diagnostics == []
    assert main(["config", "migrate", str(containerd), "--to", to]) == 0
    back = tomllib.loads(capsys.readouterr().out)["crio"]
    assert back["image"]["global_auth_file"] == "/etc/crio/pull.json"
    assert back["runtime"]["default_capabilities"] == ["CHOWN", "SETUID", "SETGID"]
    assert back["runtime"]["seccomp_profile"] == "/etc/crio/strict.json"
    assert back["runtime"]["runtimes"]["crun"]["monitor_cgroup"] == "pod"


def test_a_version_3_file_loses_its_plugin_dir_too(tmp_path: Path) -> None:
    text, changes = _migrate(tmp_path, 'version = 3\nplugin_dir = ""\nroot = "/var/lib/cd"\n')
    assert text == 'version = 3\nroot = "/var/lib/cd"\n'
    assert changes["plugin_dir"].startswith("removed: ")
