"""`config migrate` for containerd: config version 1 → 2 → 3 → 4, on the tomlkit document.

The steps follow containerd's own migrations (reference §9) and do better where upstream
loses settings: the deprecated `default_runtime` / `untrusted_workload_runtime` tables become
`runtimes.default` / `runtimes.untrusted`; runtimes of the removed io.containerd.runtime.v1.linux
become runc v2 runtimes that keep their binary, root, cgroup driver and pivot setting;
inline registry mirrors and TLS settings become hosts.toml files (migrate/hosts.py). Keys are
moved, never re-created from defaults, so the output says only what the input said, with its
comments.
"""

from __future__ import annotations

import tomlkit
from tomlkit.items import Comment, Item, Table, Whitespace
from tomlkit.toml_document import TOMLDocument

from crio_py.config.containerd import rules as cr
from crio_py.config.containerd.view import config_version
from crio_py.config.migrate.hosts import registry_to_hosts
from crio_py.config.migrate.report import MigrationResult
from crio_py.config.migrate.runtimes import (
    V1_LINUX,
    convert_legacy_runtimes,
)
from crio_py.config.source import Source
from crio_py.config.tomledit import (
    HeaderComments,
    Layout,
    drop,
    ensure_table,
    entries,
    merge_into,
    move_keys,
    plain,
    put,
    put_like,
    table_at,
)
from crio_py.errors import ConfigReadError

_SERVER_KEYS = set(cr.CRI_SERVER_KEYS)
_IMAGE_KEYS = {
    "registry", "image_decryption", "max_concurrent_downloads", "image_pull_progress_timeout",
    "image_pull_with_sync_fs", "stats_collect_period",
}  # fmt: skip
_IMAGE_CONTAINERD_KEYS = {"snapshotter", "disable_snapshot_annotations", "discard_unpacked_layers"}
_RENAMED_PLUGINS = {
    "io.containerd.monitor.v1.cgroups": "io.containerd.monitor.task.v1.cgroups",
    "io.containerd.internal.v1.restart": "io.containerd.monitor.container.v1.restart",
}


def migrate_containerd(source: Source, to_version: int, hosts_dir: str | None) -> MigrationResult:
    """Migrate a containerd config to `to_version`; hosts.toml files go under `hosts_dir`."""
    version = check_versions(source, to_version)
    result = MigrationResult(f"containerd-v{version}", f"containerd-v{to_version}", "")
    doc = tomlkit.parse(source.text)
    comments = HeaderComments()
    comments.collect(doc)
    layout = Layout()
    layout.record(doc)
    if version < to_version:
        _rebuild_plugins(doc, {})  # one table per plugin, however the file declared it
    if version == 1 and to_version >= 2:
        _v1_to_v2(doc, result)
    if version <= 2 and to_version >= 3:
        _v2_to_v3(doc, result, comments)
    if version <= 3 and to_version >= 4:
        _v3_to_v4(doc, result, comments)
    if to_version >= 3:
        _drop_plugin_dir(doc, result)  # a version 3 file of containerd 2.0 has one too
    images = (cr.CRI_V2,) if to_version == 2 else (cr.CRI_IMAGES,)
    registry_to_hosts(doc, ("plugins", *images, "registry"), hosts_dir, result)
    comments.apply()
    layout.apply(doc)
    text = tomlkit.dumps(doc)
    result.text = text if text.endswith("\n") or not text else text + "\n"
    return result


def check_versions(source: Source, to_version: int) -> int:
    """The file's config version; ConfigReadError unless it can be migrated to `to_version`."""
    version = config_version(source.data)
    if version not in (1, 2, 3, 4):
        raise ConfigReadError(f"{source.path}: unknown config version {source.data['version']!r}")
    if version > to_version:
        raise ConfigReadError(
            f"{source.path}: config version {version} cannot be migrated down to {to_version}"
        )
    return version


def _set_version(doc: TOMLDocument, version: int, result: MigrationResult) -> None:
    if "version" in doc:
        doc["version"] = version
    else:
        first_key = next((i for i, (key, _) in enumerate(doc.body) if key is not None), 0)
        doc._insert_at(first_key, "version", version)
    result.add("converted", "version", f"version = {version}")


