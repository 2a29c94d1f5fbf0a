"""Every configuration of the corpus, and every default that containerd and CRI-O print
themselves, lints with zero errors under every release that reads it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from crio_py.config.diagnostics import Severity
from crio_py.config.load import LintOptions, lint_paths, load_settings
from crio_py.config.rules import CONTAINERD_TARGETS, CRIO_TARGETS, Target
from tests.conftest import CONFIGS

CONTAINERD = CONFIGS / "containerd"
CRIO = CONFIGS / "crio"
CONTAINERD_CORPUS = sorted((CONTAINERD / "corpus").glob("*.toml"))
CRIO_CORPUS = sorted(p for p in (CRIO / "corpus").iterdir() if p.suffix == ".conf" or p.is_dir())


def _version(path: Path) -> int:
    return int(tomllib.loads(path.read_text()).get("version", 1))


def _containerd_targets(version: int) -> list[Target]:
    """The containerd releases that read a config version."""
    newest = {1: (1, 7), 2: (2, 3), 3: (2, 3), 4: (2, 3)}[version]
    oldest = {1: (1, 6), 2: (1, 6), 3: (2, 0), 4: (2, 3)}[version]
    return [Target("containerd", v) for v in CONTAINERD_TARGETS if oldest <= v <= newest]


def _errors(path: Path, target: Target) -> list[str]:
    result = lint_paths([path], LintOptions(targets={target.daemon: target}))
    assert not result.unreadable
    return [f"{d.file}:{d.line}:{d.column} {d.code} {d.message}"
            for d in result.diagnostics if d.severity is Severity.ERROR]


def test_the_corpus_is_large_enough() -> None:
    assert len(CONTAINERD_CORPUS) >= 20
    assert len(CRIO_CORPUS) >= 20


@pytest.mark.parametrize("path", CONTAINERD_CORPUS, ids=lambda p: p.name)
def test_containerd_corpus_has_no_error(path: Path) -> None:
    for target in _containerd_targets(_version(path)):
        assert _errors(path, target) == [], str(target)


@pytest.mark.parametrize("path", CRIO_CORPUS, ids=lambda p: p.name)
def test_crio_corpus_has_no_error(path: Path) -> None:
    for version in CRIO_TARGETS:
        assert _errors(path, Target("crio", version)) == [], f"crio-{version}"


@pytest.mark.parametrize("path", CONTAINERD_CORPUS + CRIO_CORPUS, ids=lambda p: p.name)
def test_corpus_loads_into_runtime_settings(path: Path) -> None:
    settings, _ = load_settings(path)
    assert settings.default_runtime in settings.runtimes


@pytest.mark.parametrize("minor", ["1.6", "1.7", "2.0", "2.1", "2.2", "2.3"])
def test_containerd_own_default_config_has_no_error(minor: str) -> None:
    path = CONTAINERD / "upstream" / f"containerd-{minor}-default.toml"
    own = Target("containerd", (int(minor[0]), int(minor[2])))
    assert _errors(path, own) == []
    for target in _containerd_targets(_version(path)):
        assert _errors(path, target) == [], str(target)


@pytest.mark.parametrize("minor", range(26, 37))
def test_crio_own_default_config_is_clean_for_its_release(minor: int) -> None:
    path = CRIO / "upstream" / f"crio-1.{minor}-default.conf"
    result = lint_paths([path], LintOptions(targets={"crio": Target("crio", (1, minor))}))
    assert [d.code for d in result.diagnostics] == []
    for version in CRIO_TARGETS:
        assert _errors(path, Target("crio", version)) == []


def test_crio_default_with_every_key_active_has_no_error() -> None:
    path = CRIO / "upstream" / "crio-1.36-default-active.conf"
    assert _errors(path, Target("crio", (1, 36))) == []
