"""CRI-O settings with no containerd equivalent, kept for the way back.

CRI-O → containerd writes them as comment lines at the end of the containerd file
(`# crio: crio.runtime.seccomp_profile = "…"`); containerd ignores comments, and containerd →
CRI-O reads them back into crio.conf, so a round trip loses none of them.
"""

from __future__ import annotations

import dataclasses
import tomllib
from typing import Any

import tomlkit

from crio_py.config.migrate.convert._common import (
    HANDLERS,
    IMAGE,
    RUN,
    ConvertContext,
    Key,
    key_name,
)

MARK = "# crio: "
_KEPT: tuple[Key, ...] = (
    (*RUN, "default_capabilities"),
    (*RUN, "seccomp_profile"),
    (*IMAGE, "global_auth_file"),
)
_TRAILER = "\n# CRI-O settings without a containerd equivalent, kept for a conversion back:\n"


def crio_only_trailer(ctx: ConvertContext) -> str:
    """The comment lines that keep the set CRI-O-only settings."""
    handlers = ctx.raw(HANDLERS)
    handler_names = list(handlers) if isinstance(handlers, dict) else []
    paths = [*_KEPT, *((*HANDLERS, name, "monitor_cgroup") for name in handler_names)]
    kept = [path for path in paths if ctx.is_set(path)]
    names = {key_name(path) for path in kept}
    changes = ctx.result.changes
    for index, change in enumerate(changes):
        if change.key in names and change.action == "not-carried":
            note = f"{change.reason}; kept as a `{MARK.strip()}` comment line for the way back"
            changes[index] = dataclasses.replace(change, reason=note)
    lines = [f"{MARK}{key_name(p)} = {tomlkit.item(ctx.raw(p)).as_string()}\n" for p in kept]
    return _TRAILER + "".join(lines) if lines else ""


def restore_crio_only(ctx: ConvertContext) -> None:
    """Put back what a containerd file converted from CRI-O kept in comment lines."""
    for source in ctx.sources:
        for line in source.text.splitlines():
            found = _parse(line) if line.startswith(MARK) else None
            if found is None:
                continue
            path, value = found
            if path[:3] == HANDLERS and ctx.out.table(path[:-1]) is None:
                continue  # the handler itself was not carried
            reason = "kept in a comment line by an earlier conversion from CRI-O"
            change = ctx.record("kept", path, None, reason, mark=False)
            ctx.out.put(path, value, change=change)


def _parse(line: str) -> tuple[Key, Any] | None:
    try:
        data: Any = tomllib.loads(line[len(MARK) :])
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    while isinstance(data, dict) and len(data) == 1:
        key, data = next(iter(data.items()))
        path.append(key)
    return (tuple(path), data) if path[:1] == ["crio"] and len(path) > 2 else None
