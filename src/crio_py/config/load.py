"""The configuration pipeline: read → detect the format → lint → RuntimeSettings.

`lint_paths` serves `config lint`; `load_settings` serves `config show` and the daemon (it
raises ConfigError when a file has errors and returns the warnings beside the settings).
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from crio_py.config.containerd import settings as containerd_settings
from crio_py.config.crio import settings as crio_settings
from crio_py.config.crio.merge import dropin_files
from crio_py.config.defaults import default_text
from crio_py.config.diagnostics import Diagnostic, Severity, has_errors, make, sort_key
from crio_py.config.docker.lint import lint_docker_file
from crio_py.config.lint.containerd import lint_containerd
from crio_py.config.lint.crio import lint_crio
from crio_py.config.lint.provenance import Locator, locator
from crio_py.config.model import RuntimeSettings
from crio_py.config.registry.hosts import lint_hosts
from crio_py.config.rules import Target, newest
from crio_py.config.source import Source, TomlSyntaxError, parse_text
from crio_py.errors import ConfigError, ConfigReadError

FORMATS = ("containerd", "crio", "hosts")
_CONTAINERD_KEYS = {
    "version",
    "plugins",
    "root",
    "state",
    "grpc",
    "ttrpc",
    "debug",
    "metrics",
    "cgroup",
    "timeouts",
    "imports",
    "proxy_plugins",
    "stream_processors",
    "disabled_plugins",
    "required_plugins",
    "oom_score",
    "temp",
    "plugin_dir",
}
_HOSTS_KEYS = {
    "server",
    "host",
    "capabilities",
    "ca",
    "client",
    "skip_verify",
    "header",
    "override_path",
    "dial_timeout",
}


def detect_format(source: Source) -> str | None:
    """containerd, crio or hosts, judged by content (then by file name for empty files)."""
    keys = set(source.data)
    if "crio" in keys:
        return "crio"
    if keys & _HOSTS_KEYS and not keys & (_CONTAINERD_KEYS - {"debug"}):
        return "hosts"
    if keys & _CONTAINERD_KEYS:
        return "containerd"
    name = Path(source.path).name
    if not keys:
        if name == "hosts.toml":
            return "hosts"
        if name.endswith(".conf") or Path(source.path).parent.name == "crio.conf.d":
            return "crio"
        return "containerd" if name.endswith(".toml") else None
    return None


@dataclass
class LintResult:
    """What `config lint` found, and whether some input could not be read."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    unreadable: bool = False


HostChecker = Callable[[RuntimeSettings, Locator], list[Diagnostic]]


@dataclass(frozen=True)
class LintOptions:
    """Options of `config lint`."""

    targets: dict[str, Target] = field(default_factory=dict)
    forced_format: str | None = None
    host_checker: HostChecker | None = None
    dropins: bool = True


