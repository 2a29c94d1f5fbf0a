"""Helpers shared by the lint tests."""

from __future__ import annotations

from pathlib import Path

from crio_py.config.diagnostics import Diagnostic
from crio_py.config.load import LintOptions, lint_paths
from crio_py.config.rules import parse_target


def write_files(root: Path, files: dict[str, str]) -> None:
    """Write each relative path with its text below root."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def lint(path: Path, target: str | None = None) -> list[Diagnostic]:
    """`config lint PATH [--target TARGET]` through the public entry point."""
    targets = {}
    if target is not None:
        parsed = parse_target(target)
        targets[parsed.daemon] = parsed
    return lint_paths([path], LintOptions(targets=targets)).diagnostics


def only(diagnostics: list[Diagnostic], code: str) -> Diagnostic:
    """The single diagnostic with this code (fails when there are none or several)."""
    found = [d for d in diagnostics if d.code == code]
    assert len(found) == 1, f"expected one {code}, got {diagnostics}"
    return found[0]
