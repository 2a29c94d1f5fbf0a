"""Merging crio.conf and its crio.conf.d drop-ins exactly as CRI-O does.

CRI-O decodes each file into the same struct in order (main file, then every regular file of
the drop-in directory, walked recursively in lexical order): a later scalar or array replaces
the earlier one, `storage_option` is appended without duplicates, and an entry of
`[crio.runtime.runtimes.NAME]` or `[crio.runtime.workloads.NAME]` that a later file defines
again replaces the earlier entry whole (cri-o/cri-o#8307).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crio_py.config.diagnostics import make
from crio_py.config.locate import Reporter
from crio_py.config.source import Source
from crio_py.config.walk import table_name

REPLACED_WHOLE = (("crio", "runtime", "runtimes"), ("crio", "runtime", "workloads"))


def dropin_files(directory: Path) -> list[Path]:
    """Every regular file below a drop-in directory, in CRI-O's lexical walk order."""
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.rglob("*") if p.is_file()), key=lambda p: str(p))


def merge_sources(sources: Sequence[Source], reporter: Reporter | None = None) -> dict[str, Any]:
    """The configuration CRI-O builds from these files, in order."""
    merged: dict[str, Any] = {}
    owners: dict[tuple[str, ...], Source] = {}
    for source in sources:
        _merge_table(merged, source.data, (), source, owners, reporter)
        for table in REPLACED_WHOLE:
            for name in _table_at(source.data, table):
                owners[(*table, name)] = source
    return merged


def _table_at(data: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        value = data.get(key)
        if not isinstance(value, dict):
            return {}
        data = value
    return data


def _merge_table(
    into: dict[str, Any],
    data: dict[str, Any],
    path: tuple[str, ...],
    source: Source,
    owners: dict[tuple[str, ...], Source],
    reporter: Reporter | None,
) -> None:
    for key, value in data.items():
        key_path = (*path, key)
        if path in REPLACED_WHOLE and isinstance(value, dict):
            previous = into.get(key)
            if isinstance(previous, dict) and reporter is not None:
                _warn_replaced(reporter, key_path, previous, value, owners.get(key_path), source)
            into[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge_table(into[key], value, key_path, source, owners, reporter)
        elif key_path == ("crio", "storage_option") and isinstance(value, list):
            earlier = into.get(key, [])
            into[key] = [*earlier, *(v for v in value if v not in earlier)]
        else:
            into[key] = copy.deepcopy(value)


def _warn_replaced(
    reporter: Reporter,
    path: tuple[str, ...],
    previous: dict[str, Any],
    current: dict[str, Any],
    previous_source: Source | None,
    source: Source,
) -> None:
    lost = [key for key in previous if key not in current]
    if not lost:
        return
    where = previous_source.path if previous_source else "an earlier file"
    line, column = source.position(path)
    keys = ", ".join(f"`{k}`" for k in lost)
    reporter.diagnostics.append(
        make(
            "dropin-replaces-table",
            f"[{table_name(path)}] replaces the whole table from {where}, so {keys} set there "
            "are lost (CRI-O does not merge the fields of a handler)",
            file=source.path,
            line=line,
            column=column,
            key=".".join(path),
            hint="repeat those keys here, or set inherit_default_runtime = true (CRI-O 1.32+)",
        )
    )