def _rebuild_plugins(doc: TOMLDocument, replace: dict[str, list[tuple[str, Item]]]) -> None:
    """Rewrite [plugins] in order: each id in `replace` becomes the (id, table) pairs given."""
    plugins = doc.get("plugins")
    if not isinstance(plugins, Table):
        return
    rebuilt = tomlkit.table(is_super_table=True)
    for key, item in entries(plugins):
        if key is None:
            if isinstance(item, Comment | Whitespace):
                rebuilt.add(item)
            continue
        for new_key, new_item in replace.get(key, [(key, item)]):
            existing = rebuilt.get(new_key)
            if isinstance(existing, Table) and isinstance(new_item, Table):
                merge_into(existing, new_item)  # a plugin table declared in pieces
            else:
                rebuilt.add(new_key, new_item)
    doc["plugins"] = rebuilt


# -- version 1 → 2 -----------------------------------------------------------------------------
def _v1_to_v2(doc: TOMLDocument, result: MigrationResult) -> None:
    plugins = doc.get("plugins")
    replace: dict[str, list[tuple[str, Item]]] = {}
    if isinstance(plugins, Table):
        short = {key for key, _ in entries(plugins) if key is not None and "." not in key}
        for key, item in entries(plugins):
            if key is None:
                continue
            uri = cr.short_id_uri(key)
            if "." in key and any(cr.short_id_uri(s) == key for s in short):
                replace[key] = []
                result.add(
                    "removed",
                    f"plugins.{key}",
                    None,
                    f"containerd 1.x ignores full plugin ids in a version 1 file; "
                    f"[plugins.{next(s for s in short if cr.short_id_uri(s) == key)}] "
                    "is the table it reads",
                )
            elif uri != key:
                replace[key] = [(uri, item)]
                result.add(
                    "renamed",
                    f"plugins.{key}",
                    f"plugins.{uri}",
                    ""
                    if key in cr.SHORT_IDS or key.endswith("-service")
                    else "not a known short id; renamed the way containerd does",
                )
    _rebuild_plugins(doc, replace)
    for list_key in ("disabled_plugins", "required_plugins"):
        names = doc.get(list_key)
        if isinstance(names, list) and any("." not in str(n) for n in names):
            doc[list_key] = [cr.short_id_uri(str(n)) for n in names]
            result.add("renamed", list_key, list_key, "short plugin ids written as full URIs")
    _set_version(doc, 2, result)


# -- version 2 → 3 -----------------------------------------------------------------------------
def _v2_to_v3(doc: TOMLDocument, result: MigrationResult, comments: HeaderComments) -> None:
    plugins = doc.get("plugins")
    replace: dict[str, list[tuple[str, Item]]] = {}
    if isinstance(plugins, Table):
        linux = plugins.get(V1_LINUX)
        cri = plugins.get(cr.CRI_V2)
        if isinstance(cri, Table):
            convert_legacy_runtimes(cri, linux if isinstance(linux, Table) else None, result)
            replace[cr.CRI_V2] = _split_cri(cri, plugins, result, comments)
        replace.update(_other_plugins_v3(plugins, result))
    _rebuild_plugins(doc, replace)
    _keep_1x_defaults(doc, result)
    _cni_bin_dirs(doc, result)
    _set_version(doc, 3, result)


_CRI_IDS = {"cri", cr.CRI_V2, cr.CRI_RUNTIME}


def _keep_1x_defaults(doc: TOMLDocument, result: MigrationResult) -> None:
    """containerd 2.0 lets containers bind low ports and ping, and reads CDI specs, by default;
    1.x, which reads a version 2 file, did not. Keep what the node does today (an operator
    who wants the new default deletes the lines); a node without the CRI plugin runs no
    pods, so nothing to keep."""
    disabled = {str(name) for name in plain(doc.get("disabled_plugins", []))}
    keys = ("enable_unprivileged_ports", "enable_unprivileged_icmp", "enable_cdi")
    if disabled & _CRI_IDS:
        for key in keys:
            reason = "not written: disabled_plugins turns the CRI plugin off"
            result.add("kept", f"plugins.{cr.CRI_RUNTIME}.{key}", None, reason)
        return
    runtime = ensure_table(doc, ("plugins", cr.CRI_RUNTIME))
    for key in (k for k in keys if k not in runtime):
        put(runtime, key, False)
        result.add(
            "written",
            f"plugins.{cr.CRI_RUNTIME}.{key}",
            "false",
            "the file leaves it unset, so containerd 1.x keeps it false; containerd 2.0 "
            "changed the default to true",
        )


def _drop_plugin_dir(doc: TOMLDocument, result: MigrationResult) -> None:
    """containerd 2.x loads no Go plugins from a directory; lint flags any plugin_dir."""
    if "plugin_dir" not in doc:
        return
    value = plain(drop(doc, "plugin_dir"))
    reason = "empty, so it loaded nothing" if not value else f"{value} is no longer read"
    result.add("removed", "plugin_dir", None, f"containerd 2.x loads no Go plugins ({reason})")


