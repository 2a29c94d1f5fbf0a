"""Fixtures for the spec builder tests: default settings, an image rootfs with /etc/passwd
and /etc/group, and request factories with sensible defaults."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crio_py.config.load import load_settings
from crio_py.config.model import RuntimeSettings
from crio_py.ocispec import SandboxSpecRequest, SpecRequest
from tests.unit.ocispec.helpers import GROUP, HOST, PASSWD, container_config, sandbox_config


@pytest.fixture(scope="session")
def settings() -> RuntimeSettings:
    """The embedded default configuration (a containerd one)."""
    loaded, _ = load_settings(None)
    return loaded


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    """An image root filesystem with /etc/passwd and /etc/group."""
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    return root


MakeRequest = Callable[..., SpecRequest]
MakeSandbox = Callable[..., SandboxSpecRequest]


@pytest.fixture
def make_request(settings: RuntimeSettings, rootfs: Path) -> MakeRequest:
    """SpecRequest factory: keyword arguments replace the defaults."""

    def make(**overrides: Any) -> SpecRequest:
        values: dict[str, Any] = {
            "container_id": "c" * 64,
            "sandbox_id": "s" * 64,
            "config": container_config(),
            "sandbox_config": sandbox_config(),
            "image_config": {"config": {}},
            "image_name": "registry.local/app:1",
            "rootfs_path": rootfs,
            "settings": settings,
            "host": HOST,
        }
        values.update(overrides)
        return SpecRequest(**values)

    return make


@pytest.fixture
def make_sandbox(settings: RuntimeSettings, rootfs: Path) -> MakeSandbox:
    """SandboxSpecRequest factory: keyword arguments replace the defaults."""

    def make(**overrides: Any) -> SandboxSpecRequest:
        values: dict[str, Any] = {
            "sandbox_id": "s" * 64,
            "sandbox_config": sandbox_config(),
            "image_config": {"config": {"Entrypoint": ["/pause"], "User": "65535:65535"}},
            "image_name": "registry.k8s.io/pause:3.10",
            "rootfs_path": rootfs,
            "settings": settings,
            "host": HOST,
        }
        values.update(overrides)
        return SandboxSpecRequest(**values)

    return make
