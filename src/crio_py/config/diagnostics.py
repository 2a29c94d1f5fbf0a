"""Lint diagnostics: the Diagnostic record and the registry of stable codes.

Every code that lint can emit is registered here with its default severity, so the codes stay
stable and each has a test (tests/unit/config/test_lint_codes.py checks the registry is covered).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How bad a diagnostic is; follows what the daemon itself would do."""

    ERROR = "error"  # the daemon would refuse to start, or the setting cannot work
    WARNING = "warning"  # the daemon starts but ignores or deprecates the key
    INFO = "info"  # a note


@dataclass(frozen=True)
class Code:
    """A registered diagnostic code."""

    name: str
    severity: Severity
    summary: str


_CODES = [
    # reading
    Code("toml-syntax", Severity.ERROR, "the file is not valid TOML"),
    Code("json-syntax", Severity.ERROR, "Docker's daemon.json is not valid JSON"),
    Code("unreadable-file", Severity.ERROR, "the file cannot be read"),
    Code("unknown-format", Severity.ERROR, "neither a containerd nor a CRI-O configuration"),
    # keys
    Code("unknown-key", Severity.WARNING, "a key the daemon does not know; it is ignored"),
    Code("misplaced-key", Severity.WARNING, "a key in the wrong table; it is ignored there"),
    Code("deprecated-key", Severity.WARNING, "a key that still works but is deprecated"),
    Code("removed-key", Severity.WARNING, "a key the target version no longer reads"),
    Code("unavailable-key", Severity.WARNING, "a key newer than the target version"),
    Code("key-case", Severity.INFO, "a key accepted only through case-insensitive matching"),
    # values
    Code("invalid-type", Severity.ERROR, "a value of the wrong type"),
    Code("invalid-value", Severity.ERROR, "a value the daemon rejects"),
    Code("invalid-duration", Severity.ERROR, "a duration that does not parse"),
    Code("invalid-image-ref", Severity.ERROR, "an image reference that does not parse"),
    Code("invalid-port", Severity.ERROR, "a port outside 0-65535"),
    Code("relative-path", Severity.ERROR, "a relative path where an absolute one is needed"),
    Code("adjusted-value", Severity.WARNING, "a value the daemon raises or rewrites at start"),
    # containerd structure
    Code("unsupported-version", Severity.ERROR, "a config version the target cannot read"),
    Code("config-migrated", Severity.WARNING, "an old config version migrated on every start"),
    Code("short-plugin-name", Severity.ERROR, "a version 1 short plugin name in a newer file"),
    Code("invalid-plugin-id", Severity.ERROR, "a plugin id that is not an io.containerd URI"),
    Code("unavailable-plugin", Severity.WARNING, "a plugin the target containerd does not have"),
    Code("third-party-plugin", Severity.INFO, "a plugin section kept as it is"),
    # semantics
    Code("conflicting-keys", Severity.ERROR, "keys that cannot be set together"),
    Code("default-runtime-missing", Severity.ERROR, "the default runtime names no runtime"),
    Code("duplicate-runtime", Severity.ERROR, "a runtime handler defined twice"),
    Code("invalid-runtime", Severity.ERROR, "a runtime handler that cannot work"),
    Code("cgroup-driver-mismatch", Severity.ERROR, "cgroup driver settings contradict each other"),
    Code("dropin-replaces-table", Severity.WARNING, "a drop-in replaces a whole table"),
    Code("ineffective-key", Severity.WARNING, "a key that has no effect as written"),
    # host checks (--host)
    Code("host-binary-missing", Severity.ERROR, "a configured binary is not on this host"),
    Code("host-binary-broken", Severity.ERROR, "a configured binary does not answer --version"),
    Code("host-cni-plugin-missing", Severity.ERROR, "a CNI plugin a conflist names is missing"),
    Code("host-cni-config-missing", Severity.WARNING, "no CNI network configuration found"),
    Code("host-cgroup-driver", Severity.ERROR, "the cgroup driver does not fit this host"),
    Code("host-dir-not-writable", Severity.ERROR, "a directory the daemon writes is not writable"),
]

CODES: dict[str, Code] = {code.name: code for code in _CODES}


@dataclass(frozen=True)
class Diagnostic:
    """One finding: where it is, how bad it is, what is wrong and how to fix it."""

    code: str
    severity: Severity
    file: str
    line: int
    column: int
    key: str
    message: str
    hint: str | None = None


def make(
    code: str,
    message: str,
    *,
    file: str = "",
    line: int = 1,
    column: int = 1,
    key: str = "",
    hint: str | None = None,
    severity: Severity | None = None,
) -> Diagnostic:
    """Build a diagnostic for a registered code (its default severity unless one is given)."""
    registered = CODES[code]
    return Diagnostic(
        code=code,
        severity=severity or registered.severity,
        file=file,
        line=line,
        column=column,
        key=key,
        message=message,
        hint=hint,
    )


def has_errors(diagnostics: list[Diagnostic], *, strict: bool = False) -> bool:
    """True when a diagnostic is an error (or, with strict, a warning)."""
    failing = {Severity.ERROR, Severity.WARNING} if strict else {Severity.ERROR}
    return any(d.severity in failing for d in diagnostics)


def sort_key(diagnostic: Diagnostic) -> tuple[str, int, int, str]:
    """Order diagnostics by file, then position, then code."""
    return (diagnostic.file, diagnostic.line, diagnostic.column, diagnostic.code)