def _split_cri(
    cri: Table, plugins: Table, result: MigrationResult, comments: HeaderComments
) -> list[tuple[str, Item]]:
    """io.containerd.grpc.v1.cri → cri.v1.runtime, cri.v1.images and the streaming keys."""
    existing_rt, existing_img = plugins.get(cr.CRI_RUNTIME), plugins.get(cr.CRI_IMAGES)
    runtime = existing_rt if isinstance(existing_rt, Table) else tomlkit.table()
    images = existing_img if isinstance(existing_img, Table) else tomlkit.table()
    server = tomlkit.table()
    base = f"plugins.{cr.CRI_V2}"

    def route(key: str, item: Item) -> tuple[Table, str] | None:
        if key in _SERVER_KEYS:
            return server, key
        if key == "sandbox_image":
            result.add(
                "moved", f"{base}.sandbox_image", f"plugins.{cr.CRI_IMAGES}.pinned_images.sandbox"
            )
            return ensure_table(images, ("pinned_images",)), "sandbox"
        if key in _IMAGE_KEYS:
            result.add("moved", f"{base}.{key}", f"plugins.{cr.CRI_IMAGES}.{key}")
            return images, key
        if key == "containerd" and isinstance(item, Table):
            _split_containerd(item, images, result)
        if key in runtime:
            result.add(
                "removed",
                f"{base}.{key}",
                None,
                f"{cr.CRI_RUNTIME} already sets it; that value wins",
            )
            return None
        result.add("moved", f"{base}.{key}", f"plugins.{cr.CRI_RUNTIME}.{key}")
        return runtime, key

    move_keys(cri, route)
    new_tables = [t for t in (runtime, images, server) if len(t)]
    if new_tables:
        comments.transfer(cri, new_tables[0])
    pairs: list[tuple[str, Item]] = []
    for plugin_id, table, existed in (
        (cr.CRI_RUNTIME, runtime, existing_rt),
        (cr.CRI_IMAGES, images, existing_img),
        (cr.CRI_V2, server, None),
    ):
        if len(table) and existed is None:
            pairs.append((plugin_id, table))
    return pairs


def _split_containerd(containerd: Table, images: Table, result: MigrationResult) -> None:
    base = f"plugins.{cr.CRI_V2}.containerd"

    def route(key: str, item: Item) -> tuple[Table, str] | None:
        if key in _IMAGE_CONTAINERD_KEYS:
            result.add("moved", f"{base}.{key}", f"plugins.{cr.CRI_IMAGES}.{key}")
            return images, key
        return None

    move_keys(containerd, route)


def _other_plugins_v3(plugins: Table, result: MigrationResult) -> dict[str, list[tuple[str, Item]]]:
    replace: dict[str, list[tuple[str, Item]]] = {}
    for key, item in entries(plugins):
        if key in _RENAMED_PLUGINS:
            replace[key] = [(_RENAMED_PLUGINS[key], item)]
            result.add("renamed", f"plugins.{key}", f"plugins.{_RENAMED_PLUGINS[key]}")
        elif key in (V1_LINUX, "io.containerd.snapshotter.v1.aufs"):
            replace[key] = []
            reason = (
                "containerd 2.0 removed the v1 runtime; its runtimes now run on "
                "io.containerd.runc.v2"
                if key == V1_LINUX
                else "containerd 2.0 removed the aufs snapshotter; use overlayfs"
            )
            result.add("removed", f"plugins.{key}", None, reason)
    task = plugins.get("io.containerd.runtime.v2.task")
    if isinstance(task, Table) and "sched_core" in task:
        _move_sched_core(plugins, task, result)
    return replace


def _move_sched_core(plugins: Table, task: Table, result: MigrationResult) -> None:
    enabled = bool(plain(drop(task, "sched_core")))
    key = "plugins.io.containerd.runtime.v2.task.sched_core"
    if not enabled:
        result.add("removed", key, None, "false is the default")
        return
    manager = ensure_table(plugins, ("io.containerd.shim.v1.manager",))
    env = [*plain(manager.get("env", [])), "SCHED_CORE=1"]
    put(manager, "env", env)
    result.add("converted", key, "plugins.io.containerd.shim.v1.manager.env", "SCHED_CORE=1")


