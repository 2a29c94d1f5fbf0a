"""Shared pieces of the CRI-O ⇄ containerd conversion: key paths, the output tree, the
context that records changes, and the not-carried bookkeeping."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import tomlkit
from tomlkit.container import Container
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Comment, Item, Table, Trivia

from crio_py.config.containerd.cri import (
    RUNC_SHIM,
)
from crio_py.config.crio.settings import UNPRIVILEGED_ICMP, UNPRIVILEGED_PORTS
from crio_py.config.diagnostics import Diagnostic, Severity
from crio_py.config.migrate.report import Action, MigrationResult
from crio_py.config.source import Source
from crio_py.config.walk import table_name
from crio_py.errors import ConfigReadError

Key = tuple[str, ...]

# -- where things live ------------------------------------------------------------------------

API: Key = ("crio", "api")
RUN: Key = ("crio", "runtime")
HANDLERS: Key = (*RUN, "runtimes")
IMAGE: Key = ("crio", "image")
NET: Key = ("crio", "network")
METRICS: Key = ("crio", "metrics")
TRACING: Key = ("crio", "tracing")
STATS: Key = ("crio", "stats")
CNRI: Key = ("crio", "nri")

SRV: Key = ("plugins", "io.containerd.grpc.v1.cri")  # the whole CRI plugin in version 2
RT: Key = ("plugins", "io.containerd.cri.v1.runtime")
IMG: Key = ("plugins", "io.containerd.cri.v1.images")
NRI_PLUGIN: Key = ("plugins", "io.containerd.nri.v1.nri")
TASKS: Key = ("plugins", "io.containerd.service.v1.tasks-service")
OTEL: Key = ("plugins", "io.containerd.internal.v1.tracing")
RUNTIMES: Key = (*RT, "containerd", "runtimes")
_CRI_IDS = {SRV[1], RT[1], IMG[1]}
MAPPED_PLUGINS = {*_CRI_IDS, NRI_PLUGIN[1], TASKS[1], OTEL[1]}

GRPC_DEFAULT_CRIO = 83886080
PORTS_SYSCTL = UNPRIVILEGED_PORTS
ICMP_SYSCTL = UNPRIVILEGED_ICMP
SHIM_FILE = re.compile(r"containerd-shim-([\w.-]+)-v2$")
SHIM_TYPE = re.compile(r"^io\.containerd\.([\w.-]+)\.v2$")
RUNC_TYPES = ("", RUNC_SHIM, "io.containerd.runc.v1")
STORAGE_TO_SNAPSHOTTER = {"overlay": "overlayfs", "vfs": "native", "btrfs": "btrfs", "zfs": "zfs"}
SNAPSHOTTER_TO_STORAGE = {v: k for k, v in STORAGE_TO_SNAPSHOTTER.items()}
EMPTY_IS_DEFAULT = {
    "stream_idle_timeout",
    "nri_plugin_registration_timeout",
    "nri_plugin_request_timeout",
    "plugin_registration_timeout",
    "plugin_request_timeout",
    "level",
    "log_level",
}

# Settings with the same meaning on both sides: (CRI-O key, containerd version 3 key, note).
SAME: tuple[tuple[Key, Key, str], ...] = (
    ((*API, "listen"), ("grpc", "address"), ""),
    ((*API, "stream_address"), (*SRV, "stream_server_address"), ""),
    ((*API, "stream_port"), (*SRV, "stream_server_port"), ""),
    ((*API, "stream_enable_tls"), (*SRV, "enable_tls_streaming"), ""),
    ((*API, "stream_tls_cert"), (*SRV, "x509_key_pair_streaming", "tls_cert_file"), ""),
    ((*API, "stream_tls_key"), (*SRV, "x509_key_pair_streaming", "tls_key_file"), ""),
    ((*API, "stream_idle_timeout"), (*SRV, "stream_idle_timeout"), ""),
    ((*RUN, "log_level"), ("debug", "level"), ""),
    ((*RUN, "selinux"), (*RT, "enable_selinux"), ""),
    ((*RUN, "cdi_spec_dirs"), (*RT, "cdi_spec_dirs"), ""),
    (
        (*RUN, "device_ownership_from_security_context"),
        (*RT, "device_ownership_from_security_context"),
        "",
    ),
    ((*RUN, "enable_criu_support"), (*RT, "enable_criu"), "containerd reads it from 2.2.7"),
    ((*RUN, "blockio_config_file"), (*TASKS, "blockio_config_file"), ""),
    ((*RUN, "rdt_config_file"), (*TASKS, "rdt_config_file"), ""),
    ((*NET, "network_dir"), (*RT, "cni", "conf_dir"), ""),
    ((*CNRI, "nri_listen"), (*NRI_PLUGIN, "socket_path"), ""),
    ((*CNRI, "nri_plugin_dir"), (*NRI_PLUGIN, "plugin_path"), ""),
    ((*CNRI, "nri_plugin_config_dir"), (*NRI_PLUGIN, "plugin_config_path"), ""),
    ((*CNRI, "nri_plugin_registration_timeout"), (*NRI_PLUGIN, "plugin_registration_timeout"), ""),
    ((*CNRI, "nri_plugin_request_timeout"), (*NRI_PLUGIN, "plugin_request_timeout"), ""),
    ((*CNRI, "nri_disable_connections"), (*NRI_PLUGIN, "disable_connections"), ""),
)

# -- shared machinery -------------------------------------------------------------------------

MISSING: Any = object()


def _get(data: Any, path: Key) -> Any:
    """The value at a key path of plain nested dicts, or MISSING."""
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return MISSING
        data = data[part]
    return data


def key_name(path: Key) -> str:
    return table_name(path)


def str_key(path: tuple[str | int, ...]) -> Key:
    """A key path of names only (the views give str | int paths)."""
    return tuple(str(part) for part in path)


@dataclass(frozen=True)
class Notes:
    """The comments that went with a key in its source file."""

    above: tuple[str, ...] = ()
    inline: str = ""


NO_NOTES = Notes()


def notes_for(sources: Sequence[Source], path: Key) -> Notes:
    """Comment lines right above a key (or table header) and its inline comment, from the
    last file that sets it."""
    for source in reversed(sources):
        position = source.positions.get(path)
        if position is None or _get(source.data, path) is MISSING:
            continue
        lines = source.text.splitlines()
        if position.line > len(lines):
            return NO_NOTES
        return Notes(_comments_above(lines, position.line), _inline(lines[position.line - 1]))
    return NO_NOTES


def _comments_above(lines: list[str], line: int) -> tuple[str, ...]:
    found: list[str] = []
    index = line - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        found.append(lines[index].strip())
        index -= 1
    return tuple(reversed(found))


def _inline(line: str) -> str:
    """The inline comment of a one-line `key = value  # comment` (empty when not simple)."""
    try:
        document = tomlkit.parse(line.strip())
    except (TOMLKitError, ValueError):
        return ""
    items = [item for key, item in document.body if key is not None]
    while items:
        item = items[0]
        if item.trivia.comment:
            return str(item.trivia.comment)
        items = [i for k, i in item.value.body if k is not None] if isinstance(item, Table) else []
    return ""


@dataclass
class Leaf:
    value: Any
    notes: Notes = NO_NOTES
    change: int | None = None  # index of the Change that wrote it


class OutTree:
    """The output document as a tree of dicts (tables) and Leaf values, in insertion order."""

    def __init__(self, skeleton: Sequence[Key]) -> None:
        self.root: dict[str, Any] = {}
        self.table_notes: dict[Key, Notes] = {}
        for path in skeleton:
            self._node(path)

    def _node(self, path: Key) -> dict[str, Any]:
        node = self.root
        for part in path:
            node = node.setdefault(part, {})
        return node

    def put(
        self, path: Key, value: Any, notes: Notes = NO_NOTES, change: int | None = None
    ) -> None:
        """Set a key (the tables above it are created)."""
        self._node(path[:-1])[path[-1]] = Leaf(value, notes, change)

    def leaf(self, path: Key) -> Leaf | None:
        found = _get(self.root, path)
        return found if isinstance(found, Leaf) else None

    def table(self, path: Key) -> dict[str, Any] | None:
        found = _get(self.root, path)
        return found if isinstance(found, dict) else None

    def remove(self, path: Key) -> None:
        parent = _get(self.root, path[:-1])
        if isinstance(parent, dict):
            parent.pop(path[-1], None)

    def leaves(self, node: dict[str, Any] | None = None, path: Key = ()) -> Iterator[Key]:
        for key, value in list((self.root if node is None else node).items()):
            if isinstance(value, Leaf):
                yield (*path, key)
            else:
                yield from self.leaves(value, (*path, key))

    def render(self, header: Sequence[str]) -> str:
        document = tomlkit.document()
        for line in header:
            document.add(tomlkit.comment(line))
        self._fill(document, self.root, ())
        return tomlkit.dumps(document)

    def _fill(self, container: Container | Table, node: dict[str, Any], path: Key) -> None:
        for key, value in node.items():
            if isinstance(value, Leaf):
                _add_leaf(container, key, value)
        for key, value in node.items():
            if isinstance(value, dict) and _has_leaves(value):
                direct = any(isinstance(v, Leaf) for v in value.values())
                table = tomlkit.table(is_super_table=not direct)
                if direct:
                    for line in self.table_notes.get((*path, key), NO_NOTES).above:
                        table.add(_comment(line))
                self._fill(table, value, (*path, key))
                container.add(key, table)


def _has_leaves(node: dict[str, Any]) -> bool:
    return any(isinstance(v, Leaf) or _has_leaves(v) for v in node.values())


def _comment(text: str) -> Comment:
    return Comment(Trivia(comment_ws="", comment=text, trail="\n"))


def _add_leaf(container: Container | Table, key: str, leaf: Leaf) -> None:
    for line in leaf.notes.above:
        container.add(_comment(line))
    item: Item = tomlkit.item(leaf.value)
    if isinstance(leaf.value, list) and len(leaf.value) > 1:
        item.multiline(True)  # type: ignore[attr-defined]
    if leaf.notes.inline:
        item.comment(leaf.notes.inline)
    container.add(key, item)


@dataclass
class ConvertContext:
    """One conversion: the merged input, the output being built and the report."""

    sources: Sequence[Source]
    data: dict[str, Any]
    result: MigrationResult
    out: OutTree
    used: set[Key] = field(default_factory=set)

    def is_set(self, path: Key) -> bool:
        return _get(self.data, path) is not MISSING

    def raw(self, path: Key) -> Any:
        return _get(self.data, path)

    def record(
        self, action: Action, source: Key, to: str | None, reason: str = "", *, mark: bool = True
    ) -> int:
        """Add a Change; `mark` counts the source key (a whole table too) as handled."""
        self.result.add(action, key_name(source), to, reason)
        if mark:
            self.used.add(source)
        return len(self.result.changes) - 1

    def carry(self, action: Action, source: Key, target: Key, value: Any, reason: str = "") -> None:
        """Write one setting the input set, with its comments."""
        change = self.record(action, source, key_name(target), reason)
        self.out.put(target, value, notes_for(self.sources, source), change)

    def convert(self, source: Key, targets: dict[Key, Any], reason: str) -> None:
        """Write the settings one input key turns into."""
        to = ", ".join(key_name(t) for t in targets)
        change = self.record("converted", source, to, reason)
        notes = notes_for(self.sources, source)
        for target, value in targets.items():
            self.out.put(target, value, notes, change)
            notes = NO_NOTES

    def write(self, source: Key, target: Key, value: Any, reason: str) -> None:
        """Write a value the input left implicit, because the two daemons' defaults differ."""
        self.result.add("written", key_name(source), key_name(target), reason)
        self.out.put(target, value, change=len(self.result.changes) - 1)

    def skip(self, source: Key, reason: str) -> None:
        """Report a key (or a whole table) that has no equivalent."""
        self.record("not-carried", source, None, reason)

    def consume(self, *paths: Key) -> None:
        """Mark keys as handled by a change recorded elsewhere."""
        self.used.update(paths)

    def is_used(self, path: Key) -> bool:
        return any(path[:end] in self.used for end in range(1, len(path) + 1))


