"""Docker's daemon.json: positions, lint, and migration to containerd v3 and a CRI-O drop-in."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from crio_py.cli import main
from crio_py.config.docker.jsonpos import JsonSyntaxError, Position, parse
from crio_py.config.load import LintOptions, lint_paths
from crio_py.config.migrate.steps import MigrateRequest, migrate

GPU_NODE = """{
  "data-root": "/srv/engine",
  "exec-opts": ["native.cgroupdriver=systemd"],
  "log-opts": {"max-size": "50m", "max-file": "4"},
  "storage-driver": "overlay2",
  "max-concurrent-downloads": 6,
  "registry-mirrors": ["https://hub-cache.internal.test", "http://plain-cache.test:8080"],
  "insecure-registries": ["build.internal.test:5000", "192.168.0.0/16"],
  "default-runtime": "gpu",
  "runtimes": {"gpu": {"path": "gpu-oci-runtime", "runtimeArgs": ["--debug"]}},
  "default-ulimits": {"memlock": {"Name": "memlock", "Hard": -1, "Soft": -1}},
  "live-restore": true,
  "bip": "172.31.0.1/24",
  "default-address-pools": [{"base": "172.90.0.0/16", "size": 26}]
}
"""


def _write(tmp_path: Path, text: str, name: str = "daemon.json") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _lint(path: Path) -> list[tuple[str, int, int, str]]:
    found = lint_paths([path], LintOptions()).diagnostics
    return [(d.code, d.line, d.column, d.key) for d in found]


def _actions(result_changes: list[object]) -> dict[str, str]:
    return {c.key: c.action for c in result_changes}  # type: ignore[attr-defined]


# -- positions ---------------------------------------------------------------------------------
def test_positions_of_keys_values_and_list_items() -> None:
    found = parse('{\n  "a": [1,\n    {"b": "\\u00e9"}],\n\t"c": null}')
    assert found.data == {"a": [1, {"b": "é"}], "c": None}
    assert found.keys[("a",)] == Position(2, 3)
    assert found.values[("a", 1)] == Position(3, 5)
    assert found.values[("a", 1, "b")] == Position(3, 11)
    assert found.keys[("c",)] == Position(4, 2)


@pytest.mark.parametrize(
    "text, line, column",
    [
        ('{"a": 1,\n}', 2, 1),
        ('{"a" 1}', 1, 6),
        ('{"a": tru}', 1, 7),
        ('{"a": "x}', 1, 7),
        ("{} {}", 1, 4),
        ("", 1, 1),
    ],
)
def test_syntax_errors_say_where(text: str, line: int, column: int) -> None:
    with pytest.raises(JsonSyntaxError) as raised:
        parse(text)
    assert raised.value.position == Position(line, column)


def test_absurd_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(JsonSyntaxError, match="nested too deeply"):
        parse("[" * 100_000)


# -- lint --------------------------------------------------------------------------------------
def test_lint_names_unknown_keys_and_wrong_types_at_their_place(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        (
            "{\n"
            '  "live-restor": true,\n'
            '  "debug": "yes",\n'
            '  "exec-opts": ["native.cgroupdriver=sytemd", 3],\n'
            '  "log-opts": {"max-size": 10},\n'
            '  "runtimes": {"gpu": {"paht": "/usr/bin/gpu"}},\n'
            '  "default-ulimits": {"nofile": {"Name": "nofile", "Hard": "many"}}\n'
            "}\n"
        ),
    )
    assert _lint(path) == [
        ("unknown-key", 2, 3, "live-restor"),
        ("invalid-type", 3, 12, "debug"),
        ("invalid-type", 4, 16, "exec-opts"),
        ("invalid-value", 4, 17, "exec-opts.0"),
        ("invalid-type", 5, 28, "log-opts.max-size"),
        ("invalid-runtime", 6, 16, "runtimes.gpu"),
        ("unknown-key", 6, 24, "runtimes.gpu.paht"),
        ("invalid-type", 7, 60, "default-ulimits.nofile.Hard"),
    ]
    found = lint_paths([path], LintOptions()).diagnostics
    assert found[0].hint == "did you mean 'live-restore'?"
    assert all(d.severity == "error" for d in found)


def test_json_content_is_daemon_json_whatever_the_name(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"iptables": "no"}\n', name="docker-settings")
    assert _lint(path) == [("invalid-type", 1, 14, "iptables")]
    assert _lint(_write(tmp_path, GPU_NODE)) == []


def test_a_json_syntax_error_exits_1_with_its_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, '{\n  "debug": true,\n}\n')
    assert main(["config", "lint", str(path)]) == 1
    assert f"{path}:3:1: error[json-syntax]" in capsys.readouterr().out


# -- migrate to containerd ----------------------------------------------------------------------
def test_to_containerd_v3(tmp_path: Path) -> None:
    hosts = tmp_path / "certs.d"
    result = migrate(MigrateRequest(_write(tmp_path, GPU_NODE), "containerd-v3", str(hosts)))
    config = tomllib.loads(result.text)
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]
    images = config["plugins"]["io.containerd.cri.v1.images"]
    assert config["root"] == "/srv/engine/containerd"
    assert runtime["default_runtime_name"] == "gpu"
    assert runtime["runtimes"] == {
        "runc": {"runtime_type": "io.containerd.runc.v2", "options": {"SystemdCgroup": True}},
        "gpu": {
            "runtime_type": "io.containerd.runc.v2",
            "options": {"BinaryName": "gpu-oci-runtime", "SystemdCgroup": True},
        },
    }
    assert images == {
        "snapshotter": "overlayfs",
        "max_concurrent_downloads": 6,
        "registry": {"config_path": str(hosts)},
    }
    assert sorted(result.hosts_files) == [
        "build.internal.test_5000_/hosts.toml",
        "docker.io/hosts.toml",
    ]
    hub = tomllib.loads(result.hosts_files["docker.io/hosts.toml"])
    assert list(hub["host"]) == ["https://hub-cache.internal.test", "http://plain-cache.test:8080"]
    build = tomllib.loads(result.hosts_files["build.internal.test_5000_/hosts.toml"])
    assert build["host"]["https://build.internal.test:5000"]["skip_verify"] is True
    assert "http://build.internal.test:5000" in build["host"]
    actions = _actions(result.changes)
    for key in (
        "default-address-pools",
        "bip",
        "live-restore",
        "default-ulimits",
        "log-opts.max-size",
        "runtimes.gpu.runtimeArgs",
        "insecure-registries 192.168.0.0/16",
    ):
        assert actions[key] == "not-carried", key
    size = next(c for c in result.changes if c.key == "log-opts.max-size")
    assert "containerLogMaxSize: 50Mi" in size.reason


def test_containerd_output_lints_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _write(tmp_path, GPU_NODE)
    hosts = tmp_path / "certs.d"
    assert main(["config", "migrate", str(source), "--hosts-dir", str(hosts)]) == 0
    out = capsys.readouterr().out
    config = _write(tmp_path, out, name="config.toml")
    assert lint_paths([config], LintOptions()).diagnostics == []
    assert sorted(p.parent.name for p in hosts.glob("*/hosts.toml")) == [
        "build.internal.test_5000_",
        "docker.io",
    ]


def test_stdout_with_mirrors_and_no_hosts_dir_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path, '{"registry-mirrors": ["https://cache.test"]}')
    assert main(["config", "migrate", str(source)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--hosts-dir" in err
    assert main(["config", "migrate", "--write", str(source)]) == 2
    assert source.read_text() == '{"registry-mirrors": ["https://cache.test"]}'


def test_cgroupfs_and_runc_default_write_no_runtimes(tmp_path: Path) -> None:
    text = '{"exec-opts": ["native.cgroupdriver=cgroupfs"], "default-runtime": "runc"}'
    result = migrate(MigrateRequest(_write(tmp_path, text), "containerd-v3"))
    assert tomllib.loads(result.text) == {"version": 3}


# -- migrate to CRI-O ---------------------------------------------------------------------------
def test_to_crio_dropin(tmp_path: Path) -> None:
    result = migrate(MigrateRequest(_write(tmp_path, GPU_NODE), "crio-dropin"))
    config = tomllib.loads(result.text)
    assert config["crio"]["root"] == "/srv/engine/containers/storage"
    assert config["crio"]["storage_driver"] == "overlay"
    runtime = config["crio"]["runtime"]
    assert runtime["cgroup_manager"] == "systemd"
    assert runtime["default_runtime"] == "gpu"
    assert runtime["default_ulimits"] == ["memlock=-1:-1"]
    assert runtime["runtimes"]["gpu"]["runtime_path"].endswith("/gpu-oci-runtime")
    registries = next(c for c in result.changes if c.key.startswith("registry-mirrors"))
    snippet = tomllib.loads(registries.reason.split(":\n", 1)[1])
    assert snippet["registry"] == [
        {
            "prefix": "docker.io",
            "location": "docker.io",
            "mirror": [
                {"location": "hub-cache.internal.test"},
                {"location": "plain-cache.test:8080", "insecure": True},
            ],
        },
        {
            "prefix": "build.internal.test:5000",
            "location": "build.internal.test:5000",
            "insecure": True,
        },
    ]
    dropins = tmp_path / "crio.conf.d"
    dropins.mkdir()
    _write(dropins, result.text, name="10-docker.conf")
    assert lint_paths([dropins / "10-docker.conf"], LintOptions()).diagnostics == []


def test_a_file_dockerd_refuses_is_not_migrated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path, '{"live-restor": true}')
    assert main(["config", "migrate", str(source), "--to", "crio-dropin"]) == 2
    assert "error[unknown-key]" in capsys.readouterr().err
    with pytest.raises(Exception, match="migrates to containerd-v3 or crio-dropin"):
        migrate(MigrateRequest(_write(tmp_path, "{}"), "containerd-v4"))
