"""How `crio-py ctl` prints, matching crictl byte for byte where it can.

- tables: Go `text/tabwriter` with crictl's settings (min width 20, padding 3, spaces);
- sizes: go-units `HumanSizeWithPrecision(size, 3)` ("1.23MB", decimal units);
- ids: crictl's `getTruncatedID` (strip "sha256:", keep 13 characters);
- JSON of a message: protojson with `EmitDefaultValues`, fields in proto order, maps sorted;
- JSON of a "status" (inspecti, imagefsinfo): crictl's `outputStatusData`, which re-marshals
  through Go maps, so every key is sorted and `<`, `>`, `&` are escaped;
- YAML: sigs.k8s.io/yaml `JSONToYAML` (go-yaml v2 style: sorted keys, lists not indented).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]

from crio_py.ctl.endpoints import CtlError

TRUNCATED_ID_LENGTH = 13
_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")

Json = Any  # decoded JSON: dict, list, str, int, float, bool or None


def human_size(size: float, precision: int = 3) -> str:
    """go-units `HumanSizeWithPrecision`: 1234567 → "1.23MB"."""
    unit = 0
    while size >= 1000.0 and unit < len(_DECIMAL_UNITS) - 1:
        size /= 1000.0
        unit += 1
    return f"{size:.{precision}g}{_DECIMAL_UNITS[unit]}"


def truncate_id(value: str, prefix: str = "sha256:") -> str:
    """crictl `getTruncatedID`."""
    return value.removeprefix(prefix)[:TRUNCATED_ID_LENGTH]


def table(rows: Sequence[Sequence[str]], *, min_width: int = 20, padding: int = 3) -> str:
    """Go tabwriter: every cell but the last of a row padded to its column's width."""
    columns = max((len(row) for row in rows), default=0) - 1
    widths = [
        max(min_width, max(len(row[i]) for row in rows if len(row) > i + 1) + padding)
        for i in range(columns)
    ]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("".join(cells) + (row[-1] if row else ""))
    return "".join(line + "\n" for line in lines)


def message_to_json(message: Any) -> Json:
    """protojson with EmitDefaultValues: camelCase names, int64 as strings, proto field order."""
    data = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    return _in_field_order(message.DESCRIPTOR, data)


def _in_field_order(descriptor: Any, data: dict[str, Json]) -> dict[str, Json]:
    ordered: dict[str, Json] = {}
    for field in descriptor.fields:
        if field.json_name not in data:
            continue
        value = data[field.json_name]
        kind = field.message_type
        if kind is not None and kind.GetOptions().map_entry:
            value_kind = kind.fields_by_name["value"].message_type
            value = {
                k: _in_field_order(value_kind, v) if value_kind else v
                for k, v in sorted(value.items())
            }
        elif kind is not None and field.is_repeated:
            value = [_in_field_order(kind, item) for item in value]
        elif kind is not None:
            value = _in_field_order(kind, value)
        ordered[field.json_name] = value
    return ordered


def to_json(data: Json, *, sort_keys: bool = False) -> str:
    """Indented JSON; with `sort_keys`, Go `encoding/json` escaping of <, > and &."""
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=sort_keys)
    if sort_keys:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text + "\n"


def write_data(data: Json, output: str, *, sort_keys: bool = False) -> None:
    """Write decoded data to stdout as JSON (`output == "json"`) or else YAML."""
    text = to_json(data, sort_keys=sort_keys) if output == "json" else to_yaml(data) + "\n"
    sys.stdout.write(text)


class Listed(Protocol):
    """A listed CRI message: an image, a pod or a container."""

    @property
    def id(self) -> str: ...


ItemT = TypeVar("ItemT", bound=Listed)


def write_listing(
    args: argparse.Namespace,
    *,
    message: Any,
    items: Sequence[ItemT],
    verbose: Callable[[ItemT], None],
    rows: Callable[[], Sequence[Sequence[str]]],
) -> int:
    """How crictl's listers (images, pods, ps) print: JSON or YAML of the whole response,
    ids only (-q), the verbose form (-v), else a table."""
    if args.output in ("json", "yaml"):
        write_data(message_to_json(message), args.output)
    elif args.quiet:
        for item in items:
            print(item.id)
    elif args.verbose:
        for item in items:
            verbose(item)
    else:
        sys.stdout.write(table(rows()))
    return 0


MessageT = TypeVar("MessageT")


def load_message(path: str, message: MessageT, what: str) -> MessageT:
    """A CRI config from a JSON file (proto or camelCase names; unknown fields ignored, as
    crictl does). YAML is not read, except YAML that is also JSON."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CtlError(f"load {what}: {exc.strerror}: {path!r}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = f"{path!r} is not JSON (YAML is not supported): {exc}"
        raise CtlError(f"load {what}: {reason}") from None
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise CtlError(f"load {what}: {path!r}: {exc}") from None
    return message


def status_data(statuses: Sequence[tuple[Json, dict[str, str]]]) -> Json:
    """crictl `outputStatusData`: {"status": …, <info key>: …} per item; a list if several."""
    result = []
    for status, info in statuses:
        entry: dict[str, Json] = {"status": status}
        for key in sorted(info):
            value = info[key]
            entry[key] = json.loads(value) if value.startswith("{") else value.strip('"')
        result.append(entry)
    return result[0] if len(result) == 1 else result


_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_/.:@+-]*$")
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ""})


def to_yaml(data: Json) -> str:
    """YAML as sigs.k8s.io/yaml writes it: sorted keys, block style, lists at the key's indent."""
    return "".join(line + "\n" for line in _yaml_lines(data, 0))


def _yaml_scalar(value: Json) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS and not text.endswith(":"):
        return text
    return json.dumps(text, ensure_ascii=False)


def _yaml_lines(data: Json, indent: int) -> Iterable[str]:
    pad = " " * indent
    if isinstance(data, dict):
        if not data:
            yield pad + "{}"
        for key in sorted(data):
            yield from _yaml_entry(f"{pad}{_yaml_scalar(key)}:", data[key], indent, nested=indent)
    elif isinstance(data, list):
        if not data:
            yield pad + "[]"
        for item in data:
            yield from _yaml_entry(f"{pad}-", item, indent, nested=indent + 2)
    else:
        yield pad + _yaml_scalar(data)


def _yaml_entry(head: str, value: Json, indent: int, *, nested: int) -> Iterable[str]:
    if isinstance(value, dict | list) and value:
        if head.endswith("-"):  # "- first: line" on the dash, the rest below it
            first, *rest = _yaml_lines(value, nested)
            yield f"{head} {first.lstrip()}"
            yield from rest
        else:  # go-yaml v2 writes a list at its key's indent, a mapping two further in
            yield head
            yield from _yaml_lines(value, indent + 2 if isinstance(value, dict) else indent)
    else:
        yield f"{head} {_yaml_scalar(value)}"
