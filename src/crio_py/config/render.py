"""RuntimeSettings as TOML or JSON, for `config show`."""

from __future__ import annotations

import json
from typing import Any

import tomlkit

from crio_py.config.model import RuntimeSettings


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def settings_text(settings: RuntimeSettings, output: str) -> str:
    """The effective settings as `toml` or `json` (credentials are masked)."""
    data = _mask(settings.model_dump(mode="json"))
    if output == "json":
        return json.dumps(data, indent=2) + "\n"
    return tomlkit.dumps(_without_nulls(data))


def _mask(data: dict[str, Any]) -> dict[str, Any]:
    for auth in data.get("registry", {}).get("auths", {}).values():
        for secret in ("password", "auth", "identity_token"):
            if auth.get(secret):
                auth[secret] = "<redacted>"
    return data
