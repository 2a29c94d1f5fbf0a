"""A small JSON reader that records where each key and value starts (line and column).

Python's json module reports positions only for syntax errors; lint needs them for every value,
so this reader walks the text itself. Strings are decoded by json's own scanner, so escapes
mean what they mean to every other JSON reader.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

Path = tuple[str | int, ...]
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_LITERALS = {"true": True, "false": False, "null": None}
_SPACE = " \t\n\r"


@dataclass(frozen=True)
class Position:
    """1-based line and column."""

    line: int
    column: int


class JsonSyntaxError(ValueError):
    """The text is not JSON; says where."""

    def __init__(self, message: str, position: Position) -> None:
        super().__init__(f"{message} at line {position.line}, column {position.column}")
        self.message = message
        self.position = position


@dataclass
class PositionedJson:
    """The decoded document, and where each value (and each object key) starts."""

    data: Any
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)

    def at(self, path: Path) -> Position:
        """Where the key of `path` starts (its value for list items; 1:1 for the root)."""
        return self.keys.get(path) or self.values.get(path) or Position(1, 1)


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.found = PositionedJson(None)

    def position(self, index: int) -> Position:
        line = bisect_right(self.line_starts, index)
        return Position(line, index - self.line_starts[line - 1] + 1)

    def fail(self, message: str, index: int | None = None) -> JsonSyntaxError:
        return JsonSyntaxError(message, self.position(self.index if index is None else index))

    def skip_space(self) -> None:
        while self.index < len(self.text) and self.text[self.index] in _SPACE:
            self.index += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.index] if self.index < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.fail(f"expected {char!r}" + self.found_what())
        self.index += 1

    def found_what(self) -> str:
        return f", found {self.text[self.index]!r}" if self.index < len(self.text) else ""

    def value(self, path: Path) -> Any:
        char = self.peek()
        self.found.values[path] = self.position(self.index)
        if char == "{":
            return self.object(path)
        if char == "[":
            return self.array(path)
        if char == '"':
            return self.string()
        for word, literal in _LITERALS.items():
            if self.text.startswith(word, self.index):
                self.index += len(word)
                return literal
        match = _NUMBER.match(self.text, self.index)
        if match is None or not match.group():
            raise self.fail("expected a value" + self.found_what())
        self.index = match.end()
        return json.loads(match.group())

    def string(self) -> str:
        start = self.index
        try:
            text, self.index = json.decoder.scanstring(self.text, start + 1)  # type: ignore[attr-defined]
        except json.JSONDecodeError as exc:
            raise self.fail(exc.msg, exc.pos) from None
        return str(text)

    def object(self, path: Path) -> dict[str, Any]:
        self.index += 1
        members: dict[str, Any] = {}
        if self.peek() == "}":
            self.index += 1
            return members
        while True:
            if self.peek() != '"':
                raise self.fail("expected a key in double quotes" + self.found_what())
            key_at = self.position(self.index)
            key = self.string()
            self.found.keys[(*path, key)] = key_at
            self.expect(":")
            members[key] = self.value((*path, key))
            if self.peek() == ",":
                self.index += 1
                continue
            self.expect("}")
            return members

    def array(self, path: Path) -> list[Any]:
        self.index += 1
        items: list[Any] = []
        if self.peek() == "]":
            self.index += 1
            return items
        while True:
            items.append(self.value((*path, len(items))))
            if self.peek() == ",":
                self.index += 1
                continue
            self.expect("]")
            return items


def parse(text: str) -> PositionedJson:
    """Decode JSON text with the position of every key and value; JsonSyntaxError if invalid."""
    reader = _Reader(text)
    try:
        reader.found.data = reader.value(())
    except RecursionError:
        raise reader.fail("nested too deeply") from None
    if reader.peek():
        raise reader.fail("unexpected text after the document")
    return reader.found
