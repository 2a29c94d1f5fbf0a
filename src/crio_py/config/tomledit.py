"""Editing tomlkit documents while keeping comments and order: moving keys between tables.

tomlkit keeps a comment line as an item of the table body that holds it, just before the key it
describes. `move_keys` takes such comments along with their key, so a migrated file keeps
the operator's notes next to the settings they explain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tomlkit
from tomlkit.container import Container
from tomlkit.items import Comment, Item, Key, Null, Table, Whitespace

Route = Callable[[str, Item], tuple[Table, str] | None]


def body_of(table: Table | Container) -> list[tuple[Key | None, Item]]:
    """The raw body list of a table or document (tomlkit's own representation)."""
    return table.value.body if isinstance(table, Table) else table.body


def entries(table: Table | Container) -> list[tuple[str | None, Item]]:
    """The body of a table in order: (key, item), with key None for comments and blank lines."""
    return [(None if key is None else key.key, item) for key, item in body_of(table)]


def move_keys(source: Table | Container, route: Route) -> None:
    """Move every key that `route` gives a (table, new key) to that place, comments included."""
    pending: list[Item] = []
    for key, item in entries(source):
        if key is None:
            pending.append(item)
            continue
        place = route(key, item)
        if place is None:
            pending = []
            continue
        destination, new_key = place
        for comment in pending:
            if isinstance(comment, Comment):
                destination.add(comment)
                _blank_out(source, comment)
        pending = []
        source.remove(key)
        destination.add(new_key, _indented_like(destination, item))


def merge_into(target: Table, source: Table) -> None:
    """Add the keys of `source` to `target`, merging tables both have (TOML lets one table be
    declared in pieces, e.g. `[a.b]` before `[a]`; tomlkit keeps the pieces apart)."""
    for key, item in entries(source):
        if key is None:
            if isinstance(item, Comment | Whitespace):
                target.add(item)
            continue
        existing = target.get(key)
        if isinstance(existing, Table) and isinstance(item, Table):
            merge_into(existing, item)
        else:
            target.add(key, item)


def put(table: Table, key: str, value: Any) -> None:
    """Set a key, indented like the other keys of the table."""
    item = tomlkit.item(value)
    if key in table:
        table[key] = item
    else:
        table.add(key, _indented_like(table, item))


def _indented_like(table: Table, item: Item) -> Item:
    """Give a plain value the indentation of the table's other plain values (tomlkit adds the
    header's indentation itself when the item is added)."""
    if isinstance(item, Table):
        return item
    sibling = next(
        (v for k, v in entries(table) if k is not None and not isinstance(v, Table)), None
    )
    if sibling is None:
        return item
    header, wanted = table.trivia.indent, sibling.trivia.indent
    item.trivia.indent = wanted[len(header) :] if wanted.startswith(header) else wanted
    return item


def pop_with_comments(table: Table | Container, key: str) -> tuple[Item, list[Comment]]:
    """Remove a key and the comment lines just above it; return both."""
    comments: list[Comment] = []
    for entry_key, item in entries(table):
        if entry_key == key:
            break
        if entry_key is None and isinstance(item, Comment):
            comments.append(item)
        elif entry_key is not None:
            comments = []
    value = table[key]
    table.remove(key)
    for comment in comments:
        _blank_out(table, comment)
    return value, comments


def drop(table: Table | Container, key: str) -> Item:
    """Remove a key with the comment lines that describe it."""
    return pop_with_comments(table, key)[0]


def _blank_out(table: Table | Container, item: Item) -> None:
    """Take a keyless item (a comment) out of a body, the way tomlkit's own remove() does."""
    body = body_of(table)
    for index, (key, existing) in enumerate(body):
        if key is None and existing is item:
            body[index] = (None, Null())
            return


class HeaderComments:
    """The comment lines above each `[table]` header, held apart while a document is edited.

    tomlkit stores them at the end of whatever body was open before the header, so moving a
    table would leave its comments behind (or drag the next table's along). `collect` takes
    them out, keyed by table; `apply` puts each in front of its table's header again, wherever
    the table went. The text of an unedited document is unchanged.
    """

    def __init__(self) -> None:
        self._comments: list[tuple[Table, str]] = []

    def collect(self, doc: Container) -> None:
        ordered = _tables_in_order(doc)
        containers: list[Table | Container] = [doc, *ordered]
        for container in containers:
            body = body_of(container)
            for index, (_, item) in enumerate(body):
                if isinstance(item, Table) and not item.is_super_table():
                    self._add(item, _take_comment_run(body, index))
        for before, table in zip(containers, ordered, strict=False):
            body = body_of(before)
            self._add(table, _take_comment_run(body, len(body)))

    def _add(self, table: Table, text: str) -> None:
        if text:
            self._comments.append((table, text))

    def transfer(self, source: Table, target: Table) -> None:
        """Give the comments of a table that goes away to the table that replaces it."""
        self._comments = [(target if t is source else t, text) for t, text in self._comments]

    def discard(self, table: Table) -> None:
        self._comments = [(t, text) for t, text in self._comments if t is not table]

    def apply(self) -> None:
        for table, text in self._comments:
            table.trivia.indent = text + table.trivia.indent


def _tables_in_order(container: Table | Container) -> list[Table]:
    """Every table with a header of its own, in the order their headers appear."""
    found: list[Table] = []
    for _, item in entries(container):
        if isinstance(item, Table):
            if not item.is_super_table():
                found.append(item)
            found.extend(_tables_in_order(item))
    return found


def _take_comment_run(body: list[tuple[Key | None, Item]], end: int) -> str:
    """Take the comments (and blank lines among them) just before body[end], as text."""
    start = end
    while (
        start > 0
        and body[start - 1][0] is None
        and isinstance(body[start - 1][1], Comment | Whitespace)
    ):
        start -= 1
    run = body[start:end]
    if not any(isinstance(item, Comment) for _, item in run):
        return ""
    text = "".join(item.as_string() for _, item in run)
    for index in range(start, end):
        body[index] = (None, Null())
    return text


def table_at(root: Table | Container, path: tuple[str, ...]) -> Table | None:
    """The table at a key path, or None."""
    current: Any = root
    for key in path:
        if not hasattr(current, "get"):
            return None
        current = current.get(key)
    return current if isinstance(current, Table) else None


def ensure_table(
    root: Table | Container, path: tuple[str, ...], *, holds_tables: bool = False
) -> Table:
    """The table at a key path, created when missing; tables above it, and the last one when it
    `holds_tables` (like `runtimes`), are super tables with no header of their own."""
    current: Any = root
    for index, key in enumerate(path):
        child = current.get(key)
        if not isinstance(child, Table):
            child = tomlkit.table(is_super_table=holds_tables or index < len(path) - 1)
            current.add(key, child)
            child = current[key]
        current = child
    return current  # type: ignore[no-any-return]


def is_blank(table: Table) -> bool:
    """True when a table holds nothing but whitespace."""
    return all(key is None and isinstance(item, Whitespace) for key, item in entries(table))


def plain(value: Any) -> Any:
    """A tomlkit value as plain Python (str, int, list, dict …)."""
    return value.unwrap() if hasattr(value, "unwrap") else value