def key_matches(pattern: Key, path: Key, *, exact: bool = False) -> bool:
    """`pattern` is a prefix of `path` (or equals it); * is any name, <cri> a CRI plugin id."""
    if len(pattern) > len(path) or (exact and len(pattern) != len(path)):
        return False
    return all(
        want == got or want == "*" or (want == "<cri>" and got in _CRI_IDS)
        for want, got in zip(pattern, path, strict=False)
    )


def _leaves(data: dict[str, Any], path: Key, units: Sequence[Key]) -> Iterator[Key]:
    """Every key path the input sets; a table matching a unit pattern counts as one key."""
    for key, value in data.items():
        here = (*path, key)
        if not isinstance(value, dict) or any(key_matches(u, here, exact=True) for u in units):
            yield here
        elif value:
            yield from _leaves(value, here, units)


def report_rest(ctx: ConvertContext, units: Sequence[Key], reason: Callable[[Key], str]) -> None:
    """Every key the input set that no mapping step used is not carried."""
    for path in _leaves(ctx.data, (), units):
        if not ctx.is_used(path):
            ctx.skip(path, reason(path))


def first_reason(table: Sequence[tuple[Key, str]], path: Key) -> str:
    return next((reason for pattern, reason in table if key_matches(pattern, path)), "")


def refuse_errors(
    sources: Sequence[Source],
    diagnostics: list[Diagnostic],
    resolved: frozenset[str] = frozenset(),
    *,
    force: bool = False,
) -> None:
    """Refuse input with lint errors, except those the conversion itself resolves (all, when
    forced: the caller reports them)."""
    errors = [d for d in diagnostics if d.severity is Severity.ERROR and d.code not in resolved]
    if errors and not force:
        where = sources[0].path if sources else "the configuration"
        # ConfigReadError (a ConfigError) so that `config migrate` reports it like bad input.
        raise ConfigReadError(
            f"{where}: the configuration has errors; fix them first (crio-py config lint)",
            errors,
        )


# == CRI-O → containerd ========================================================================


def put_table(ctx: ConvertContext, path: Key, table: dict[str, Any], change: int) -> None:
    for key, value in table.items():
        if isinstance(value, dict):
            put_table(ctx, (*path, key), value, change)
        else:
            ctx.out.put((*path, key), value, change=change)


def carry_or_write(ctx: ConvertContext, source: Key, target: Key, value: Any, written: str) -> None:
    if ctx.is_set(source):
        ctx.carry("moved", source, target, value)
    else:
        ctx.write(source, target, value, written)
