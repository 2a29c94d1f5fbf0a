"""`config migrate` for containerd: golden files for each rule, the corpus, and the command."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from crio_py.cli import main
from crio_py.config.diagnostics import Severity
from crio_py.config.load import LintOptions, lint_paths, load_settings
from crio_py.config.migrate.steps import MigrateRequest, migrate
from crio_py.config.model import RuntimeSettings
from tests.conftest import CONFIGS, DATA, REPO

GOLDEN = DATA / "migrate"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "input.toml").exists())
CORPUS = sorted([*(CONFIGS / "containerd" / "corpus").glob("*.toml"),
                 *(CONFIGS / "containerd" / "upstream").glob("*.toml")])


def _run(path: Path, to: str | None = None) -> tuple[str, dict[str, object]]:
    result = migrate(MigrateRequest(path, to))
    report = json.loads(_json_report(path, to))
    return result.text, report


def _json_report(path: Path, to: str | None) -> str:
    from crio_py.config.migrate.report import render_report

    return render_report(migrate(MigrateRequest(path, to)), "json")


def _to(case: str) -> str | None:
    return "containerd-v4" if case == "v3-to-v4" else None


@pytest.mark.parametrize("case", CASES)
def test_golden_migration(case: str) -> None:
    text, report = _run(GOLDEN / case / "input.toml", _to(case))
    assert text == (GOLDEN / case / "expected.toml").read_text()
    assert report == json.loads((GOLDEN / case / "report.json").read_text())


def test_cri_split_moves_each_key_to_its_plugin() -> None:
    data = tomllib.loads((GOLDEN / "v2-cri-split" / "expected.toml").read_text())
    plugins = data["plugins"]
    assert plugins["io.containerd.cri.v1.images"]["pinned_images"] == {
        "sandbox": "registry.example.com/pause:3.9"}
    assert plugins["io.containerd.cri.v1.images"]["snapshotter"] == "overlayfs"
    assert plugins["io.containerd.grpc.v1.cri"] == {
        "stream_server_address": "127.0.0.1", "stream_idle_timeout": "30m"}
    runtime = plugins["io.containerd.cri.v1.runtime"]
    assert runtime["containerd"]["runtimes"]["runc"]["options"] == {"SystemdCgroup": True}
    assert runtime["enable_unprivileged_ports"] is True  # what the input said
    assert runtime["enable_unprivileged_icmp"] is False  # containerd 1.x's default, kept
    assert "# Pause image from the in-cluster mirror." in \
        (GOLDEN / "v2-cri-split" / "expected.toml").read_text()


def test_legacy_runtimes_keep_what_upstream_migration_loses() -> None:
    data = tomllib.loads((GOLDEN / "v2-legacy-runtimes" / "expected.toml").read_text())
    containerd = data["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]
    assert containerd["default_runtime_name"] == "default"
    assert containerd["runtimes"]["default"] == {
        "runtime_type": "io.containerd.runc.v2",
        "options": {"SystemdCgroup": True, "NoPivotRoot": True,
                    "BinaryName": "/usr/local/bin/runc", "Root": "/run/runc-v1"},
    }
    assert containerd["runtimes"]["old"] == {
        "runtime_type": "io.containerd.runc.v2", "sandboxer": "podsandbox",
        "options": {"BinaryName": "/usr/bin/crun", "Root": "/run/crun"},
    }
    assert containerd["runtimes"]["untrusted"] == {"runtime_type": "io.containerd.kata.v2"}


def test_mirrors_become_hosts_files() -> None:
    result = migrate(MigrateRequest(GOLDEN / "v2-mirrors-to-hosts" / "input.toml"))
    assert result.hosts_dir == "/etc/containerd/certs.d"
    assert set(result.hosts_files) == {"docker.io/hosts.toml", "_default/hosts.toml",
                                       "registry.example.com_5000_/hosts.toml",
                                       "quay.io/hosts.toml"}
    docker = tomllib.loads(result.hosts_files["docker.io/hosts.toml"])
    assert docker == {
        "server": "https://registry-1.docker.io",
        "host": {"https://cache.example.com": {
            "capabilities": ["pull", "resolve"], "ca": "/etc/containerd/cache-ca.pem",
            "client": [["/etc/containerd/client.pem", "/etc/containerd/client-key.pem"]]}},
    }
    assert tomllib.loads(result.hosts_files["quay.io/hosts.toml"]) == {
        "server": "https://quay.io", "skip_verify": True}
    registry = tomllib.loads(result.text)["plugins"]["io.containerd.cri.v1.images"]["registry"]
    assert registry["config_path"] == "/etc/containerd/certs.d"
    assert registry["configs"]["cache.example.com"] == {
        "auth": {"username": "puller", "password": "secret"}}
    assert registry["configs"]["gcr.io"] == {"auth": {"auth": "dXNlcjpwYXNz"}}
    assert "mirrors" not in registry and "auths" not in registry


def _target_versions(path: Path) -> list[str]:
    version = int(tomllib.loads(path.read_text()).get("version", 1))
    return [f"containerd-v{v}" for v in (2, 3, 4) if v >= max(version, 2)]


def _mapped(settings: RuntimeSettings) -> dict[str, object]:
    """The settings a same-format migration must keep (the sandbox image only when set)."""
    data = settings.model_dump(exclude={"source_files"})
    data["registry"].pop("mirrors")
    data["registry"].pop("tls")
    data["registry"].pop("insecure_hosts")
    data["registry"].pop("config_path")
    return data


# Runtimes of the removed io.containerd.runtime.v1.linux become runc v2 runtimes: containerd 2.x
# would ignore them, so their settings cannot stay equal (golden v2-legacy-runtimes covers it).
V1_LINUX_FILES = {"legacy-v1-with-linux-runtime.toml"}


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_corpus_migrates_to_lint_clean_equal_settings_idempotently(
    path: Path, tmp_path: Path
) -> None:
    before, _ = load_settings(path)
    if (path.parent / "conf.d").is_dir():
        shutil.copytree(path.parent / "conf.d", tmp_path / "conf.d")  # relative imports
    for to in _target_versions(path):
        result = migrate(MigrateRequest(path, to, str(tmp_path / "certs.d")))
        migrated = tmp_path / f"{to}.toml"
        migrated.write_text(result.text)
        errors = [d for d in lint_paths([migrated], LintOptions()).diagnostics
                  if d.severity is Severity.ERROR]
        assert errors == [], to
        after, _ = load_settings(migrated)
        expected, got = _mapped(before), _mapped(after)
        if "sandbox_image" not in path.read_text() and "pinned_images" not in path.read_text():
            expected.pop("sandbox_image")
            got.pop("sandbox_image")
        if path.name not in V1_LINUX_FILES:
            assert got == expected, to
        again = migrate(MigrateRequest(migrated, to))
        assert (again.text, again.changed, again.hosts_files) == (result.text, False, {}), to


def test_a_current_file_is_left_exactly_as_it_is() -> None:
    path = REPO / "examples" / "containerd-config.toml"
    result = migrate(MigrateRequest(path))
    assert (result.text, result.changed) == (path.read_text(), False)
    assert [c.action for c in result.changes] == ["kept"]  # the note on configs.*.auth


# -- the command -------------------------------------------------------------------------------
def test_stdout_is_the_config_and_stderr_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    path = GOLDEN / "v2-cri-split" / "input.toml"
    assert main(["config", "migrate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == (GOLDEN / "v2-cri-split" / "expected.toml").read_text()
    assert err.startswith("migrate: containerd-v2 → containerd-v3\n")
    assert "  moved       plugins.io.containerd.grpc.v1.cri.sandbox_image → " in err


def test_check_exits_1_when_something_would_change(capsys: pytest.CaptureFixture[str]) -> None:
    split = GOLDEN / "v2-cri-split" / "input.toml"
    assert main(["config", "migrate", "--check", str(split)]) == 1
    current = REPO / "examples" / "containerd-config.toml"
    assert main(["config", "migrate", "--check", str(current)]) == 0
    assert "nothing to change" in capsys.readouterr().out


def test_diff(capsys: pytest.CaptureFixture[str]) -> None:
    path = GOLDEN / "v3-to-v4" / "input.toml"
    assert main(["config", "migrate", "--diff", "--to", "containerd-v4", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"--- {path}\n+++ {path} (migrated)\n")
    assert "-version = 3\n" in out and "+version = 4\n" in out


def test_write_is_atomic_keeps_a_backup_and_writes_hosts_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    shutil.copy(GOLDEN / "v2-mirrors-to-hosts" / "input.toml", config)
    hosts = tmp_path / "certs.d"
    assert main(["config", "migrate", "--write", "--hosts-dir", str(hosts), str(config)]) == 0
    assert (tmp_path / "config.toml.bak").read_text() == \
        (GOLDEN / "v2-mirrors-to-hosts" / "input.toml").read_text()
    assert tomllib.loads(config.read_text())["version"] == 3
    assert sorted(p.parent.name for p in hosts.glob("*/hosts.toml")) == [
        "_default", "docker.io", "quay.io", "registry.example.com_5000_"]
    assert main(["config", "migrate", "--check", str(config)]) == 0
    assert not list(tmp_path.glob(".*tmp*"))


def test_write_refuses_to_overwrite_a_different_hosts_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    shutil.copy(GOLDEN / "v2-mirrors-to-hosts" / "input.toml", config)
    existing = tmp_path / "certs.d" / "docker.io" / "hosts.toml"
    existing.parent.mkdir(parents=True)
    existing.write_text('server = "https://elsewhere"\n')
    before = config.read_text()
    status = main(["config", "migrate", "--write", "--hosts-dir", str(tmp_path / "certs.d"),
                   str(config)])
    assert status == 2
    assert config.read_text() == before
    assert not (tmp_path / "config.toml.bak").exists()
    assert sorted(p.parent.name for p in (tmp_path / "certs.d").glob("*/hosts.toml")) == [
        "docker.io"]


@pytest.mark.parametrize("text, message", [
    ("version = 2\n[plugins\n", "cannot read"),
    ("version = 7\n", "unknown config version"),
    ("[tool.black]\nline-length = 100\n", "neither a containerd nor a CRI-O"),
    ("version = 4\n", "cannot be migrated down"),
])
def test_bad_input_exits_2_and_writes_nothing(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    argv = ["config", "migrate", "--write", "--to", "containerd-v3", str(config)]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert config.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "migrate", str(tmp_path / "absent.toml")]) == 2
    assert "cannot read" in capsys.readouterr().err
