"""Model introspection for lint: the TOML keys of a model tree and where each key may live."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from crio_py.config.source import KeyPath

ChildModel = Callable[[Mapping[str, Any]], type[BaseModel]]


def model_keys(model: type[BaseModel]) -> dict[str, Any]:
    """TOML key → annotation for each field of a model."""
    return {(info.alias or name): info.annotation for name, info in model.model_fields.items()}


def child_of(annotation: Any) -> tuple[str | None, type[BaseModel] | None]:
    """("model" | "map" | "list", model) when the annotation holds tables, else (None, None)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            kind, model = child_of(arg)
            if model is not None:
                return kind, model
        return None, None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    args = typing.get_args(annotation)
    if origin is dict and len(args) == 2 and is_model(args[1]):
        return "map", args[1]
    if origin is list and args and is_model(args[0]):
        return "list", args[0]
    return None, None


def is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def build_field_index(model: type[BaseModel]) -> dict[str, list[tuple[str, ...]]]:
    """Key name → table patterns (with `*` for map entries) where the model tree has it."""
    index: dict[str, list[tuple[str, ...]]] = {}
    for table, key in walk_model(model, (), set()):
        index.setdefault(key, []).append(table)
    return index


def walk_model(
    model: type[BaseModel], path: tuple[str, ...], seen: set[type[BaseModel]]
) -> Iterator[tuple[tuple[str, ...], str]]:
    if model in seen:
        return
    seen = {*seen, model}
    dynamic: Mapping[str, ChildModel] = getattr(model, "dynamic_children", {})
    for key, annotation in model_keys(model).items():
        yield path, key
        if key in dynamic:
            yield from walk_model(dynamic[key]({}), (*path, key), seen)
            continue
        kind, child = child_of(annotation)
        if child is None:
            continue
        if kind == "model":
            yield from walk_model(child, (*path, key), seen)
        elif kind == "map":
            yield from walk_model(child, (*path, key, "*"), seen)


def pattern_fits(pattern: tuple[str, ...], path: KeyPath) -> bool:
    return len(pattern) == len(path) and all(
        p in ("*", str(q)) for p, q in zip(pattern, path, strict=True)
    )


def common_prefix(pattern: tuple[str, ...], path: KeyPath) -> int:
    count = 0
    for p, q in zip(pattern, path, strict=False):
        if p not in ("*", str(q)):
            break
        count += 1
    return count


def fill_pattern(pattern: tuple[str, ...], path: KeyPath) -> KeyPath:
    """Replace `*` with the name used at the same place in `path`, or `<name>`."""
    filled: list[str | int] = []
    for index, part in enumerate(pattern):
        if part == "*":
            aligned = index < len(path) and common_prefix(pattern, path) >= index
            filled.append(path[index] if aligned else "<name>")
        else:
            filled.append(part)
    return tuple(filled)
