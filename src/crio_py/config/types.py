"""Value types shared by the config models: Go durations, image references, ports, paths,
docker-style `auth` fields.

Each validator raises a PydanticCustomError whose type names the lint code it maps to
(`invalid_duration` → invalid-duration), so lint can report the precise problem.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

from crio_py.config.model import Credentials

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> float:
    """Parse a Go duration ("4h0m0s", "100ms", "1.5h", "0") into seconds; ValueError if bad."""
    body = text.strip()
    if not body:
        return 0.0  # an empty duration is an unset one, as the daemons read it
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-")
    if body == "0":
        return 0.0
    if not body:
        raise ValueError(f"invalid duration {text!r}")
    total = 0.0
    position = 0
    for match in _DURATION_PART.finditer(body):
        if match.start() != position:
            break
        total += float(match[1]) * _UNIT_SECONDS[match[2]]
        position = match.end()
    if position != len(body):
        raise ValueError(f"invalid duration {text!r}: expected a number and a unit like 5m0s")
    return sign * total


def _check_duration(value: str) -> str:
    if value == "":
        return value
    try:
        parse_duration(value)
    except ValueError:
        raise PydanticCustomError(
            "invalid_duration",
            "'{value}' is not a duration (write it like 10s, 5m0s or 4h0m0s)",
            {"value": value},
        ) from None
    return value


# Docker reference grammar (distribution/reference), simplified to one regex.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)


def image_reference_problem(value: str, *, need_domain: bool = False) -> str | None:
    """Why `value` is not a valid image reference, or None when it is."""
    match = _REFERENCE.match(value)
    if not match:
        return f"{value!r} is not a valid image reference"
    domain = match["domain"]
    if need_domain and not (domain and ("." in domain or ":" in domain or domain == "localhost")):
        return (
            f"{value!r} does not start with a registry host "
            "(write it like registry.k8s.io/pause:3.10)"
        )
    return None


def _check_image(value: str) -> str:
    problem = image_reference_problem(value) if value else None
    if problem:
        raise PydanticCustomError("invalid_image_ref", problem)
    return value


def _check_qualified_image(value: str) -> str:
    problem = image_reference_problem(value, need_domain=True) if value else None
    if problem:
        raise PydanticCustomError("invalid_image_ref", problem)
    return value


def _check_port(value: str) -> str:
    if not value.isdigit() or int(value) > 65535:
        raise PydanticCustomError(
            "invalid_port", "'{value}' is not a port number from 0 to 65535", {"value": value}
        )
    return value


def _check_absolute(value: str) -> str:
    if value and not value.startswith("/"):
        raise PydanticCustomError(
            "relative_path", "'{value}' is a relative path; write an absolute one", {"value": value}
        )
    return value


def _check_port_number(value: int) -> int:
    if not 0 <= value <= 65535:
        raise PydanticCustomError(
            "invalid_port", "{value} is not a port number from 0 to 65535", {"value": value}
        )
    return value


def _check_auth(value: str) -> str:
    if value:
        try:
            Credentials.from_auth(value)
        except ValueError as exc:  # its message never quotes the value: it is a secret
            raise PydanticCustomError("invalid_auth", str(exc)) from None
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]
ImageRef = Annotated[str, AfterValidator(_check_image)]
QualifiedImageRef = Annotated[str, AfterValidator(_check_qualified_image)]
PortString = Annotated[str, AfterValidator(_check_port)]
PortNumber = Annotated[int, AfterValidator(_check_port_number)]
DockerAuth = Annotated[str, AfterValidator(_check_auth)]
AbsPath = Annotated[str, AfterValidator(_check_absolute)]


class Table(BaseModel):
    """Base of every TOML table model: strict types, no unknown keys."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class OpenTable(BaseModel):
    """A table whose unknown keys are kept (third-party plugins, runtime options)."""

    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)
