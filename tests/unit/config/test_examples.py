"""The production examples in examples/ lint exactly as recorded in tests/data/golden/."""

from __future__ import annotations

import pytest

from crio_py.cli import main
from tests.conftest import DATA, REPO

EXAMPLES = ["examples/containerd-config.toml", "examples/crio.conf", "examples/certs.d"]


@pytest.mark.parametrize("output, golden", [("text", "examples-lint.txt"),
                                            ("json", "examples-lint.json")])
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
