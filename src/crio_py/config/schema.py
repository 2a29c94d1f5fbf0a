"""JSON Schema of each config format, generated from the models (committed under schemas/)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from crio_py.config.containerd.models import MODELS
from crio_py.config.crio.models import CrioConfig
from crio_py.config.registry.hosts import HostsFile

_DRAFT = "https://json-schema.org/draft/2020-12/schema"


def model_for(kind: str, version: int | None = None) -> type[BaseModel]:
    """The root model of a format (containerd needs a config version, default 3)."""
    if kind == "crio":
        return CrioConfig
    if kind == "hosts":
        return HostsFile
    if kind == "containerd":
        return MODELS[version or 3]
    raise ValueError(f"unknown format {kind!r}")


def schema_for(kind: str, version: int | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a format."""
    schema = model_for(kind, version).model_json_schema(by_alias=True, mode="validation")
    title = {"crio": "CRI-O crio.conf", "hosts": "containerd hosts.toml"}.get(
        kind, f"containerd config.toml version {version or 3}"
    )
    return {"$schema": _DRAFT, "title": title, **{k: v for k, v in schema.items() if k != "title"}}


def schema_file_name(kind: str, version: int | None = None) -> str:
    """The committed file name under schemas/."""
    return f"containerd-v{version or 3}.json" if kind == "containerd" else f"{kind}.json"


ALL_SCHEMAS: list[tuple[str, int | None]] = [
    ("containerd", 1),
    ("containerd", 2),
    ("containerd", 3),
    ("containerd", 4),
    ("crio", None),
    ("hosts", None),
]
