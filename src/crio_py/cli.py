"""The `crio-py` command line: `config lint | default | schema | show` (argparse only)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from crio_py import __version__
from crio_py.config.defaults import default_text
from crio_py.config.diagnostics import Diagnostic, has_errors
from crio_py.config.load import FORMATS, LintOptions, lint_paths, load_settings
from crio_py.config.render import settings_text
from crio_py.config.report import render, render_text
from crio_py.config.rules import Target, all_target_names, parse_target
from crio_py.config.schema import schema_for
from crio_py.errors import ConfigError, ConfigReadError
from crio_py.hostcheck import check_host

OUTPUTS = ("text", "json", "sarif")
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
    show = actions.add_parser("show", help="print the effective settings")
    show.add_argument("path", nargs="?", type=Path, help="config file (default: embedded)")
    show.add_argument("--format", choices=("containerd", "crio"), help="input format")
    show.add_argument("--output", choices=("toml", "json"), default="toml")
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    handlers = {"lint": _lint, "default": _default, "schema": _schema, "show": _show}
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


def _show(args: argparse.Namespace) -> int:
    try:
        settings, warnings = load_settings(args.path, args.format)
    except ConfigReadError as exc:
        _print_failure(exc, exc.diagnostics)
        return EXIT_UNREADABLE
    except ConfigError as exc:
        _print_failure(exc, exc.diagnostics)
        return EXIT_ERRORS
    if warnings:
        sys.stderr.write(render_text(warnings))
    sys.stdout.write(settings_text(settings, args.output))
    return EXIT_OK


def _print_failure(exc: Exception, diagnostics: list[Diagnostic]) -> None:
    print(f"crio-py: {exc}", file=sys.stderr)
    if diagnostics:
        sys.stderr.write(render_text(diagnostics))
