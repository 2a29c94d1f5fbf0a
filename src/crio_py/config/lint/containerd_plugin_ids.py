"""containerd plugin ids: short version 1 names, foreign ids, unknown and unavailable plugins,
and keys that config versions 3 and 4 moved between plugin tables."""

from __future__ import annotations

import difflib
from typing import Any

from crio_py.config.containerd import rules as cr
from crio_py.config.containerd.models import MODELS
from crio_py.config.diagnostics import Severity
from crio_py.config.source import KeyPath
from crio_py.config.walk import Walker, table_name


def unknown_hook(version: int) -> Any:
    def hook(walker: Walker, path: KeyPath, key: str, value: Any) -> bool:
        if len(path) == 2 and path[0] == "plugins":
            _classify_plugin(walker, path, key, version)
            return True
        if version == 4 and len(path) == 1 and key in cr.V4_MOVED_TABLES:
            walker.report(
                "misplaced-key",
                path,
                f"config version 4 moved [{key}] into [plugins."
                f"{cr.V4_MOVED_TABLES[key]}]; the top-level table is ignored",
                hint=f"move the keys to {cr.V4_MOVED_TABLES[key]}",
            )
            return True
        if version == 4 and path[0] == "debug" and key in ("address", "uid", "gid"):
            walker.report(
                "misplaced-key",
                path,
                f"config version 4 moved the debug socket `{key}` into "
                '[plugins."io.containerd.server.v1.debug"]',
                hint="move it to io.containerd.server.v1.debug",
            )
            return True
        if version >= 3 and path == ("plugins", cr.CRI_V2, "sandbox_image"):
            walker.report(
                "misplaced-key",
                path,
                "in config version 3 the sandbox image is `pinned_images.sandbox` in "
                f'[plugins."{cr.CRI_IMAGES}"]; `sandbox_image` here is ignored and '
                "the default pause image is used",
                hint=f'set [plugins."{cr.CRI_IMAGES}".pinned_images] sandbox = …',
            )
            return True
        return False

    return hook


def _classify_plugin(walker: Walker, path: KeyPath, plugin_id: str, version: int) -> None:
    target = walker.target
    if version in (0, 1):
        if "." in plugin_id and target.version < (2, 0):
            walker.report(
                "invalid-plugin-id",
                path,
                f"[{table_name(path)}]: a version 1 file names plugins by short ids, so "
                f"{target.label} ignores this table",
                severity=Severity.WARNING,
                hint="set `version = 2` to use full plugin ids",
            )
        elif "." not in plugin_id:
            _unknown_plugin(walker, path, cr.short_id_uri(plugin_id), shown=plugin_id)
        return
    if "." not in plugin_id:
        _short_plugin_name(walker, path, plugin_id, version)
        return
    if not plugin_id.startswith("io.containerd."):
        _foreign_plugin_id(walker, path, plugin_id)
        return
    info = cr.PLUGINS.get(plugin_id)
    if info is None:
        _unknown_plugin(walker, path, plugin_id, shown=plugin_id)
        return
    _plugin_availability(walker, path, plugin_id, info, version)


def check_modelled_plugins(walker: Walker, data: dict[str, Any], version: int) -> None:
    """Availability of the plugins the model knows (the unknown ones went through the hook)."""
    plugins = data.get("plugins")
    model = MODELS[version].model_fields["plugins"].annotation
    if not isinstance(plugins, dict) or not isinstance(model, type):
        return
    aliases = {info.alias for info in model.model_fields.values()}
    for plugin_id in plugins:
        uri = cr.short_id_uri(plugin_id) if version in (0, 1) else plugin_id
        if plugin_id in aliases and uri in cr.PLUGINS:
            _plugin_availability(walker, ("plugins", plugin_id), uri, cr.PLUGINS[uri], version)


def _short_plugin_name(walker: Walker, path: KeyPath, name: str, version: int) -> None:
    target = walker.target
    uri = cr.short_id_uri(name)
    where = uri
    if name == "cri" and version >= 3:
        where = f"{cr.CRI_RUNTIME}, {cr.CRI_IMAGES} and {cr.CRI_V2}"
    if target.version < (2, 0):
        consequence = (
            f"{target.label} refuses to start: invalid plugin key URI (expected io.containerd.x.vx)"
        )
        severity = Severity.ERROR
    else:
        consequence = f"{target.label} does not recognise the table and ignores it"
        severity = Severity.WARNING
    walker.report(
        "short-plugin-name",
        path,
        f"[plugins.{name}] is a version 1 short plugin name, but this file is version "
        f"{version}; {consequence}",
        severity=severity,
        hint=f'use [plugins."{where}"]'
        if "," not in where
        else f'split it into [plugins."…"] tables: {where}',
    )


def _foreign_plugin_id(walker: Walker, path: KeyPath, plugin_id: str) -> None:
    target = walker.target
    if target.version < (2, 0) and (target.version >= (1, 7) or plugin_id.count(".") < 3):
        walker.report(
            "invalid-plugin-id",
            path,
            f'"{plugin_id}" is not an io.containerd.<type>.<version>.<name> plugin id; '
            f"{target.label} refuses to start on it (invalid plugin key URI)",
            hint="plugin ids look like io.containerd.grpc.v1.cri; configure external "
            "plugins under [proxy_plugins]",
        )
        return
    walker.report(
        "third-party-plugin",
        path,
        f'[plugins."{plugin_id}"] is not a built-in plugin of {target.label}; '
        "it is kept as it is and has effect only if such a plugin is loaded",
    )


def _unknown_plugin(walker: Walker, path: KeyPath, plugin_id: str, *, shown: str) -> None:
    close = difflib.get_close_matches(plugin_id, list(cr.PLUGINS), n=1, cutoff=0.9)
    if close:
        walker.report(
            "unknown-key",
            path,
            f'unknown plugin "{shown}"; {walker.target.label} ignores this table',
            hint=f'did you mean "{close[0]}"?',
        )
        return
    walker.report(
        "third-party-plugin",
        path,
        f'[plugins."{shown}"] is not a built-in plugin of {walker.target.label}; it '
        "is kept as it is and has effect only if such a plugin is loaded",
    )


def _plugin_availability(
    walker: Walker, path: KeyPath, plugin_id: str, info: cr.PluginInfo, version: int
) -> None:
    target = walker.target
    note = f" ({info.note})" if info.note else ""
    if target.version < info.added:
        walker.report(
            "unavailable-plugin",
            path,
            f'{target.label} has no plugin "{plugin_id}" (added in containerd '
            f"{info.added[0]}.{info.added[1]}); the table is unused",
        )
        return
    if info.removed is None or target.version < info.removed:
        return
    if info.renamed_to and version <= 2:
        return  # the version 2 → 3 migration renames it
    if info.renamed_to:
        walker.report(
            "unavailable-plugin",
            path,
            f'"{plugin_id}" was renamed "{info.renamed_to}" in containerd 2.0; '
            f"{target.label} ignores this table",
            hint=f'use [plugins."{info.renamed_to}"]',
        )
        return
    walker.report(
        "unavailable-plugin",
        path,
        f'"{plugin_id}" was removed in containerd {info.removed[0]}.{info.removed[1]}'
        f"{note}; {target.label} does not have it and silently ignores this table",
    )


# -- semantic checks -------------------------------------------------------------------------------
