"""One test per registered lint code: each triggers its code from a small inline config and
checks the code, severity, position (line, column) and dotted key exactly.

`test_every_registered_code_has_a_test` fails when a code is added to
crio_py.config.diagnostics.CODES without a case here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crio_py.cli import main
from crio_py.config.diagnostics import CODES, Diagnostic, Severity
from crio_py.config.lint.provenance import locator
from crio_py.config.load import load_settings
from crio_py.config.source import read_file
from crio_py.hostcheck import Host, check_host
from tests.unit.config.lint_helpers import lint, only, write_files

ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


# -- the table of cases: one per code that a config file alone triggers ----------------------------
@dataclass(frozen=True)
class Case:
    """Lint `lint` (relative to tmp_path) after writing `files`; expect one `code` there."""

    code: str
    severity: Severity
    files: dict[str, str]
    lint: str
    line: int
    column: int
    key: str
    target: str | None = None
    at: str | None = None  # the file the diagnostic names, when not the linted one
    words: tuple[str, ...] = field(default=())  # must appear in the message or the hint


CASES = [
    Case(
        "json-syntax", ERROR, {"daemon.json": '{\n  "debug": true,\n}\n'},
        "daemon.json", line=3, column=1, key="", words=("JSON",),
    ),
    Case(
        "toml-syntax", ERROR,
        {"crio.conf": '[crio.runtime]\nlog_level = "info"\n\n'
                      '[crio.runtime]\nlog_level = "debug"\n'},
        "crio.conf", line=4, column=1, key="", words=("twice",),
    ),
    Case(
        "unreadable-file", ERROR, {}, "absent.toml", line=1, column=1, key="",
    ),
    Case(
        "unknown-format", ERROR, {"other.toml": 'name = "x"\n'}, "other.toml",
        line=1, column=1, key="", words=("--format",),
    ),
    Case(
        "unknown-key", WARNING, {"crio.conf": '[crio.runtime]\nlog_levl = "debug"\n'},
        "crio.conf", line=2, column=1, key="crio.runtime.log_levl", words=("log_level",),
    ),
    Case(
        "misplaced-key", WARNING,
        {"crio.conf": '[crio.runtime]\npause_image = "registry.k8s.io/pause:3.9"\n'},
        "crio.conf", line=2, column=1, key="crio.runtime.pause_image", words=("[crio.image]",),
    ),
    Case(
        "deprecated-key", WARNING, {"crio.conf": '[crio.network]\nplugin_dir = "/opt/cni/bin"\n'},
        "crio.conf", line=2, column=1, key="crio.network.plugin_dir", words=("plugin_dirs",),
    ),
    Case(
        "removed-key", WARNING, {"crio.conf": "[crio.runtime]\nmanage_ns_lifecycle = true\n"},
        "crio.conf", line=2, column=1, key="crio.runtime.manage_ns_lifecycle", words=("1.21",),
    ),
    Case(
        "unavailable-key", WARNING, {"crio.conf": '[crio.runtime]\ntimezone = "UTC"\n'},
        "crio.conf", line=2, column=1, key="crio.runtime.timezone", target="crio-1.29",
        words=("1.30",),
    ),
    Case(
        "key-case", INFO,
        {"config.toml": 'version = 2\n'
                        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n'
                        '  systemdcgroup = true\n'},
        "config.toml", line=3, column=3, target="containerd-1.7",
        key="plugins.io.containerd.grpc.v1.cri.containerd.runtimes.runc.options.systemdcgroup",
        words=("SystemdCgroup",),
    ),
    Case(
        "invalid-type", ERROR, {"crio.conf": '[crio.runtime]\nselinux = "true"\n'},
        "crio.conf", line=2, column=11, key="crio.runtime.selinux", words=("boolean",),
    ),
    Case(
        "invalid-value", ERROR, {"crio.conf": '[crio.runtime]\nlog_level = "loud"\n'},
        "crio.conf", line=2, column=13, key="crio.runtime.log_level", words=("loud",),
    ),
    Case(
        "invalid-duration", ERROR, {"crio.conf": '[crio.api]\nstream_idle_timeout = "5 minutes"\n'},
        "crio.conf", line=2, column=23, key="crio.api.stream_idle_timeout", words=("5 minutes",),
    ),
    Case(
        "invalid-image-ref", ERROR, {"crio.conf": '[crio.image]\npause_image = "pause:3.9"\n'},
        "crio.conf", line=2, column=15, key="crio.image.pause_image", words=("registry host",),
    ),
    Case(
        "invalid-port", ERROR, {"crio.conf": '[crio.api]\nstream_port = "70000"\n'},
        "crio.conf", line=2, column=15, key="crio.api.stream_port", words=("70000",),
    ),
    Case(
        "relative-path", ERROR, {"crio.conf": '[crio]\nlog_dir = "pods"\n'},
        "crio.conf", line=2, column=11, key="crio.log_dir", words=("absolute",),
    ),
    Case(
        "adjusted-value", WARNING, {"crio.conf": "[crio.runtime]\nctr_stop_timeout = 10\n"},
        "crio.conf", line=2, column=20, key="crio.runtime.ctr_stop_timeout", words=("30",),
    ),
    Case(
        "unsupported-version", ERROR, {"config.toml": "version = 3\n"}, "config.toml",
        line=1, column=11, key="version", target="containerd-1.7", words=("up to 2",),
    ),
    Case(
        "config-migrated", WARNING, {"config.toml": "version = 2\n"}, "config.toml",
        line=1, column=11, key="version", target="containerd-2.0",
        words=("io.containerd.cri.v1.runtime",),
    ),
    Case(
        "short-plugin-name", ERROR,
        {"config.toml": "version = 2\n[plugins.cri]\n  enable_selinux = true\n"}, "config.toml",
        line=2, column=1, key="plugins.cri", target="containerd-1.7",
        words=("io.containerd.grpc.v1.cri",),
    ),
    Case(
        "invalid-plugin-id", ERROR,
        {"config.toml": 'version = 2\n[plugins."example.com.foo.v1.bar"]\n  x = 1\n'},
        "config.toml", line=2, column=1, key="plugins.example.com.foo.v1.bar",
        target="containerd-1.7", words=("io.containerd.",),
    ),
    Case(
        "unavailable-plugin", WARNING,
        {"config.toml": 'version = 3\n[plugins."io.containerd.runtime.v1.linux"]\n'
                        '  shim = "containerd-shim"\n'},
        "config.toml", line=2, column=1, key="plugins.io.containerd.runtime.v1.linux",
        target="containerd-2.0", words=("removed in containerd 2.0",),
    ),
    Case(
        "third-party-plugin", INFO,
        {"config.toml": 'version = 3\n[plugins."example.com.foo.v1.bar"]\n  x = 1\n'},
        "config.toml", line=2, column=1, key="plugins.example.com.foo.v1.bar",
        target="containerd-2.0",
    ),
    Case(
        "conflicting-keys", ERROR,
        {"config.toml": 'version = 3\n'
                        '[plugins."io.containerd.cri.v1.images".registry]\n'
                        '  config_path = "/etc/containerd/certs.d"\n'
                        '[plugins."io.containerd.cri.v1.images".registry.mirrors."docker.io"]\n'
                        '  endpoint = ["https://mirror.example.com"]\n'},
        "config.toml", line=4, column=1, target="containerd-2.0",
        key="plugins.io.containerd.cri.v1.images.registry.mirrors",
        words=("mirrors", "config_path"),
    ),
    Case(
        "default-runtime-missing", ERROR,
        {"crio.conf": '[crio.runtime]\ndefault_runtime = "kata"\n'}, "crio.conf",
        line=2, column=19, key="crio.runtime.default_runtime",
        words=("[crio.runtime.runtimes.kata]",),
    ),
    Case(
        "duplicate-runtime", ERROR,
        {"config.toml": 'version = 2\n'
                        '[plugins."io.containerd.grpc.v1.cri".containerd.untrusted_workload_runtime]\n'
                        '  runtime_type = "io.containerd.kata.v2"\n'
                        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.untrusted]\n'
                        '  runtime_type = "io.containerd.kata.v2"\n'},
        "config.toml", line=2, column=1, target="containerd-1.7",
        key="plugins.io.containerd.grpc.v1.cri.containerd.untrusted_workload_runtime",
        words=("runtimes.untrusted",),
    ),
    Case(
        "invalid-runtime", ERROR,
        {"crio.conf": '[crio.runtime.runtimes.crun]\nruntime_type = "bogus"\n'}, "crio.conf",
        line=2, column=16, key="crio.runtime.runtimes.crun.runtime_type", words=("oci, vm or pod",),
    ),
    Case(
        "cgroup-driver-mismatch", ERROR,
        {"crio.conf": '[crio.runtime]\ncgroup_manager = "cgroupfs"\n'
                      '[crio.runtime.runtimes.crun]\nmonitor_cgroup = "system.slice"\n'},
        "crio.conf", line=4, column=18, key="crio.runtime.runtimes.crun.monitor_cgroup",
        words=('"pod"',),
    ),
    Case(
        "dropin-replaces-table", WARNING,
        {"crio.conf": '[crio.runtime.runtimes.crun]\nruntime_path = "/usr/bin/crun"\n'
                      'runtime_root = "/run/crun"\n',
         "crio.conf.d/10-crun.conf": '[crio.runtime.runtimes.crun]\n'
                                     'runtime_path = "/usr/local/bin/crun"\n'},
        "crio.conf", line=1, column=1, key="crio.runtime.runtimes.crun",
        at="crio.conf.d/10-crun.conf", words=("`runtime_root`",),
    ),
    Case(
        "ineffective-key", WARNING,
        {"crio.conf": '[crio.api]\ntls_min_version = "VersionTLS13"\n'
                      'tls_cipher_suites = ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]\n'},
        "crio.conf", line=3, column=1, key="crio.api.tls_cipher_suites", words=("VersionTLS13",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.code for case in CASES])
def test_lint_code(case: Case, tmp_path: Path) -> None:
    write_files(tmp_path, case.files)

    diagnostic = only(lint(tmp_path / case.lint, case.target), case.code)

    assert diagnostic.severity is case.severity
    assert (diagnostic.line, diagnostic.column) == (case.line, case.column)
    assert diagnostic.key == case.key
    assert diagnostic.file == str(tmp_path / (case.at or case.lint))
    for word in case.words:
        assert word in f"{diagnostic.message} {diagnostic.hint or ''}"


# -- codes whose severity depends on the target or the handler -------------------------------------
@pytest.mark.parametrize(
    ("target", "severity"),
    [("containerd-1.6", "error"), ("containerd-1.7", "error"), ("containerd-2.0", "warning"),
     ("containerd-2.3", "warning")],
)
def test_short_plugin_name_severity_follows_the_target(
    target: str, severity: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("version = 2\n[plugins.cri]\n  enable_selinux = true\n", encoding="utf-8")

    status = main(["config", "lint", str(config), "--format", "json", "--target", target])

    found = [d for d in json.loads(capsys.readouterr().out)["diagnostics"]
             if d["code"] == "short-plugin-name"]
    assert [(d["severity"], d["line"], d["column"], d["key"]) for d in found] == [
        (severity, 2, 1, "plugins.cri")
    ]
    assert status == (1 if severity == "error" else 0)


@pytest.mark.parametrize(
    ("target", "severity"),
    [("crio-1.30", Severity.WARNING), ("crio-1.36", Severity.ERROR)],
)
def test_invalid_crun_handler_is_fatal_only_where_crun_is_the_default(
    target: str, severity: Severity, tmp_path: Path
) -> None:
    # CRI-O's built-in default handler is runc up to 1.30 and crun from 1.31: an invalid
    # default handler stops CRI-O, any other invalid handler is dropped with a warning.
    config = tmp_path / "crio.conf"
    config.write_text('[crio.runtime.runtimes.crun]\nruntime_type = "bogus"\n', encoding="utf-8")

    diagnostic = only(lint(config, target), "invalid-runtime")

    assert diagnostic.severity is severity
    assert (diagnostic.line, diagnostic.column, diagnostic.key) == (
        2, 16, "crio.runtime.runtimes.crun.runtime_type"
    )


def test_default_runtime_beside_runtimes_default_is_only_a_warning(tmp_path: Path) -> None:
    # containerd 1.x copies `default_runtime` over `runtimes.default` and starts (reference §3.2,
    # pkg/cri validateConfig); only `untrusted_workload_runtime` beside `runtimes.untrusted` is
    # the "conflicting definitions" error. The settings of runtimes.default are lost: a warning.
    config = tmp_path / "config.toml"
    config.write_text(
        'version = 2\n'
        '[plugins."io.containerd.grpc.v1.cri".containerd.default_runtime]\n'
        '  runtime_type = "io.containerd.runc.v2"\n'
        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.default]\n'
        '  runtime_type = "io.containerd.runc.v2"\n',
        encoding="utf-8",
    )

    diagnostic = only(lint(config, "containerd-1.7"), "duplicate-runtime")

    assert diagnostic.severity is WARNING
    assert (diagnostic.line, diagnostic.column, diagnostic.key) == (
        2, 1, "plugins.io.containerd.grpc.v1.cri.containerd.default_runtime"
    )
    assert "runtimes.default" in diagnostic.message


@pytest.mark.parametrize(("target", "version"), [("containerd-2.0", 3), ("containerd-2.3", 4)])
def test_config_migrated_hint_names_the_version_the_target_reads(
    target: str, version: int, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("version = 2\n", encoding="utf-8")

    diagnostic = only(lint(config, target), "config-migrated")

    assert f"to version {version}" in diagnostic.message
    assert f"config version {version}" in (diagnostic.hint or "")


def test_hosts_toml_codes(tmp_path: Path) -> None:
    hosts = tmp_path / "certs.d" / "docker.io" / "hosts.toml"
    write_files(tmp_path, {"certs.d/docker.io/hosts.toml": (
        'server = "https://registry-1.docker.io"\n'
        '[host."https://mirror.example.com"]\n'
        '  capabilities = ["pull", "fetch"]\n'
        '  skip_verfy = true\n'
    )})

    diagnostics = lint(tmp_path / "certs.d")

    assert [(d.code, d.severity, d.file, d.line, d.column, d.key) for d in diagnostics] == [
        ("invalid-value", ERROR, str(hosts), 3, 27,
         "host.https://mirror.example.com.capabilities.1"),
        ("unknown-key", WARNING, str(hosts), 4, 3, "host.https://mirror.example.com.skip_verfy"),
    ]
    assert diagnostics[1].hint == "did you mean `skip_verify`?"


# -- host checks (`config lint --host`) ------------------------------------------------------------
GOOD_BINARY = '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "version 1.0"; fi\nexit 0\n'
BROKEN_BINARY = '#!/bin/sh\necho "error while loading shared libraries" >&2\nexit 1\n'

def host_crio_conf(
    tmp: Path,
    *,
    cgroup_manager: str = "cgroupfs",
    network_dir: str = "net.d",
    plugin_dir: str = "cni",
    root: str = "root",
    handlers: str = "",
) -> str:
    """A crio.conf whose directories all lie below tmp; `handlers` may name @TMP@."""
    return (
        f'[crio]\nroot = "{tmp}/{root}"\nrunroot = "{tmp}/run"\n'
        f'[crio.runtime]\ncgroup_manager = "{cgroup_manager}"\n'
        f'[crio.network]\nnetwork_dir = "{tmp}/{network_dir}"\n'
        f'plugin_dirs = ["{tmp}/{plugin_dir}"]\n'
        + handlers.replace("@TMP@", str(tmp))
    )


def make_host(tmp_path: Path, **changes: str) -> Path:
    """A node in tmp_path: bin/ with crun, conmon and a broken binary; a CNI conflist using
    `bridge`, with bridge installed in cni/; an empty dir. Returns its crio.conf."""
    for name, text in (("crun", GOOD_BINARY), ("conmon", GOOD_BINARY), ("broken", BROKEN_BINARY)):
        binary = tmp_path / "bin" / name
        binary.parent.mkdir(exist_ok=True)
        binary.write_text(text, encoding="utf-8")
        binary.chmod(0o755)
    write_files(tmp_path, {
        "net.d/10-net.conflist": json.dumps(
            {"cniVersion": "1.0.0", "name": "net", "plugins": [{"type": "bridge"}]}
        ),
        "cni/bridge": "",
    })
    (tmp_path / "empty").mkdir()
    config = tmp_path / "crio.conf"
    config.write_text(host_crio_conf(tmp_path, **changes), encoding="utf-8")
    return config


def host_check(config: Path, tmp_path: Path, *, systemd_running: bool = True) -> list[Diagnostic]:
    """check_host on the settings of config, with tmp_path/bin as PATH."""
    settings, _ = load_settings(config)
    host = Host(systemd_running=systemd_running, cgroup_v2=True, path=str(tmp_path / "bin"))
    return check_host(settings, locator("crio", [read_file(config)]), host)


@dataclass(frozen=True)
class HostCase:
    """Build the host with `changes` to its crio.conf; expect exactly one `code`."""

    code: str
    severity: Severity
    changes: dict[str, str]
    words: tuple[str, ...]  # must appear in the message
    line: int
    column: int
    key: str
    systemd_running: bool = True


HOST_CASES = [
    HostCase(
        "host-binary-missing", ERROR,
        {"handlers": '[crio.runtime.runtimes.crun]\nruntime_path = "@TMP@/bin/missing"\n'},
        ('runtime handler "crun"', "bin/missing"), 10, 1, "crio.runtime.runtimes.crun.runtime_path",
    ),
    HostCase(
        "host-binary-broken", ERROR,
        {"handlers": '[crio.runtime.runtimes.crun]\nruntime_path = "@TMP@/bin/broken"\n'},
        ('runtime handler "crun"', "exited with 1", "shared libraries"),
        10, 1, "crio.runtime.runtimes.crun.runtime_path",
    ),
    HostCase(
        "host-cni-plugin-missing", ERROR, {"plugin_dir": "empty"},
        ("10-net.conflist", '"bridge"'), 8, 1, "crio.network.plugin_dirs",
    ),
    HostCase(
        "host-cni-config-missing", WARNING, {"network_dir": "empty"},
        ("no CNI network configuration",), 7, 1, "crio.network.network_dir",
    ),
    HostCase(
        "host-cgroup-driver", ERROR, {"cgroup_manager": "systemd"},
        ("systemd", "not running"), 5, 1, "crio.runtime.cgroup_manager",
        systemd_running=False,
    ),
]


def test_host_checks_pass_on_a_complete_host(tmp_path: Path) -> None:
    assert host_check(make_host(tmp_path), tmp_path) == []


@pytest.mark.parametrize("case", HOST_CASES, ids=[case.code for case in HOST_CASES])
def test_host_code(case: HostCase, tmp_path: Path) -> None:
    config = make_host(tmp_path, **case.changes)

    diagnostics = host_check(config, tmp_path, systemd_running=case.systemd_running)

    assert [d.code for d in diagnostics] == [case.code]
    diagnostic = diagnostics[0]
    assert diagnostic.severity is case.severity
    # Host findings point at the key that configured what the host lacks.
    assert (diagnostic.file, diagnostic.line, diagnostic.column, diagnostic.key) == (
        str(config), case.line, case.column, case.key
    )
    for word in case.words:
        assert word in diagnostic.message


def test_host_binary_missing_for_another_handler_is_a_warning(tmp_path: Path) -> None:
    # CRI-O drops a non-default handler whose binary is missing; only the default is fatal.
    config = make_host(tmp_path, handlers=(
        '[crio.runtime.runtimes.kata]\nruntime_path = "@TMP@/bin/kata-runtime"\n'
    ))

    diagnostics = host_check(config, tmp_path)

    assert [(d.code, d.severity) for d in diagnostics] == [("host-binary-missing", WARNING)]
    assert 'runtime handler "kata"' in diagnostics[0].message


def test_host_dir_not_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_host(tmp_path, root="locked/storage")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access

    def access(path: str | os.PathLike[str], mode: int) -> bool:
        # The tests may run as root, for whom every directory is writable.
        if Path(path) == locked and mode == os.W_OK:
            return False
        return real_access(path, mode)

    monkeypatch.setattr(os, "access", access)

    diagnostics = host_check(config, tmp_path)

    assert [(d.code, d.severity) for d in diagnostics] == [("host-dir-not-writable", ERROR)]
    diagnostic = diagnostics[0]
    assert (diagnostic.line, diagnostic.column, diagnostic.key) == (2, 1, "crio.root")
    assert f"root directory {locked / 'storage'}" in diagnostic.message


# -- every code has a test -------------------------------------------------------------------------
SEPARATE_TESTS = {"host-dir-not-writable": test_host_dir_not_writable}


def test_every_registered_code_has_a_test() -> None:
    tested = (
        [case.code for case in CASES]
        + [case.code for case in HOST_CASES]
        + list(SEPARATE_TESTS)
    )
    assert len(tested) == len(set(tested)), "a code has two table entries"
    assert set(tested) == set(CODES)


def test_host_findings_on_a_containerd_config_point_at_the_runtime_options(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'version = 3\nroot = "{tmp_path}/root"\nstate = "{tmp_path}/run"\n'
        '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]\n'
        f'  BinaryName = "{tmp_path}/bin/missing"\n  SystemdCgroup = true\n',
        encoding="utf-8",
    )
    settings, _ = load_settings(config)
    host = Host(systemd_running=False, cgroup_v2=False, path=str(tmp_path))
    found = {
        d.code: (d.line, d.column, d.key)
        for d in check_host(settings, locator("containerd", [read_file(config)]), host)
    }
    options = "plugins.io.containerd.cri.v1.runtime.containerd.runtimes.runc.options"
    assert found["host-binary-missing"] == (5, 3, f"{options}.BinaryName")
    assert found["host-cgroup-driver"] == (6, 3, f"{options}.SystemdCgroup")
