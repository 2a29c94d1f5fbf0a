"""`config default`: complete, commented, lint-clean, and usable by the daemon as it is."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from crio_py.config.containerd.models import MODELS
from crio_py.config.crio.models import CrioConfig
from crio_py.config.defaults import SOCKET, default_text
from crio_py.config.load import LintOptions, lint_paths, load_settings
from crio_py.config.rules import Target

CASES = [
    ("containerd", 2, Target("containerd", (1, 7))),
    ("containerd", 2, Target("containerd", (1, 6))),
    ("containerd", 3, Target("containerd", (2, 2))),
    ("containerd", 3, Target("containerd", (2, 3))),
    ("containerd", 4, Target("containerd", (2, 3))),
    ("crio", 3, Target("crio", (1, 36))),
]


def _write(tmp_path: Path, kind: str, version: int) -> Path:
    path = tmp_path / ("crio.conf" if kind == "crio" else "config.toml")
    path.write_text(default_text(kind, version))
    return path


@pytest.mark.parametrize("kind, version, target", CASES, ids=str)
def test_default_lints_with_no_diagnostic(
    kind: str, version: int, target: Target, tmp_path: Path
) -> None:
    path = _write(tmp_path, kind, version)
    result = lint_paths([path], LintOptions(targets={target.daemon: target}))
    assert result.diagnostics == []


@pytest.mark.parametrize("kind, version", [("containerd", 2), ("containerd", 3),
                                           ("containerd", 4), ("crio", 3)])
def test_default_is_usable_by_the_daemon(kind: str, version: int, tmp_path: Path) -> None:
    settings, _ = load_settings(_write(tmp_path, kind, version))
    assert settings.socket.path == Path(SOCKET)
    assert settings.root_dir == Path("/var/lib/crio-py")
    assert settings.runtimes[settings.default_runtime].cgroup_driver == "cgroupfs"
    assert Path("/usr/lib/cni") in settings.cni.bin_dirs


def test_default_is_commented() -> None:
    text = default_text("containerd", 3)
    assert text.startswith("# crio-py default configuration")
    assert "# default_runtime_name: runtime used when none is asked for" in text


@pytest.mark.parametrize("version", [2, 3, 4])
def test_containerd_default_sets_every_key_of_the_cri_runtime_table(version: int) -> None:
    data = tomllib.loads(default_text("containerd", version))
    assert data["version"] == version
    plugin = "io.containerd.grpc.v1.cri" if version == 2 else "io.containerd.cri.v1.runtime"
    written = set(data["plugins"][plugin])
    model = MODELS[version].model_validate(data)
    assert model.version == version
    assert {"cni", "containerd", "enable_selinux", "max_container_log_line_size"} <= written


def test_crio_default_sets_every_table() -> None:
    data = tomllib.loads(default_text("crio"))
    assert set(data["crio"]) >= {"api", "runtime", "image", "network", "metrics", "stats", "nri"}
    assert CrioConfig.model_validate(data).crio.runtime.cgroup_manager == "cgroupfs"


def test_embedded_default_is_the_containerd_v3_default() -> None:
    settings, warnings = load_settings(None)
    assert warnings == []
    assert settings.default_runtime == "runc"
    assert settings.runtimes["runc"].binary == "runc"
