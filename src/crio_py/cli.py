"""The `crio-py` command line: `config lint | migrate | default | schema | show` (argparse only)."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from crio_py import __version__
from crio_py.config.defaults import default_text
from crio_py.config.diagnostics import Diagnostic, has_errors
from crio_py.config.lint.report import render, render_text
from crio_py.config.load import FORMATS, LintOptions, lint_paths, load_settings
from crio_py.config.migrate.report import MigrationResult, render_report
from crio_py.config.migrate.steps import (
    TARGETS,
    MigrateRequest,
    migrate,
    write_hosts_files,
    write_in_place,
)
from crio_py.config.model import RuntimeSettings
from crio_py.config.render import settings_text
from crio_py.config.rules import Target, all_target_names, parse_target
from crio_py.config.schema import schema_for
from crio_py.ctl.args import add_ctl_parser
from crio_py.errors import ConfigError, ConfigReadError, CrioPyError
from crio_py.hostcheck import check_host
from crio_py.log import LEVELS

OUTPUTS = ("text", "json", "sarif")
Loaded = tuple[RuntimeSettings, list[Diagnostic]]
EXIT_OK, EXIT_ERRORS, EXIT_UNREADABLE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="crio-py", description=__doc__)
    parser.add_argument("--version", action="version", version=f"crio-py {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    config = commands.add_parser("config", help="lint, show and generate configurations")
    actions = config.add_subparsers(dest="action", required=True)
    _add_lint(actions)
    default = actions.add_parser("default", help="print a commented default configuration")
    default.add_argument("--format", choices=("containerd", "crio"), default="containerd")
    default.add_argument(
        "--version",
        type=int,
        choices=(2, 3, 4),
        default=3,
        help="containerd config version (default 3)",
    )
    schema = actions.add_parser("schema", help="print the JSON Schema of a format")
    schema.add_argument("--format", choices=FORMATS, default="containerd")
    schema.add_argument("--version", type=int, choices=(1, 2, 3, 4), default=3)
    _add_migrate(actions)
    show = actions.add_parser("show", help="print the effective settings")
    show.add_argument("path", nargs="?", type=Path, help="config file (default: embedded)")
    show.add_argument("--format", choices=("containerd", "crio"), help="input format")
    show.add_argument("--output", choices=("toml", "json"), default="toml")
    _add_serve(commands)
    add_ctl_parser(commands)
    return parser


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="run the CRI daemon")
    serve.add_argument(
        "--config", type=Path, metavar="PATH", help="config file (default: the embedded default)"
    )
    serve.add_argument(
        "--log-level", choices=tuple(LEVELS), help="default: the config's level, else info"
    )
    serve.add_argument(
        "--log-format", choices=("text", "json"), help="default: the config's format, else text"
    )


def _add_lint(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lint = actions.add_parser("lint", help="check configuration files")
    lint.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    lint.add_argument(
        "--format",
        action="append",
        default=[],
        metavar="FORMAT",
        choices=OUTPUTS + FORMATS,
        help="output text|json|sarif, and/or input containerd|crio|hosts (may be given twice)",
    )
    lint.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="DAEMON-VERSION",
        help=f"daemon release whose rules apply: {', '.join(all_target_names())} "
        "(default: the newest of each)",
    )
    lint.add_argument("--host", action="store_true", help="also check this machine")
    lint.add_argument("--strict", action="store_true", help="fail on warnings too")
    lint.add_argument(
        "--no-dropins", action="store_true", help="lint crio.conf without its crio.conf.d directory"
    )


def _add_migrate(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = actions.add_parser(
        "migrate", help="migrate a config to a newer containerd version or the other daemon"
    )
    migrate.add_argument("path", type=Path, metavar="PATH")
    migrate.add_argument(
        "--to",
        choices=TARGETS,
        help="containerd-v2|v3|v4, crio or crio-dropin (default: containerd-v3, "
        "or v4 for a version 4 file)",
    )
    migrate.add_argument(
        "--write",
        action="store_true",
        help="rewrite PATH in place (keeping PATH.bak) and write hosts.toml files",
    )
    migrate.add_argument("--diff", action="store_true", help="print a unified diff")
    migrate.add_argument(
        "--check", action="store_true", help="exit 1 when migrating would change something"
    )
    migrate.add_argument(
        "--format",
        action="append",
        default=[],
        metavar="FORMAT",
        choices=("text", "json", "containerd", "crio"),
        help="report as text|json, and/or force the input format",
    )
    migrate.add_argument(
        "--force",
        action="store_true",
        help="migrate a file with errors anyway; each error is listed in the report",
    )
    migrate.add_argument(
        "--hosts-dir",
        help="where hosts.toml files go (default: the config's "
        "config_path, else /etc/containerd/certs.d)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "ctl":
        from crio_py.ctl.main import run  # grpc is imported only when a CRI call is made

        return run(args)
    handlers = {
        "lint": _lint,
        "default": _default,
        "schema": _schema,
        "show": _show,
        "migrate": _migrate,
    }
    return handlers[args.action](args)


def _lint(args: argparse.Namespace) -> int:
    outputs = [f for f in args.format if f in OUTPUTS]
    inputs = [f for f in args.format if f in FORMATS]
    try:
        targets: dict[str, Target] = {t.daemon: t for t in map(parse_target, args.target)}
    except ValueError as exc:
        print(f"crio-py: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    options = LintOptions(
        targets=targets,
        forced_format=inputs[-1] if inputs else None,
        host_checker=check_host if args.host else None,
        dropins=not args.no_dropins,
    )
    result = lint_paths(args.paths, options)
    sys.stdout.write(render(result.diagnostics, outputs[-1] if outputs else "text"))
    if result.unreadable:
        return EXIT_UNREADABLE
    return EXIT_ERRORS if has_errors(result.diagnostics, strict=args.strict) else EXIT_OK


def _default(args: argparse.Namespace) -> int:
    sys.stdout.write(default_text(args.format, args.version))
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(schema_for(args.format, args.version), indent=2))
    return EXIT_OK


def _load(path: Path | None, forced_format: str | None = None) -> Loaded | int:
    """The settings and their warnings, or the exit status after printing why not."""
    try:
        return load_settings(path, forced_format)
    except ConfigReadError as exc:
        _print_failure(exc, exc.diagnostics)
        return EXIT_UNREADABLE
    except ConfigError as exc:
        _print_failure(exc, exc.diagnostics)
        return EXIT_ERRORS


def _show(args: argparse.Namespace) -> int:
    loaded = _load(args.path, args.format)
    if isinstance(loaded, int):
        return loaded
    settings, warnings = loaded
    if warnings:
        sys.stderr.write(render_text(warnings))
    sys.stdout.write(settings_text(settings, args.output))
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from crio_py import daemon, log  # grpc is imported only when the daemon runs

    loaded = _load(args.config)
    if isinstance(loaded, int):
        return loaded
    settings, warnings = loaded
    level = args.log_level or settings.log_level
    if level.lower() not in LEVELS:
        print(f"crio-py: unknown log level {level!r} in the config; using info", file=sys.stderr)
        level = "info"
    log.setup(level, args.log_format or settings.log_format)
    logger = logging.getLogger("crio_py.serve")
    for diagnostic in warnings:
        logger.warning("%s", daemon.format_diagnostic(diagnostic))
    try:
        asyncio.run(_serve_until_stopped(settings, args.config))
    except KeyboardInterrupt:  # before the signal handlers were installed
        return 130
    except CrioPyError as exc:
        logger.error("crio-py cannot serve: %s", exc)
        return EXIT_ERRORS
    return EXIT_OK


async def _serve_until_stopped(settings: RuntimeSettings, config_path: Path | None) -> None:
    from crio_py import daemon

    daemon.watch_children_by_pidfd()
    await daemon.serve(settings, config_path=config_path)


def _migrate(args: argparse.Namespace) -> int:
    report_format = next((f for f in reversed(args.format) if f in ("text", "json")), "text")
    forced = next((f for f in reversed(args.format) if f in ("containerd", "crio")), None)
    request = MigrateRequest(args.path, args.to, args.hosts_dir, forced, args.force)
    try:
        result = migrate(request)
        if args.write:
            _write_migration(args.path, result)
        elif result.hosts_files and not (args.check or args.diff):
            _write_hosts_beside_output(result, args.hosts_dir)
    except ConfigError as exc:  # unreadable, unknown format or version, or invalid input
        _print_failure(exc, exc.diagnostics)
        return EXIT_UNREADABLE
    report = render_report(result, report_format)
    if args.write or args.check:
        sys.stdout.write(report)
    else:
        sys.stdout.write(_diff(args.path, result.text) if args.diff else result.text)
        sys.stderr.write(report)
    return EXIT_ERRORS if args.check and result.changed else EXIT_OK


def _write_migration(path: Path, result: MigrationResult) -> None:
    if (
        not path.is_file()
        or result.target in ("crio", "crio-dropin")
        or result.source_format in ("crio", "docker")
    ):
        raise ConfigReadError(
            "--write rewrites one containerd file in place; redirect the "
            "output of a conversion to the new file instead"
        )
    for written in write_in_place(path, result):
        print(f"crio-py: wrote {written}", file=sys.stderr)


def _write_hosts_beside_output(result: MigrationResult, hosts_dir: str | None) -> None:
    """The migrated config goes to stdout; its hosts.toml files need a directory named."""
    if hosts_dir is None:
        raise ConfigReadError(
            f"the registry settings become hosts.toml files the output refers to "
            f"({result.hosts_dir}); pass --hosts-dir DIR to write them there"
        )
    for written in write_hosts_files(result):
        print(f"crio-py: wrote {written}", file=sys.stderr)


def _diff(path: Path, migrated: str) -> str:
    original = path.read_text(encoding="utf-8") if path.is_file() else ""
    lines = difflib.unified_diff(
        original.splitlines(keepends=True),
        migrated.splitlines(keepends=True),
        fromfile=str(path),
        tofile=f"{path} (migrated)",
    )
    return "".join(lines)


def _print_failure(exc: Exception, diagnostics: list[Diagnostic]) -> None:
    print(f"crio-py: {exc}", file=sys.stderr)
    if diagnostics:
        sys.stderr.write(render_text(diagnostics))
