"""Version rules: which daemon release added, deprecated or removed which key.

A rule's pattern is a key path where `*` matches any one name (a runtime or a registry host).
Rules are data; the walker (walk.py) evaluates them against the target release.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

Version = tuple[int, int]

CONTAINERD_TARGETS: list[Version] = [(1, 6), (1, 7), (2, 0), (2, 1), (2, 2), (2, 3)]
CRIO_TARGETS: list[Version] = [(1, minor) for minor in range(26, 37)]


@dataclass(frozen=True)
class Target:
    """The daemon release whose rules apply (`--target containerd-2.0`)."""

    daemon: str  # "containerd" or "crio"
    version: Version

    @property
    def daemon_name(self) -> str:
        return "CRI-O" if self.daemon == "crio" else "containerd"

    @property
    def label(self) -> str:
        return self.daemon_label(self.version)

    def daemon_label(self, version: Version) -> str:
        """The daemon's name with a release number: "containerd 2.0"."""
        return f"{self.daemon_name} {version_text(version)}"

    def __str__(self) -> str:
        return f"{self.daemon}-{self.version[0]}.{self.version[1]}"


def parse_target(text: str) -> Target:
    """Parse `containerd-2.0` or `crio-1.30`; ValueError names the valid choices."""
    daemon, _, number = text.partition("-")
    choices = {"containerd": CONTAINERD_TARGETS, "crio": CRIO_TARGETS}
    major, _, minor = number.partition(".")
    if daemon in choices and major.isdigit() and minor.isdigit():
        version = (int(major), int(minor))
        if version in choices[daemon]:
            return Target(daemon, version)
    raise ValueError(f"unknown target {text!r}; choose one of {', '.join(all_target_names())}")


def all_target_names() -> list[str]:
    """Every valid --target value."""
    return [str(Target("containerd", v)) for v in CONTAINERD_TARGETS] + [
        str(Target("crio", v)) for v in CRIO_TARGETS
    ]


def newest(daemon: str) -> Target:
    """The default target: the newest release of a daemon."""
    return Target(daemon, (CONTAINERD_TARGETS if daemon == "containerd" else CRIO_TARGETS)[-1])


def version_text(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


@dataclass(frozen=True)
class KeyRule:
    """The history of one key: when it was added, deprecated and removed, and what replaces it."""

    pattern: tuple[str, ...]
    added: Version | None = None
    deprecated: Version | None = None
    removed: Version | None = None
    replacement: str | None = None
    note: str | None = None

    def matches(self, path: tuple[str | int, ...]) -> bool:
        return len(path) == len(self.pattern) and all(
            want in ("*", got) for want, got in zip(self.pattern, path, strict=True)
        )


def find_rule(rules: Iterable[KeyRule], path: tuple[str | int, ...]) -> KeyRule | None:
    """The first rule whose pattern matches the path."""
    return next((rule for rule in rules if rule.matches(path)), None)


def expand(prefixes: Iterable[tuple[str, ...]], rules: Iterable[KeyRule]) -> list[KeyRule]:
    """Copy rules written relative to a table to each absolute prefix where that table lives."""
    rules = list(rules)
    return [
        KeyRule(
            pattern=(*prefix, *rule.pattern),
            added=rule.added,
            deprecated=rule.deprecated,
            removed=rule.removed,
            replacement=rule.replacement,
            note=rule.note,
        )
        for prefix in prefixes
        for rule in rules
    ]