def read_source(path: Path, result: LintResult) -> Source | None:
    """Read and parse a file; syntax errors and read errors become diagnostics."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        result.unreadable = True
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        result.diagnostics.append(
            make("unreadable-file", f"cannot read the file: {reason}", file=str(path))
        )
        return None
    try:
        return parse_text(text, str(path))
    except TomlSyntaxError as exc:
        result.diagnostics.append(
            make(
                "toml-syntax",
                f"invalid TOML: {exc.message}",
                file=str(path),
                line=exc.line,
                column=exc.column,
            )
        )
        return None


def lint_paths(paths: Sequence[Path], options: LintOptions) -> LintResult:
    """Lint files and directories; a CRI-O main file brings its crio.conf.d along."""
    result = LintResult()
    for path in paths:
        units = config_units(path, options)
        if not any(units):
            result.unreadable = True
            result.diagnostics.append(
                make("unreadable-file", "the directory holds no configuration file", file=str(path))
            )
        for unit in units:
            _lint_unit(unit, options, result)
    result.diagnostics.sort(key=sort_key)
    return result


def config_units(path: Path, options: LintOptions) -> list[list[Path]]:
    """Groups of files linted together: a CRI-O main file with its drop-ins, or one file.

    A directory holding crio.conf or crio.conf.d is one CRI-O configuration; a directory named
    crio.conf.d is a set of drop-ins; a certs.d-style directory yields its hosts.toml files;
    any other directory yields each of its files on its own.
    """
    if path.is_dir():
        hosts = sorted(path.glob("*/hosts.toml"))
        main, dropins = path / "crio.conf", path / "crio.conf.d"
        if main.is_file() or dropins.is_dir():
            return [[main] * main.is_file() + dropin_files(dropins)]
        if path.name == "crio.conf.d":
            return [dropin_files(path)]
        if hosts:
            return [[h] for h in hosts]
        return [[f] for f in sorted(path.iterdir()) if f.is_file()]
    dropins = path.parent / "crio.conf.d"
    if options.dropins and path.name == "crio.conf" and dropins.is_dir():
        return [[path, *dropin_files(dropins)]]
    return [[path]]


def _lint_unit(files: list[Path], options: LintOptions, result: LintResult) -> None:
    if lint_docker_file(files[0], options.forced_format, result.diagnostics):
        return
    sources = [s for s in (read_source(f, result) for f in files) if s is not None]
    if not sources:
        return
    kind = options.forced_format or detect_format(sources[0])
    if kind is None:
        result.unreadable = True
        result.diagnostics.append(
            make(
                "unknown-format",
                "this is neither a containerd config, a hosts.toml nor a CRI-O config",
                file=sources[0].path,
                hint="pass --format containerd|crio|hosts",
            )
        )
        return
    daemon = "crio" if kind == "crio" else "containerd"
    target = options.targets.get(daemon) or newest(daemon)
    if kind == "hosts":
        for source in sources:
            result.diagnostics.extend(lint_hosts(source, target)[0])
        return
    if kind == "containerd":
        sources = [*sources, *imported_sources(sources[0], result)]
    diagnostics, settings = lint_sources(sources, kind, target)
    result.diagnostics.extend(diagnostics)
    if options.host_checker is not None and settings is not None:
        result.diagnostics.extend(options.host_checker(settings, locator(kind, sources)))


def lint_sources(
    sources: list[Source], kind: str, target: Target
) -> tuple[list[Diagnostic], RuntimeSettings | None]:
    """Lint a containerd or CRI-O configuration; the settings too when nothing is an error."""
    files = tuple(Path(s.path) for s in sources)
    settings: RuntimeSettings | None = None
    if kind == "crio":
        diagnostics, crio_config = lint_crio(sources, target)
        if not has_errors(diagnostics):
            settings = crio_settings.to_settings(crio_config, files, target)
    else:
        diagnostics, config = lint_containerd(sources, target)
        if config is not None and not has_errors(diagnostics):
            settings = containerd_settings.to_settings(config, files)
    return diagnostics, settings


def imported_sources(main: Source, result: LintResult) -> list[Source]:
    """The files a containerd config imports, recursively, each once, in load order."""
    seen = {Path(main.path).resolve()}
    found: list[Source] = []
    pending = [main]
    while pending:
        source = pending.pop(0)
        for path in import_paths(source):
            if path.resolve() in seen:
                continue  # containerd skips circular imports
            seen.add(path.resolve())
            imported = read_source(path, result)
            if imported is not None:
                found.append(imported)
                pending.append(imported)
    return found


def import_paths(source: Source) -> list[Path]:
    """The `imports` of a containerd file: relative to its directory, globs expanded."""
    imports = source.data.get("imports", [])
    if not isinstance(imports, list):
        return []
    base = Path(source.path).parent
    paths: list[Path] = []
    for pattern in (p for p in imports if isinstance(p, str)):
        full = pattern if pattern.startswith("/") else str(base / pattern)
        if any(c in full for c in "*?["):
            paths += sorted(Path(p) for p in glob.glob(full))
        else:
            paths.append(Path(full))
    return paths


def settings_from_sources(
    sources: list[Source], kind: str
) -> tuple[RuntimeSettings, list[Diagnostic]]:
    """Build RuntimeSettings (newest rules); raise ConfigError if any diagnostic is an error."""
    diagnostics, settings = lint_sources(sources, kind, newest(kind))
    if settings is None:
        errors = [d for d in diagnostics if d.severity is Severity.ERROR]
        raise ConfigError(f"{sources[0].path}: the configuration has errors", errors)
    return settings, diagnostics


def load_settings(
    path: Path | None, forced_format: str | None = None
) -> tuple[RuntimeSettings, list[Diagnostic]]:
    """Load a config file (no path: the embedded default) into RuntimeSettings."""
    result = LintResult()
    if path is None:
        sources = [parse_text(default_text("containerd", 3), "<embedded default>")]
    else:
        units = config_units(path, LintOptions()) if path.exists() else [[path]]
        files = units[0] if units else []
        sources = [s for s in (read_source(f, result) for f in files) if s is not None]
    if result.diagnostics or not sources:
        raise ConfigReadError(f"{path}: cannot load the configuration", result.diagnostics)
    kind = forced_format or detect_format(sources[0])
    if kind not in ("containerd", "crio"):
        raise ConfigReadError(f"{path}: not a containerd or CRI-O configuration")
    if kind == "containerd":
        sources = [*sources, *imported_sources(sources[0], result)]
        if result.diagnostics:
            raise ConfigReadError(f"{path}: cannot load an imported file", result.diagnostics)
    return settings_from_sources(sources, kind)
