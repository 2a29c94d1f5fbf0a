"""Shared fixtures: where the test data lives."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
CONFIGS = DATA / "configs"
REPO = Path(__file__).parent.parent


@pytest.fixture
def configs_dir() -> Path:
    """tests/data/configs."""
    return CONFIGS
