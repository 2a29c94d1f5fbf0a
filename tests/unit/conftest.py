"""Unit tests fake child processes by their exact argv: the setpriv wrapper every `run`
child gets in production (backends/_exec.py) is left out here and tested on its own."""

from __future__ import annotations

import pytest

from crio_py.backends import _exec


@pytest.fixture(autouse=True)
def _children_without_setpriv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_exec, "DIE_WITH_DAEMON", ())
