"""registries.conf mirrors and insecure registries for CRI-O configurations."""

from __future__ import annotations

from pathlib import Path

from crio_py.config.crio.settings import to_settings
from crio_py.config.lint.crio import lint_crio
from crio_py.config.load import load_settings
from crio_py.config.registry.registries_conf import read_registries
from crio_py.config.rules import newest
from crio_py.config.source import parse_text

REGISTRIES = '''
unqualified-search-registries = ["docker.io"]

[[registry]]
location = "docker.io"
[[registry.mirror]]
location = "mirror.example.com:5000"
insecure = true
[[registry.mirror]]
location = "cache.example.com/dockerhub"

[[registry]]
prefix = "quay.io"
location = "quay-proxy.example.com"

[[registry]]
location = "bad.example.com"
blocked = true

[registries.insecure]
registries = ["legacy.example.com"]
'''


def test_mirrors_insecure_and_blocked(tmp_path: Path) -> None:
    path = tmp_path / "registries.conf"
    path.write_text(REGISTRIES)
    (tmp_path / "registries.conf.d").mkdir()
    (tmp_path / "registries.conf.d" / "10-more.conf").write_text(
        '[[registry]]\nlocation = "ghcr.io"\ninsecure = true\n')
    found = read_registries(path)
    assert found.mirrors == {
        "docker.io": ("mirror.example.com:5000", "cache.example.com"),
        "quay.io": ("quay-proxy.example.com",),
    }
    assert found.insecure_hosts == {"mirror.example.com:5000", "legacy.example.com", "ghcr.io"}
    assert found.blocked_hosts == {"bad.example.com"}


def test_crio_settings_take_their_registries_from_registries_conf(tmp_path: Path) -> None:
    path = tmp_path / "registries.conf"
    path.write_text(REGISTRIES)
    source = parse_text('[crio.image]\ninsecure_registries = ["old.example.com"]\n', "crio.conf")
    _, config = lint_crio([source], newest("crio"))
    registry = to_settings(config, registries_conf=path).registry
    assert registry.mirrors["docker.io"] == ("mirror.example.com:5000", "cache.example.com")
    assert "old.example.com" in registry.insecure_hosts
    assert registry.blocked_hosts == ("bad.example.com",)


def test_a_missing_or_broken_file_gives_nothing(tmp_path: Path) -> None:
    assert read_registries(tmp_path / "absent.conf").mirrors == {}
    broken = tmp_path / "registries.conf"
    broken.write_text("[[registry]\n")
    assert read_registries(broken).mirrors == {}
    settings, _ = load_settings(None)
    assert settings.registry.blocked_hosts == ()
