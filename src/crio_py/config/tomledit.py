"""Editing tomlkit documents while keeping comments and order: moving keys between tables.

tomlkit keeps a comment line as an item of the table body that holds it, just before the key it
describes. `move_keys` takes such comments along with their key, so a migrated file keeps
the operator's notes next to the settings they explain.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
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
    """Move every key that `route` gives a (table, new key) to that place, comments included:
    the comment lines above a key travel in front of it, indented like it."""
    pending: list[Item] = []
    source_indent = source.trivia.indent if isinstance(source, Table) else ""
    for key, item in entries(source):
        if key is None:
            pending.append(item)
            continue
        place = route(key, item)
        if place is None:
            pending = []
            continue
        destination, new_key = place
        comments = [c for c in pending if isinstance(c, Comment)]
        for comment in comments:
            _blank_out(source, comment)
        pending = []
        source.remove(key)
        destination.add(new_key, _indented_like(destination, item, source_indent))
        _put_comments_before(destination, new_key, comments)


def _put_comments_before(table: Table, key: str, comments: list[Comment]) -> None:
    """Make comment lines part of the key's own indentation, so nothing can part them."""
    if not comments:
        return
    item = table.value.item(key)
    if not isinstance(item, Item):
        return  # a table declared in pieces: its header comments are HeaderComments' job
    indent = item.trivia.indent
    last_line = indent.rsplit("\n", 1)[-1]
    lines = "".join(f"{last_line}{c.trivia.comment}\n" for c in comments)
    head = indent[: len(indent) - len(last_line)]
    item.trivia.indent = head + lines + last_line


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


def put_like(table: Table, old_key: str, new_key: str, value: Any) -> None:
    """Replace a key by another where it stands, keeping its comments and indentation."""
    table.value._replace(old_key, new_key, tomlkit.item(value))


def _indented_like(table: Table, item: Item, source_indent: str = "") -> Item:
    """Give a plain value the indentation of the table's other plain values, or, in a table
    without any, the depth it had below its old table's header (tomlkit adds the header's
    indentation itself when the item is added)."""
    if isinstance(item, Table):
        return item
    sibling = next(
        (v for k, v in entries(table) if k is not None and not isinstance(v, Table)), None
    )
    header = table.trivia.indent
    if sibling is None:
        own = item.trivia.indent.rsplit("\n", 1)[-1]
        item.trivia.indent = own[len(source_indent) :] if own.startswith(source_indent) else own
        return item
    wanted = sibling.trivia.indent.rsplit("\n", 1)[-1]
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
            indent = table.trivia.indent
            rest = indent.lstrip("\n")
            lead = "" if text.startswith("\n") else indent[: len(indent) - len(rest)]
            table.trivia.indent = lead + text + rest


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


class Layout:
    """How a file indents the keys below a table header, so tables the migration creates
    follow the file's own style: `record` before editing, `apply` after."""

    def __init__(self) -> None:
        self._paths: set[tuple[str, ...]] = set()
        self._unit = ""

    def record(self, doc: Container) -> None:
        found = list(_headed_tables(doc, ()))
        self._paths = {path for path, _ in found}
        depths = Counter(d for _, t in found if (d := _value_depth(t)) is not None)
        self._unit = depths.most_common(1)[0][0] if depths else ""

    def apply(self, doc: Container) -> None:
        if not self._unit:
            return
        for path, table in _headed_tables(doc, ()):
            if path in self._paths or _value_depth(table) != "":
                continue
            for key, item in entries(table):
                if key is not None and not isinstance(item, Table):
                    item.trivia.indent += self._unit


def _headed_tables(
    container: Table | Container, prefix: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], Table]]:
    for key, item in entries(container):
        if key is not None and isinstance(item, Table):
            if not item.is_super_table():
                yield (*prefix, key), item
            yield from _headed_tables(item, (*prefix, key))


def _value_depth(table: Table) -> str | None:
    """The indentation of a table's first plain value beyond its header's (None: no values)."""
    value = next((v for k, v in entries(table) if k is not None and not isinstance(v, Table)), None)
    if value is None:
        return None
    own, header = value.trivia.indent.rsplit("\n", 1)[-1], table.trivia.indent.rsplit("\n", 1)[-1]
    return own[len(header) :] if own.startswith(header) else own


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
