"""Lint containerd config.toml: config versions, imports, and the walk of each file; plugin ids
and semantic checks live in lint/containerd_plugin_ids.py and lint/containerd_checks.py."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from crio_py.config.containerd import rules as cr
from crio_py.config.containerd.models import MODELS, ContainerdConfig
from crio_py.config.containerd.view import config_version, max_config_version
from crio_py.config.diagnostics import Diagnostic, make
from crio_py.config.lint.containerd_checks import check_semantics
from crio_py.config.lint.containerd_plugin_ids import check_modelled_plugins, unknown_hook
from crio_py.config.locate import Reporter
from crio_py.config.rules import Target
from crio_py.config.source import KeyPath, Source
from crio_py.config.walk import Walker


def lint_containerd(
    sources: Sequence[Source], target: Target
) -> tuple[list[Diagnostic], ContainerdConfig | None]:
    """Lint a config file and the files it imports (given in load order).

    Each file is checked on its own; the semantic checks see the merged configuration and
    point at the file that set the key.
    """
    reporter = Reporter(target, list(sources))
    version = config_version(sources[0].data)
    if not _check_version(reporter, version, target):
        return reporter.diagnostics, None
    for index, source in enumerate(sources):
        own = config_version(source.data) if "version" in source.data else version
        if index and own not in range(1, version + 1):
            line, column = source.position(("version",), value=True)
            reporter.diagnostics.append(
                make(
                    "unsupported-version",
                    f"an imported file may not have a higher config version ({own}) than the "
                    f"file that imports it ({version})",
                    file=source.path,
                    line=line,
                    column=column,
                    key="version",
                )
            )
            continue
        data = {"version": own, **source.data}
        walker = Walker(source, target, cr.KEY_RULES[own], unknown_hook=unknown_hook(own))
        walker.run(MODELS[own], data)
        check_modelled_plugins(walker, data, own)
        reporter.diagnostics.extend(walker.diagnostics)
    merged = merge_imports([s.data for s in sources], target)
    quiet = Walker(Source("<merged>", "", merged), target, cr.KEY_RULES[version])
    config: ContainerdConfig = quiet.run(MODELS[version], {**merged, "version": version})
    check_semantics(reporter, config)
    return reporter.diagnostics, config


def merge_imports(datas: Sequence[dict[str, Any]], target: Target) -> dict[str, Any]:
    """Merge a config with its imports as containerd does (reference §1.1).

    A later non-empty scalar wins; lists are appended (containerd 2.x drops duplicates); a
    `[plugins.X]` table of a later file replaces the earlier one whole on containerd 1.x and
    is merged key by key on 2.x.
    """
    merged: dict[str, Any] = {}
    for data in datas:
        _merge_into(merged, copy.deepcopy(data), (), target.version >= (2, 0))
    return merged


def _merge_into(into: dict[str, Any], data: dict[str, Any], path: KeyPath, v2: bool) -> None:
    for key, value in data.items():
        current = into.get(key)
        if isinstance(value, dict) and isinstance(current, dict) and (v2 or path != ("plugins",)):
            _merge_into(current, value, (*path, key), v2)
        elif isinstance(value, list) and isinstance(current, list):
            into[key] = current + [v for v in value if not (v2 and v in current)]
        elif value not in ("", 0, False) or key not in into:
            into[key] = value


def _check_version(reporter: Reporter, version: int, target: Target) -> bool:
    path: KeyPath = ("version",)
    if version not in (0, 1, 2, 3, 4):
        reporter.report("unsupported-version", path, "`version` must be 1, 2, 3 or 4", value=True)
        return False
    newest = max_config_version(target)
    if version > newest:
        reporter.report(
            "unsupported-version",
            path,
            f"{target.label} reads config versions up to {newest}, "
            f"and refuses to start on version {version}",
            value=True,
            hint=f"pick a newer --target, or rewrite the file as config version {newest}",
        )
        return False
    if version in (0, 1):
        _report_version_1(reporter, target)
    elif version < newest and newest >= 3 and version == 2:
        reporter.report(
            "config-migrated",
            path,
            f"{target.label} migrates a version 2 config to version {newest} in "
            "memory on every start; the CRI plugin keys move to "
            f'[plugins."{cr.CRI_RUNTIME}"] and [plugins."{cr.CRI_IMAGES}"]',
            value=True,
            hint=f"rewrite the file as config version {newest} to skip the migration: "
            f"`crio-py config migrate --to containerd-v{newest} --write PATH`",
        )
    return True


def _report_version_1(reporter: Reporter, target: Target) -> None:
    path: KeyPath = ("version",)
    if target.version < (2, 0):
        message = f"config version 1 is deprecated; {target.label} logs a warning at start"
    elif target.version < (2, 3):
        message = (
            f"{target.label} migrates a version 1 file straight to version 3 and loses "
            "the settings under [plugins.cri]"
        )
    else:
        message = f"{target.label} migrates a version 1 config on every start"
    reporter.report(
        "config-migrated",
        path,
        message,
        hint="`crio-py config migrate --write PATH` rewrites it with full plugin ids",
    )
