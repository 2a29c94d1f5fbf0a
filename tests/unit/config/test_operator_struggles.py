"""The operator struggles listed in the issue, one test each: lint must say exactly where the
problem is and what to do about it, and `config show` must print the effective configuration.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crio_py.cli import main
from crio_py.config.diagnostics import Diagnostic, Severity
from crio_py.config.lint.provenance import locator
from crio_py.config.load import LintOptions, lint_paths, load_settings
from crio_py.config.source import read_file
from crio_py.hostcheck import Host, check_host
from tests.unit.config.lint_helpers import lint, only, write_files

ERROR, WARNING = Severity.ERROR, Severity.WARNING
CRI = '"io.containerd.grpc.v1.cri"'
CRI_RUNTIME = '"io.containerd.cri.v1.runtime"'
CRI_IMAGES = '"io.containerd.cri.v1.images"'


def lint_text(
    tmp_path: Path, text: str, *, name: str = "config.toml", target: str | None = None
) -> list[Diagnostic]:
    """Write one file and lint it for a target."""
    write_files(tmp_path, {name: text})
    return lint(tmp_path / name, target)


def at(diagnostic: Diagnostic) -> tuple[str, Severity, int, int, str]:
    """What a test compares: code, severity, line, column, key."""
    return diagnostic.code, diagnostic.severity, diagnostic.line, diagnostic.column, diagnostic.key


# -- config versions and where CRI keys belong -----------------------------------------------------
def test_version_2_file_on_containerd_2_0_names_the_tables_the_keys_move_to(
    tmp_path: Path,
) -> None:
    diagnostics = lint_text(tmp_path, (
        "version = 2\n"
        f"[plugins.{CRI}]\n"
        "  enable_selinux = true\n"
    ), target="containerd-2.0")

    diagnostic = only(diagnostics, "config-migrated")
    assert at(diagnostic) == ("config-migrated", WARNING, 1, 11, "version")
    assert f"[plugins.{CRI_RUNTIME}]" in diagnostic.message
    assert f"[plugins.{CRI_IMAGES}]" in diagnostic.message
    assert "config version 3" in (diagnostic.hint or "")


def test_version_3_header_on_a_version_2_layout_says_where_each_key_belongs(
    tmp_path: Path,
) -> None:
    # `version = 3` written by hand onto a version 2 file: containerd 2.0 ignores these keys.
    diagnostics = lint_text(tmp_path, (
        "version = 3\n"
        f"[plugins.{CRI}]\n"
        "  enable_selinux = true\n"
        '  sandbox_image = "registry.k8s.io/pause:3.9"\n'
        f"[plugins.{CRI}.registry]\n"
        '  config_path = "/etc/containerd/certs.d"\n'
    ), target="containerd-2.0")

    assert [(at(d), d.hint) for d in diagnostics] == [
        (("misplaced-key", WARNING, 3, 3, "plugins.io.containerd.grpc.v1.cri.enable_selinux"),
         f"move it to [plugins.{CRI_RUNTIME}]"),
        (("misplaced-key", WARNING, 4, 3, "plugins.io.containerd.grpc.v1.cri.sandbox_image"),
         f"set [plugins.{CRI_IMAGES}.pinned_images] sandbox = …"),
        (("misplaced-key", WARNING, 5, 1, "plugins.io.containerd.grpc.v1.cri.registry"),
         f"move it to [plugins.{CRI_IMAGES}]"),
    ]


@pytest.mark.parametrize(
    ("target", "version", "plugin"),
    [("containerd-1.7", 2, CRI), ("containerd-2.0", 3, CRI_RUNTIME)],
)
def test_systemd_cgroup_in_the_runtime_table_says_it_belongs_in_options(
    target: str, version: int, plugin: str, tmp_path: Path
) -> None:
    diagnostics = lint_text(tmp_path, (
        f"version = {version}\n"
        f"[plugins.{plugin}.containerd.runtimes.runc]\n"
        '  runtime_type = "io.containerd.runc.v2"\n'
        "  SystemdCgroup = true\n"
    ), target=target)

    runtime = f"plugins.{plugin.strip(chr(34))}.containerd.runtimes.runc"
    diagnostic = only(diagnostics, "misplaced-key")
    assert at(diagnostic) == ("misplaced-key", WARNING, 4, 3, f"{runtime}.SystemdCgroup")
    assert diagnostic.hint == f"move it to [plugins.{plugin}.containerd.runtimes.runc.options]"


# -- plugin names ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "severity", "consequence"),
    [("containerd-1.7", ERROR, "refuses to start"),
     ("containerd-2.3", WARNING, "does not recognise the table and ignores it")],
)
def test_short_plugin_name_in_a_version_2_file_is_explained(
    target: str, severity: Severity, consequence: str, tmp_path: Path
) -> None:
    diagnostics = lint_text(
        tmp_path, "version = 2\n[plugins.cri]\n  enable_selinux = true\n", target=target
    )

    diagnostic = only(diagnostics, "short-plugin-name")
    assert at(diagnostic) == ("short-plugin-name", severity, 2, 1, "plugins.cri")
    assert "version 1 short plugin name" in diagnostic.message
    assert "this file is version 2" in diagnostic.message
    assert consequence in diagnostic.message
    assert diagnostic.hint == f"use [plugins.{CRI}]"


def test_short_cri_name_in_a_version_3_file_names_the_three_cri_plugins(tmp_path: Path) -> None:
    diagnostics = lint_text(
        tmp_path, "version = 3\n[plugins.cri]\n  enable_selinux = true\n", target="containerd-2.0"
    )

    diagnostic = only(diagnostics, "short-plugin-name")
    assert at(diagnostic) == ("short-plugin-name", WARNING, 2, 1, "plugins.cri")
    for plugin in ("io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images",
                   "io.containerd.grpc.v1.cri"):
        assert plugin in (diagnostic.hint or "")


def test_plugin_id_that_is_not_an_io_containerd_uri_is_explained(tmp_path: Path) -> None:
    diagnostics = lint_text(
        tmp_path, 'version = 2\n[plugins."example.com.snapshot.v1.fast"]\n  root = "/x"\n',
        target="containerd-1.7",
    )

    diagnostic = only(diagnostics, "invalid-plugin-id")
    assert at(diagnostic) == (
        "invalid-plugin-id", ERROR, 2, 1, "plugins.example.com.snapshot.v1.fast"
    )
    assert "io.containerd.<type>.<version>.<name>" in diagnostic.message
    assert "refuses to start" in diagnostic.message
    assert "[proxy_plugins]" in (diagnostic.hint or "")


# -- registry --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "version", "plugin"),
    [("containerd-1.7", 2, CRI), ("containerd-2.0", 3, CRI_IMAGES)],
)
def test_registry_mirrors_with_config_path_is_an_error_naming_both_keys(
    target: str, version: int, plugin: str, tmp_path: Path
) -> None:
    diagnostics = lint_text(tmp_path, (
        f"version = {version}\n"
        f"[plugins.{plugin}.registry]\n"
        '  config_path = "/etc/containerd/certs.d"\n'
        f'[plugins.{plugin}.registry.mirrors."docker.io"]\n'
        '  endpoint = ["https://mirror.example.com"]\n'
    ), target=target)

    registry = f"plugins.{plugin.strip(chr(34))}.registry"
    diagnostic = only(diagnostics, "conflicting-keys")
    assert at(diagnostic) == ("conflicting-keys", ERROR, 4, 1, f"{registry}.mirrors")
    assert f"plugins.{plugin}.registry.mirrors" in diagnostic.message
    assert f"plugins.{plugin}.registry.config_path" in diagnostic.message
    assert "refuses to start" in diagnostic.message
    assert "hosts.toml" in (diagnostic.hint or "")


# -- plugins the target does not have --------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "version", "plugin_id", "why"),
    [
        ("containerd-1.6", 2, "io.containerd.nri.v1.nri", "added in containerd 1.7"),
        ("containerd-1.7", 2, "io.containerd.cri.v1.runtime", "added in containerd 2.0"),
        ("containerd-2.0", 3, "io.containerd.runtime.v1.linux", "removed in containerd 2.0"),
        ("containerd-2.0", 3, "io.containerd.snapshotter.v1.aufs", "removed in containerd 2.0"),
    ],
)
def test_section_for_a_plugin_the_target_lacks_is_a_warning(
    target: str, version: int, plugin_id: str, why: str, tmp_path: Path
) -> None:
    diagnostics = lint_text(
        tmp_path, f'version = {version}\n[plugins."{plugin_id}"]\n  some_key = "x"\n',
        target=target,
    )

    diagnostic = only(diagnostics, "unavailable-plugin")
    assert at(diagnostic) == ("unavailable-plugin", WARNING, 2, 1, f"plugins.{plugin_id}")
    assert why in diagnostic.message


# -- invalid TOML ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("config.toml",
         f"version = 2\n[plugins.{CRI}]\n  enable_selinux = true\n\n"
         f"[plugins.{CRI}]\n  disable_apparmor = true\n", 5),
        ("crio.conf",
         '[crio.runtime]\nlog_level = "info"\n[crio.image]\npause_image = "r.io/p:1"\n'
         '[crio.runtime]\nlog_level = "debug"\n', 5),
    ],
    ids=["containerd", "crio"],
)
def test_duplicated_table_is_a_syntax_error_on_the_second_occurrence(
    name: str, text: str, line: int, tmp_path: Path
) -> None:
    diagnostics = lint_text(tmp_path, text, name=name)

    assert [at(d) for d in diagnostics] == [("toml-syntax", ERROR, line, 1, "")]
    assert "twice" in diagnostics[0].message
    assert diagnostics[0].file == str(tmp_path / name)


# -- CRI-O keys ------------------------------------------------------------------------------------
def test_crio_unknown_and_misplaced_keys_say_where_the_key_belongs(tmp_path: Path) -> None:
    diagnostics = lint_text(tmp_path, (
        "[crio.runtime]\n"
        'pause_image = "registry.k8s.io/pause:3.10"\n'
        'pause_command = "/pause"\n'
        'log_levl = "debug"\n'
        "[crio.image]\n"
        'separate_pull_cgroup = "pod"\n'
    ), name="crio.conf")

    assert [(at(d), d.hint) for d in diagnostics] == [
        (("misplaced-key", WARNING, 2, 1, "crio.runtime.pause_image"), "move it to [crio.image]"),
        (("misplaced-key", WARNING, 3, 1, "crio.runtime.pause_command"),
         "move it to [crio.image]"),
        (("unknown-key", WARNING, 4, 1, "crio.runtime.log_levl"), "did you mean `log_level`?"),
        (("misplaced-key", WARNING, 6, 1, "crio.image.separate_pull_cgroup"),
         "move it to [crio.runtime]"),
    ]
    assert "ignores it here" in diagnostics[0].message


def test_crio_keys_removed_long_ago(tmp_path: Path) -> None:
    diagnostics = lint_text(tmp_path, (
        "[crio.runtime]\n"
        "manage_ns_lifecycle = true\n"
        'registries = ["docker.io"]\n'
        "[crio.image]\n"
        'registries = ["quay.io"]\n'
    ), name="crio.conf", target="crio-1.36")

    assert [at(d) for d in diagnostics] == [
        ("removed-key", WARNING, 2, 1, "crio.runtime.manage_ns_lifecycle"),
        ("removed-key", WARNING, 3, 1, "crio.runtime.registries"),
        ("removed-key", WARNING, 5, 1, "crio.image.registries"),
    ]
    assert "removed in CRI-O 1.21" in diagnostics[0].message
    assert diagnostics[0].hint == "delete it"
    for registries in diagnostics[1:]:
        assert registries.hint == "use unqualified-search-registries in registries.conf"
    assert "removed in CRI-O 1.31" in diagnostics[2].message


# -- CRI-O drop-ins replace handler tables whole ---------------------------------------------------
CRIO_CONF = """\
[crio.runtime]
default_runtime = "runc"
log_level = "info"

