"""Reading TOML files: the parsed data, the tomlkit document, and where each key stands.

tomllib decides what is valid TOML (it rejects duplicated tables, as the daemons' parsers do);
tomlkit keeps comments and layout for `migrate --write`. Neither records line numbers, so a
small structural scanner maps every key path to the line and column of its key and value.
The scanner runs only on text tomllib accepted, and never raises: a key it cannot place
points at line 1.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    """Where a key and its value start (1-based lines and columns)."""

    line: int
    column: int
    value_line: int
    value_column: int


@dataclass
class Source:
    """One TOML file: its text, its data and the position of every key."""

    path: str
    text: str
    data: dict[str, Any]
    positions: dict[KeyPath, Position] = field(default_factory=dict)

    def position(self, path: KeyPath, *, value: bool = False) -> tuple[int, int]:
        """Line and column of a key (or its value); the nearest known parent when unknown."""
        for end in range(len(path), 0, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                if value and end == len(path):
                    return found.value_line, found.value_column
                return found.line, found.column
        return 1, 1


class TomlSyntaxError(Exception):
    """tomllib rejected the text; line and column say where."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_AT_END = re.compile(r"\s*\(at end of document\)$")


def parse_text(text: str, path: str = "<string>") -> Source:
    """Parse TOML text; raise TomlSyntaxError with the position tomllib reported."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(str(exc), text) from exc
    return Source(path=path, text=text, data=data, positions=scan_positions(text))


def read_file(path: Path) -> Source:
    """Read and parse a file (OSError and UnicodeDecodeError propagate)."""
    text = path.read_text(encoding="utf-8")
    return parse_text(text, str(path))


def _syntax_error(message: str, text: str) -> TomlSyntaxError:
    match = _AT.search(message)
    if match:
        line, column = int(match[1]), int(match[2])
        if message.startswith(("Cannot declare", "Cannot overwrite", "Cannot mutate")):
            # tomllib points past the repeated key; the key itself is what the reader needs.
            text_line = text.splitlines()[line - 1] if line <= len(text.splitlines()) else ""
            column = len(text_line) - len(text_line.lstrip()) + 1
        return TomlSyntaxError(message[: match.start()], line, column)
    match = _AT_END.search(message)
    lines = text.splitlines() or [""]
    if match:
        return TomlSyntaxError(message[: match.start()], len(lines), len(lines[-1]) + 1)
    return TomlSyntaxError(message, 1, 1)


def scan_positions(text: str) -> dict[KeyPath, Position]:
    """Map each key path of a valid TOML text to the position of its key and value."""
    scanner = _Scanner(text)
    # A construct the scanner does not follow ends the scan; what was found so far is kept.
    with contextlib.suppress(IndexError, ValueError):
        scanner.document()
    return scanner.positions


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_END = set(",]}\n#")


class _Scanner:
    """A recursive-descent walk over TOML structure that records positions only."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.positions: dict[KeyPath, Position] = {}
        self.array_tables: dict[KeyPath, int] = {}

    def where(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1

    def peek(self, count: int = 1) -> str:
        return self.text[self.i : self.i + count]

    def skip_space(self, newlines: bool = False) -> None:
        while self.i < len(self.text):
            char = self.text[self.i]
            if char in " \t\r" or (newlines and char == "\n"):
                self.i += 1
            elif char == "#":
                end = self.text.find("\n", self.i)
                self.i = len(self.text) if end < 0 else end
            else:
                return

    def document(self) -> None:
        table: KeyPath = ()
        while True:
            self.skip_space(newlines=True)
            if self.i >= len(self.text):
                return
            if self.peek() == "[":
                table = self.header()
            else:
                self.key_value(table)

    def header(self) -> KeyPath:
        start = self.i
        is_array = self.peek(2) == "[["
        self.i += 2 if is_array else 1
        self.skip_space()
        path = self.resolve(self.key())
        self.skip_space()
        self.i += 2 if is_array else 1
        for end in range(1, len(path)):
            self.positions.setdefault(path[:end], self._position(start, start))
        if is_array:
            index = self.array_tables.get(path, 0)
            self.array_tables[path] = index + 1
            self.positions.setdefault(path, self._position(start, start))
            path = (*path, index)
        self.record(path, start, start)
        return path

    def resolve(self, path: KeyPath) -> KeyPath:
        """Insert the current index after each array-of-tables prefix of a header path."""
        resolved: list[str | int] = []
        for index, part in enumerate(path):
            resolved.append(part)
            count = self.array_tables.get(tuple(resolved))
            if count and index < len(path) - 1:
                resolved.append(count - 1)
        return tuple(resolved)

    def key_value(self, table: KeyPath) -> None:
        start = self.i
        key = self.key()
        self.skip_space()
        self.i += 1  # "="
        self.skip_space()
        for end in range(1, len(key)):
            self.positions.setdefault((*table, *key[:end]), self._position(start, start))
        self.record((*table, *key), start, self.i)
        self.value((*table, *key))

    def record(self, path: KeyPath, key_offset: int, value_offset: int) -> None:
        self.positions[path] = self._position(key_offset, value_offset)

    def _position(self, key_offset: int, value_offset: int) -> Position:
        line, column = self.where(key_offset)
        value_line, value_column = self.where(value_offset)
        return Position(line, column, value_line, value_column)

    def key(self) -> tuple[str, ...]:
        parts = [self.key_part()]
        self.skip_space()
        while self.peek() == ".":
            self.i += 1
            self.skip_space()
            parts.append(self.key_part())
            self.skip_space()
        return tuple(parts)

    def key_part(self) -> str:
        char = self.peek()
        if char in "\"'":
            start = self.i
            self.string()
            raw = self.text[start : self.i]
            if char == "'":
                return raw[1:-1]
            try:
                return str(json.loads(raw))
            except ValueError:
                return raw[1:-1]
        match = _BARE_KEY.match(self.text, self.i)
        if not match:
            raise ValueError("key expected")
        self.i = match.end()
        return match.group()

    def string(self) -> None:
        quote = self.peek()
        if self.peek(3) == quote * 3:
            end = self.text.find(quote * 3, self.i + 3) if quote == "'" else self._basic_end(3)
            self.i = end + 3
            while self.peek() == quote:  # up to two quotes may end the content
                self.i += 1
            return
        if quote == "'":
            self.i = self.text.index("'", self.i + 1) + 1
        else:
            self.i = self._basic_end(1) + 1

    def _basic_end(self, width: int) -> int:
        index = self.i + width
        closing = '"' * width
        while not self.text.startswith(closing, index):
            index += 2 if self.text[index] == "\\" else 1
        return index

    def value(self, path: KeyPath) -> None:
        char = self.peek()
        if char in "\"'":
            self.string()
        elif char == "[":
            self.array(path)
        elif char == "{":
            self.inline_table(path)
        else:
            while self.i < len(self.text) and self.text[self.i] not in _SCALAR_END:
                self.i += 1

    def array(self, path: KeyPath) -> None:
        self.i += 1
        index = 0
        while True:
            self.skip_space(newlines=True)
            if self.peek() == "]":
                self.i += 1
                return
            self.record((*path, index), self.i, self.i)
            self.value((*path, index))
            index += 1
            self.skip_space(newlines=True)
            if self.peek() == ",":
                self.i += 1

    def inline_table(self, path: KeyPath) -> None:
        self.i += 1
        while True:
            self.skip_space(newlines=True)
            if self.peek() == "}":
                self.i += 1
                return
            self.key_value(path)
            self.skip_space(newlines=True)
            if self.peek() == ",":
                self.i += 1
