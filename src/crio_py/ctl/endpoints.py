"""Where `crio-py ctl` connects and for how long (no grpc here: `args.py` uses it too).

crictl's rules: the endpoint comes from `--runtime-endpoint`, else `$CONTAINER_RUNTIME_ENDPOINT`;
the image endpoint from `--image-endpoint`, else `$IMAGE_SERVICE_ENDPOINT`, else the runtime
endpoint. `--timeout` (default 2s) is the deadline of each call except pulls.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

DEFAULT_ENDPOINT = "unix:///run/crio-py/crio-py.sock"
DEFAULT_TIMEOUT_S = 2.0
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class CtlError(Exception):
    """A failure of `crio-py ctl` that is not a gRPC status (bad flags, missing image)."""


def parse_duration(text: str) -> float:
    """A Go duration ("2s", "1m30s", "500ms") or a bare number of seconds, in seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r} (use e.g. 2s, 500ms, 1m30s)")
    return sum(float(number) * _UNITS_S[unit] for number, unit in parts)


def grpc_target(endpoint: str) -> str:
    """The grpc target of a CRI endpoint: `unix:///path` (a bare absolute path is accepted)."""
    if endpoint.startswith("/"):
        return f"unix://{endpoint}"
    if endpoint.startswith("unix:"):
        return endpoint
    raise CtlError(f"unsupported endpoint {endpoint!r}: use unix:///path/to/crio-py.sock")


def resolve_endpoints(
    runtime: str | None, image: str | None, environ: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """(runtime endpoint, image endpoint) after flags, environment and defaults."""
    env = os.environ if environ is None else environ
    runtime_endpoint = runtime or env.get("CONTAINER_RUNTIME_ENDPOINT") or DEFAULT_ENDPOINT
    image_endpoint = image or env.get("IMAGE_SERVICE_ENDPOINT") or runtime_endpoint
    return runtime_endpoint, image_endpoint
