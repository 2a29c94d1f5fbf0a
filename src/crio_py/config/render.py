"""RuntimeSettings as TOML or JSON, for `config show`."""

from __future__ import annotations

from typing import Any

import tomlkit

from crio_py.config.model import RuntimeSettings
from crio_py.config.redact import redacted_settings, settings_json


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def settings_text(settings: RuntimeSettings, output: str) -> str:
    """The effective settings as `toml` or `json` (credentials are masked)."""
    if output == "json":
        return settings_json(settings, indent=2) + "\n"
    return tomlkit.dumps(_without_nulls(redacted_settings(settings)))
