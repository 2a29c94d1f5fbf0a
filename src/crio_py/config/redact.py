"""The one place that decides which configuration values are secret, and hides them.

Every path that shows configuration values to someone goes through `redact`: `config show`,
Status(verbose)'s info (and so `crio-py ctl info`), the settings the daemon logs at start and on
SIGHUP, and the values lint quotes in its diagnostics. Secrets are found by key name, so the same
rule covers RuntimeSettings dumps (`registry.auths.<host>.password`), the raw TOML of either
format (`registry.configs."<host>".auth.identitytoken`) and registry headers (`Authorization`).
"""

from __future__ import annotations

import json
from typing import Any

from crio_py.config.model import RuntimeSettings

REDACTED = "<redacted>"

SECRET_KEYS = frozenset(
    {
        # registry credentials: containerd's auth table, RuntimeSettings, CRI AuthConfig
        "username",
        "password",
        "auth",
        "identitytoken",
        "identity_token",
        "registrytoken",
        "registry_token",
        # HTTP headers that carry credentials
        "authorization",
        "proxy-authorization",
    }
)


def is_secret_key(key: object) -> bool:
    """Whether the value of a key with this name is a secret (names compare case-insensitively)."""
    return isinstance(key, str) and key.lower() in SECRET_KEYS


def redact(value: Any, key: object = None) -> Any:
    """A copy of `value` (JSON- or TOML-like data) with every secret replaced by REDACTED.

    A non-empty scalar or array under a secret key is replaced whole; a table under one (the
    `auth` table of a containerd registry config) is walked, so its own secret keys are hidden
    and anything else in it stays readable. Empty values stay as they are: that a password is
    not set is not a secret.
    """
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if is_secret_key(key) and value not in ("", None, [], ()):
        return REDACTED
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def redacted_settings(settings: RuntimeSettings) -> dict[str, Any]:
    """The settings as JSON-ready data, secrets hidden."""
    data: dict[str, Any] = redact(settings.model_dump(mode="json"))
    return data


def settings_json(settings: RuntimeSettings, *, indent: int | None = None) -> str:
    """The settings as JSON text, secrets hidden (for logs and Status' info)."""
    return json.dumps(redacted_settings(settings), indent=indent)
