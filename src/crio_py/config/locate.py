"""Reporting diagnostics for semantic checks, which see a merged configuration.

A Reporter knows, for each key path, which file set it last (CRI-O drop-ins, containerd
imports), so a semantic diagnostic points at the line that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crio_py.config.diagnostics import Diagnostic, make
from crio_py.config.rules import Target
from crio_py.config.source import KeyPath, Source
from crio_py.config.walk import dotted


@dataclass
class Reporter:
    """Builds diagnostics at the position of a key in the file that set it."""

    target: Target
    sources: list[Source]
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def source_of(self, path: KeyPath) -> Source:
        """The last file that sets the key (or its nearest table), else the first file."""
        for end in range(len(path), 0, -1):
            for source in reversed(self.sources):
                if path[:end] in source.positions:
                    return source
        return self.sources[-1] if self.sources else Source("", "", {})

    def has(self, path: KeyPath) -> bool:
        """True when some file sets this key explicitly."""
        return any(path in source.positions for source in self.sources)

    def report(self, code: str, path: KeyPath, message: str, **extra: Any) -> None:
        at_value = bool(extra.pop("value", False))
        source = self.source_of(path)
        line, column = source.position(path, value=at_value)
        self.diagnostics.append(
            make(
                code, message, file=source.path, line=line, column=column, key=dotted(path), **extra
            )
        )
