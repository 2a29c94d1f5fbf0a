"""The production examples in examples/ lint exactly as recorded in tests/data/golden/."""

from __future__ import annotations

from pathlib import Path

import pytest

from crio_py.cli import main
from tests.conftest import DATA, REPO

EXAMPLES = ["examples/containerd-config.toml", "examples/crio.conf", "examples/certs.d"]


@pytest.mark.parametrize(
    "output, golden", [("text", "examples-lint.txt"), ("json", "examples-lint.json")]
)
def test_examples_lint_output_is_exactly_the_golden_one(
    output: str, golden: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    status = main(["config", "lint", *EXAMPLES, "--format", output])
    assert capsys.readouterr().out == (DATA / "golden" / golden).read_text()
    assert status == 0


def test_examples_have_no_error_even_with_host_independent_strictness(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["config", "lint", "examples/crio.conf", "--strict"]) == 0
    assert main(["config", "lint", "examples/containerd-config.toml", "--strict"]) == 1
    assert "deprecated-key" in capsys.readouterr().out


@pytest.mark.parametrize(
    "example, to, golden",
    [
        ("examples/containerd-config.toml", "containerd-v4", "examples-containerd-v4.toml"),
        ("examples/containerd-config.toml", "crio", "examples-containerd-to-crio.conf"),
        (
            "examples/containerd-config.toml",
            "crio-dropin",
            "examples-containerd-to-crio-dropin.conf",
        ),
        ("examples/crio.conf", "containerd-v3", "examples-crio-to-containerd.toml"),
    ],
)
def test_examples_migrate_exactly_as_recorded(
    example: str,
    to: str,
    golden: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["config", "migrate", "--to", to, example]) == 0
    migrated = capsys.readouterr().out
    assert migrated == (DATA / "golden" / golden).read_text()
    written = tmp_path / ("crio.conf" if "crio" in to else "config.toml")
    written.write_text(migrated)
    assert main(["config", "lint", str(written), "--format", "json"]) == 0
