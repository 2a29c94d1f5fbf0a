"""The report of `config migrate`: every change made, and every key not carried, with why."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal

Action = Literal[
    "moved",  # same meaning, new place
    "renamed",  # a plugin id or key renamed by the target version
    "converted",  # value rewritten to an equivalent (e.g. a v1-linux runtime → runc v2)
    "removed",  # dropped: the target has no such setting (reason says what happens instead)
    "kept",  # left as it is, with a note (deprecated but still read)
    "not-carried",  # cross-format: no equivalent in the other daemon
    "written",  # a value the source daemon used implicitly, written out explicitly
]


@dataclass(frozen=True)
class Change:
    """One thing migrate did (or could not do) to one key."""

    action: Action
    key: str
    to: str | None = None
    reason: str = ""


@dataclass
class MigrationResult:
    """The migrated configuration, its report, and any hosts.toml files it produced."""

    source_format: str
    target: str
    text: str
    changes: list[Change] = field(default_factory=list)
    hosts_files: dict[str, str] = field(default_factory=dict)  # "<host>/hosts.toml" → text
    hosts_dir: str = ""  # where the hosts files belong

    @property
    def changed(self) -> bool:
        """True when migrating changes the file or writes hosts.toml files (notes aside)."""
        return bool(self.hosts_files) or any(c.action != "kept" for c in self.changes)

    def add(self, action: Action, key: str, to: str | None = None, reason: str = "") -> None:
        """Record a change."""
        self.changes.append(Change(action, key, to, reason))


def render_report(result: MigrationResult, output: str) -> str:
    """The report as text (for stderr) or JSON."""
    if output == "json":
        document = {
            "from": result.source_format,
            "to": result.target,
            "changes": [asdict(change) for change in result.changes],
            "hosts_files": {
                _join(result.hosts_dir, name): text for name, text in result.hosts_files.items()
            },
        }
        return json.dumps(document, indent=2) + "\n"
    lines = [f"migrate: {result.source_format} → {result.target}"]
    for change in result.changes:
        arrow = f" → {change.to}" if change.to else ""
        reason = f": {change.reason}" if change.reason else ""
        lines.append(f"  {change.action:<11} {change.key}{arrow}{reason}")
    for name, text in result.hosts_files.items():
        lines.append(f"  hosts file  {_join(result.hosts_dir, name)}:")
        lines.extend(f"    {line}" for line in text.splitlines())
    if not result.changed:
        lines.append("  nothing to change")
    return "\n".join(lines) + "\n"


def _join(directory: str, name: str) -> str:
    return f"{directory.rstrip('/')}/{name}" if directory else name
