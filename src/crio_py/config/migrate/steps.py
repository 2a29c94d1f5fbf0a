"""`config migrate`: pick the migration for a file and a target, and write the results safely.

Same-format migrations (containerd config versions) edit the file in place, keeping comments;
cross-format ones (CRI-O ⇄ containerd) come from migrate/convert/. Nothing is written until every
output is known to be writable, so bad input never leaves a half-done migration.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from crio_py.config.containerd.view import config_version
from crio_py.config.diagnostics import Diagnostic, Severity
from crio_py.config.docker.lint import daemon_json_text
from crio_py.config.load import (
    LintOptions,
    LintResult,
    config_units,
    detect_format,
    imported_sources,
    lint_sources,
    read_source,
)
from crio_py.config.migrate.containerd import check_versions, migrate_containerd
from crio_py.config.migrate.convert import containerd_to_crio, crio_to_containerd
from crio_py.config.migrate.docker import migrate_daemon_json
from crio_py.config.migrate.report import Change, MigrationResult
from crio_py.config.rules import Target, newest
from crio_py.config.source import Source
from crio_py.errors import ConfigReadError
from crio_py.fsutil import atomic_write_text

TARGETS = ("containerd-v2", "containerd-v3", "containerd-v4", "crio", "crio-dropin")


@dataclass(frozen=True)
class MigrateRequest:
    """What `config migrate` was asked to do."""

    path: Path
    to: str | None = None
    hosts_dir: str | None = None
    forced_format: str | None = None
    force: bool = False  # migrate a file with errors, listing them in the report


def migrate(request: MigrateRequest) -> MigrationResult:
    """Migrate a config; ConfigReadError (with diagnostics) for input that cannot be migrated.

    One policy for every migration: a file with lint errors (judged by the release that reads
    it today) is refused unless `force`, and then each error is a line of the report."""
    docker = _daemon_json(request)
    if docker is not None:
        return docker
    sources = _read(request.path)
    kind = request.forced_format or detect_format(sources[0])
    if kind == "crio":
        errors = _errors(request, sources, "crio", newest("crio"))
        return _with_errors(_from_crio(sources, request.to or "containerd-v3", request), errors)
    if kind != "containerd":
        raise ConfigReadError(f"{request.path}: neither a containerd nor a CRI-O configuration")
    version = config_version(sources[0].data)
    to = request.to or f"containerd-v{max(version, 3)}"
    if to not in TARGETS:
        raise ConfigReadError(f"unknown target {to!r}; choose one of {', '.join(TARGETS)}")
    result = LintResult()
    imported = imported_sources(sources[0], result)
    if result.diagnostics:
        raise ConfigReadError(f"{request.path}: cannot read an imported file", result.diagnostics)
    today = Target("containerd", (1, 7)) if version < 3 else newest("containerd")
    if to in ("crio", "crio-dropin"):
        errors = _errors(request, [*sources, *imported], "containerd", newest("containerd"))
        converted = containerd_to_crio(
            [*sources, *imported], dropin=to == "crio-dropin", force=request.force
        )
        return _with_errors(converted, errors)
    check_versions(sources[0], int(to[-1]))
    errors = _errors(request, [*sources, *imported], "containerd", today)
    return _with_errors(migrate_containerd(sources[0], int(to[-1]), request.hosts_dir), errors)


# The conversion to CRI-O settles runtimes that disagree on SystemdCgroup itself.
_RESOLVED = frozenset({"cgroup-driver-mismatch"})


def _errors(
    request: MigrateRequest, sources: list[Source], kind: str, target: Target
) -> list[Diagnostic]:
    """The errors of the input; ConfigReadError listing them unless the request forces."""
    diagnostics, _ = lint_sources(sources, kind, target)
    errors = [d for d in diagnostics if d.severity is Severity.ERROR and d.code not in _RESOLVED]
    if errors and not request.force:
        raise ConfigReadError(
            f"{request.path}: the configuration has errors ({target.label}); fix them, or "
            "pass --force to migrate it with the errors listed in the report",
            errors,
        )
    return errors


def _with_errors(result: MigrationResult, errors: list[Diagnostic]) -> MigrationResult:
    for error in errors:
        where = f"{Path(error.file).name}:{error.line}:{error.column}"
        reason = f"error[{error.code}] at {where}: {error.message}; migrated as it is (--force)"
        result.changes.insert(0, Change("kept", error.key or "(file)", None, reason))
    return result


def _daemon_json(request: MigrateRequest) -> MigrationResult | None:
    """Docker's daemon.json migrated, or None for any other file."""
    text = daemon_json_text(request.path, request.forced_format)
    if text is None:
        return None
    to = request.to or "containerd-v3"
    return migrate_daemon_json(request.path, text, to, request.hosts_dir)


def _from_crio(sources: list[Source], to: str, request: MigrateRequest) -> MigrationResult:
    if to != "containerd-v3":
        raise ConfigReadError(f"a CRI-O configuration migrates to containerd-v3, not {to}")
    return crio_to_containerd(sources, force=request.force)


def _read(path: Path) -> list[Source]:
    result = LintResult()
    units = config_units(path, LintOptions()) if path.exists() else [[path]]
    files = units[0] if units else []
    sources = [s for s in (read_source(f, result) for f in files) if s is not None]
    if result.diagnostics or not sources:
        raise ConfigReadError(f"{path}: cannot read the configuration", result.diagnostics)
    return sources


def write_hosts_files(result: MigrationResult) -> list[Path]:
    """Write the hosts.toml files of a migration; refuses, before writing anything, to
    overwrite a different hosts.toml."""
    hosts = {Path(result.hosts_dir) / name: text for name, text in result.hosts_files.items()}
    clashes = [p for p, text in hosts.items() if p.exists() and p.read_text() != text]
    if clashes:
        raise ConfigReadError(
            "these hosts.toml files exist with other content: " + ", ".join(map(str, clashes))
        )
    for hosts_path, text in hosts.items():
        atomic_write_text(hosts_path, text)
    return list(hosts)


def write_in_place(path: Path, result: MigrationResult) -> list[Path]:
    """Write the migrated file (keeping PATH.bak) and its hosts.toml files; return what was
    written."""
    written = write_hosts_files(result)
    if result.text != path.read_text(encoding="utf-8"):
        backup = path.with_name(path.name + ".bak")
        shutil.copy2(path, backup)
        atomic_write_text(path, result.text, mode=path.stat().st_mode & 0o777)
        written += [backup, path]
    return written