[crio.runtime.runtimes.runc]
runtime_path = "/usr/bin/runc"
runtime_root = "/run/runc"
monitor_path = "/usr/libexec/crio/conmon"
"""
DROPIN = """\
[crio.runtime]
log_level = "debug"

[crio.runtime.runtimes.runc]
runtime_path = "/usr/local/bin/runc"
"""


def write_crio_dir(tmp_path: Path) -> Path:
    """crio.conf plus crio.conf.d/10-runc.conf; returns crio.conf."""
    (tmp_path / "crio.conf.d").mkdir()
    (tmp_path / "crio.conf.d" / "10-runc.conf").write_text(DROPIN, encoding="utf-8")
    main_file = tmp_path / "crio.conf"
    main_file.write_text(CRIO_CONF, encoding="utf-8")
    return main_file


def test_dropin_that_replaces_a_runtime_table_warns_about_the_lost_fields(tmp_path: Path) -> None:
    main_file = write_crio_dir(tmp_path)
    dropin = tmp_path / "crio.conf.d" / "10-runc.conf"

    for linted in (main_file, tmp_path):  # the main file brings its drop-ins; so does the dir
        diagnostics = lint_paths([linted], LintOptions()).diagnostics

        assert [(*at(d), d.file) for d in diagnostics] == [
            ("dropin-replaces-table", WARNING, 4, 1, "crio.runtime.runtimes.runc", str(dropin))
        ]
        assert "`runtime_root`, `monitor_path`" in diagnostics[0].message
        assert "inherit_default_runtime" in (diagnostics[0].hint or "")

    # What CRI-O runs with: the drop-in's table only.
    settings, warnings = load_settings(main_file)
    runc = settings.runtimes["runc"]
    assert (runc.binary, runc.root, runc.monitor_path) == ("/usr/local/bin/runc", None, "conmon")
    assert settings.default_runtime == "runc"
    assert [w.code for w in warnings] == ["dropin-replaces-table"]


def test_dropin_warning_names_the_file_that_set_the_lost_fields(tmp_path: Path) -> None:
    main_file = write_crio_dir(tmp_path)

    diagnostic = only(lint_paths([main_file], LintOptions()).diagnostics, "dropin-replaces-table")

    assert f"from {main_file}," in diagnostic.message


# -- default runtimes and runtime binaries ---------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "text", "target", "expected", "table"),
    [
        ("crio.conf", '[crio.runtime]\ndefault_runtime = "kata"\n', "crio-1.36",
         ("default-runtime-missing", ERROR, 2, 19, "crio.runtime.default_runtime"),
         "[crio.runtime.runtimes.kata]"),
        ("crio.conf", '[crio.runtime]\ndefault_runtime = "runc"\n', "crio-1.31",
         ("default-runtime-missing", ERROR, 2, 19, "crio.runtime.default_runtime"),
         "[crio.runtime.runtimes.runc]"),
        ("config.toml",
         f'version = 2\n[plugins.{CRI}.containerd]\n  default_runtime_name = "kata"\n',
         "containerd-1.7",
         ("default-runtime-missing", ERROR, 3, 26,
          "plugins.io.containerd.grpc.v1.cri.containerd.default_runtime_name"),
         f"[plugins.{CRI}.containerd.runtimes.kata]"),
        ("config.toml",
         f'version = 3\n[plugins.{CRI_RUNTIME}.containerd]\n  default_runtime_name = "kata"\n',
         "containerd-2.0",
         ("default-runtime-missing", ERROR, 3, 26,
          "plugins.io.containerd.cri.v1.runtime.containerd.default_runtime_name"),
         f"[plugins.{CRI_RUNTIME}.containerd.runtimes.kata]"),
    ],
    ids=["crio", "crio-1.31-runc", "containerd-v2", "containerd-v3"],
)
def test_default_runtime_that_names_no_runtime(
    name: str, text: str, target: str, expected: tuple[str, Severity, int, int, str], table: str,
    tmp_path: Path,
) -> None:
    diagnostics = lint_text(tmp_path, text, name=name, target=target)

    diagnostic = only(diagnostics, "default-runtime-missing")
    assert at(diagnostic) == expected
    assert table in (diagnostic.hint or "")


def test_missing_runtime_binary_under_host(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    conmon = tmp_path / "bin" / "conmon"
    conmon.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    conmon.chmod(0o755)
    config = tmp_path / "crio.conf"
    config.write_text(
        '[crio.runtime]\ndefault_runtime = "runc"\n'
        f'[crio.runtime.runtimes.runc]\nruntime_path = "{tmp_path}/bin/runc"\n',
        encoding="utf-8",
    )
    settings, _ = load_settings(config)

    diagnostics = check_host(settings, locator("crio", [read_file(config)]),
                             Host(systemd_running=True, cgroup_v2=True, path=str(tmp_path / "bin")))

    missing = sorted((d for d in diagnostics if d.code == "host-binary-missing"),
                     key=lambda d: d.message)
    assert [(d.severity, d.file, d.line, d.column, d.key) for d in missing] == [
        # crun, CRI-O's built-in handler, looked up in PATH: no table of its own
        (WARNING, str(config), 1, 1, "crio.runtime"),
        (ERROR, str(config), 4, 1, "crio.runtime.runtimes.runc.runtime_path"),  # the default
    ]
    assert 'runtime handler "crun": `crun` is not an executable' in missing[0].message
    assert f'runtime handler "runc": `{tmp_path}/bin/runc` is not an executable' in \
        missing[1].message
    assert missing[1].hint == "install it, or point the config at its absolute path"


# -- config show -----------------------------------------------------------------------------------
def test_config_show_prints_the_effective_crio_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main_file = write_crio_dir(tmp_path)

    status = main(["config", "show", str(main_file), "--output", "json"])

    captured = capsys.readouterr()
    shown = json.loads(captured.out)
    assert status == 0
    assert shown["source_format"] == "crio"
    assert shown["source_files"] == [str(main_file), str(tmp_path / "crio.conf.d" / "10-runc.conf")]
    assert shown["log_level"] == "debug"  # the drop-in wins
    assert shown["default_runtime"] == "runc"  # from crio.conf
    assert shown["runtimes"]["runc"]["binary"] == "/usr/local/bin/runc"
    assert shown["runtimes"]["runc"]["root"] is None  # lost with the replaced table
    assert shown["runtimes"]["runc"]["monitor_path"] == "conmon"
    assert shown["sandbox_image"] == "registry.k8s.io/pause:3.10.1"  # the default
    assert "dropin-replaces-table" in captured.err
