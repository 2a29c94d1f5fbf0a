"""config/ keeps the shape its import contracts assume: short modules, no private name shared.

The import-linter contracts in pyproject.toml hold the layers; these checks hold what they
cannot see (module length, `_name` imported from another module).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

CONFIG = REPO / "src" / "crio_py" / "config"
MODULES = sorted(CONFIG.rglob("*.py"))
MAX_LINES = 400


def _label(path: Path) -> str:
    return str(path.relative_to(CONFIG))


@pytest.mark.parametrize("path", MODULES, ids=_label)
def test_module_is_at_most_400_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


@pytest.mark.parametrize("path", MODULES, ids=_label)
def test_no_private_name_is_imported_from_another_module(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    private = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("crio_py.")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert private == []