# -- version 3 → 4 -----------------------------------------------------------------------------
_V4_MOVES: dict[str, dict[str, tuple[str, str]]] = {
    "grpc": {
        "address": ("io.containerd.server.v1.grpc", "address"),
        "uid": ("io.containerd.server.v1.grpc", "uid"),
        "gid": ("io.containerd.server.v1.grpc", "gid"),
        "max_recv_message_size": ("io.containerd.server.v1.grpc", "max_recv_message_size"),
        "max_send_message_size": ("io.containerd.server.v1.grpc", "max_send_message_size"),
        "tcp_address": ("io.containerd.server.v1.grpc-tcp", "address"),
        "tcp_tls_ca": ("io.containerd.server.v1.grpc-tcp", "tls_ca"),
        "tcp_tls_cert": ("io.containerd.server.v1.grpc-tcp", "tls_cert"),
        "tcp_tls_key": ("io.containerd.server.v1.grpc-tcp", "tls_key"),
        "tcp_tls_common_name": ("io.containerd.server.v1.grpc-tcp", "tls_common_name"),
    },
    "ttrpc": {k: ("io.containerd.server.v1.ttrpc", k) for k in ("address", "uid", "gid")},
    "debug": {k: ("io.containerd.server.v1.debug", k) for k in ("address", "uid", "gid")},
    "metrics": {
        "address": ("io.containerd.server.v1.metrics", "address"),
        "grpc_histogram": ("io.containerd.metrics.v1.grpc-prometheus", "grpc_histogram"),
    },
}


def _v3_to_v4(doc: TOMLDocument, result: MigrationResult, comments: HeaderComments) -> None:
    for table_name, moves in _V4_MOVES.items():
        table = doc.get(table_name)
        if not isinstance(table, Table):
            continue
        _drop_unset(table, table_name, moves, result)

        def route(
            key: str,
            item: Item,
            moves: dict[str, tuple[str, str]] = moves,
            table_name: str = table_name,
        ) -> tuple[Table, str] | None:
            if key not in moves:
                return None
            plugin, new_key = moves[key]
            result.add("moved", f"{table_name}.{key}", f"plugins.{plugin}.{new_key}")
            return ensure_table(doc, ("plugins", plugin)), new_key

        move_keys(table, route)
        if not any(key is not None for key, _ in entries(table)):
            first_plugin = next(iter(moves.values()))[0]
            target = table_at(doc, ("plugins", first_plugin))
            if target is not None:
                comments.transfer(table, target)
            doc.remove(table_name)
    _ttrpc_beside_grpc(doc, result)
    _cni_bin_dirs(doc, result)
    _set_version(doc, 4, result)


def _drop_unset(
    table: Table, table_name: str, moves: dict[str, tuple[str, str]], result: MigrationResult
) -> None:
    """Keys at their zero value say nothing; moved, they would make empty server blocks."""
    for key in [k for k in moves if k in table and not plain(table[k])]:
        drop(table, key)
        result.add("removed", f"{table_name}.{key}", None, "unset (empty), the default")


def _ttrpc_beside_grpc(doc: TOMLDocument, result: MigrationResult) -> None:
    """containerd's migration puts the TTRPC socket next to the gRPC one; left to the default,
    a daemon with its own socket would take the host containerd's TTRPC socket."""
    grpc = table_at(doc, ("plugins", "io.containerd.server.v1.grpc"))
    ttrpc_id = "io.containerd.server.v1.ttrpc"
    ttrpc = table_at(doc, ("plugins", ttrpc_id))
    if grpc is None or not plain(grpc.get("address", "")) or (ttrpc and "address" in ttrpc):
        return
    address = f"{plain(grpc['address'])}.ttrpc"
    put(ensure_table(doc, ("plugins", ttrpc_id)), "address", address)
    reason = "containerd derives it from grpc.address when migrating to version 4"
    result.add("written", f"plugins.{ttrpc_id}.address", address, reason)


def _cni_bin_dirs(doc: TOMLDocument, result: MigrationResult) -> None:
    """containerd 2.1+ reads bin_dirs; a lone bin_dir becomes a one-entry list in its place."""
    cni = table_at(doc, ("plugins", cr.CRI_RUNTIME, "cni"))
    if cni is None or "bin_dir" not in cni:
        return
    key = f"plugins.{cr.CRI_RUNTIME}.cni.bin_dir"
    value = plain(cni["bin_dir"])
    if "bin_dirs" in cni or not value:
        drop(cni, "bin_dir")
        result.add("removed", key, None, "bin_dirs is set" if value else "empty")
        return
    put_like(cni, "bin_dir", "bin_dirs", [value])
    result.add("converted", key, f"{key}s", "bin_dir is deprecated since 2.1")
