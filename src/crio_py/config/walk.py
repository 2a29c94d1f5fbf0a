"""The generic half of lint: walk a parsed TOML file against a model tree.

It reports keys the model lacks (unknown, misplaced, removed — with a "did you mean"), applies
the version rules of the target, validates types and values with pydantic, and returns a model
instance built from the keys that passed, so semantic checks always have something to read.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from crio_py.config.diagnostics import Diagnostic, make
from crio_py.config.introspect import (
    ChildModel,
    build_field_index,
    child_of,
    common_prefix,
    fill_pattern,
    model_keys,
    pattern_fits,
)
from crio_py.config.redact import is_secret_key
from crio_py.config.rules import KeyRule, Target, find_rule, version_text
from crio_py.config.source import KeyPath, Source

UnknownHook = Callable[["Walker", KeyPath, str, Any], bool]

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def table_name(path: KeyPath) -> str:
    """A key path written the way a TOML header writes it: plugins."io.containerd.grpc.v1.cri"."""
    return ".".join(
        str(part) if isinstance(part, int) or _BARE.match(part) else f'"{part}"' for part in path
    )


def dotted(path: KeyPath) -> str:
    """The dotted key path used in JSON output."""
    return ".".join(str(part) for part in path)


def _normalise(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


@dataclass
class Walker:
    """Walks one file; `diagnostics` collects what it finds."""

    source: Source
    target: Target
    rules: list[KeyRule]
    unknown_hook: UnknownHook | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    _field_index: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)

    def report(self, code: str, path: KeyPath, message: str, **extra: Any) -> None:
        """Add a diagnostic at a key (or at its value with value=True)."""
        at_value = bool(extra.pop("value", False))
        line, column = self.source.position(path, value=at_value)
        self.diagnostics.append(
            make(
                code,
                message,
                file=self.source.path,
                line=line,
                column=column,
                key=dotted(path),
                **extra,
            )
        )

    # -- the walk -------------------------------------------------------------------------
    def run(self, model: type[BaseModel], data: Mapping[str, Any], path: KeyPath = ()) -> Any:
        """Walk, validate, and return a model instance of what is valid."""
        self._field_index = build_field_index(model)
        cleaned = self.walk(model, data, path)
        return self.validate(model, cleaned, path)

    def walk(self, model: type[BaseModel], raw: Mapping[str, Any], path: KeyPath) -> dict[str, Any]:
        fields = model_keys(model)
        case_insensitive = bool(getattr(model, "case_insensitive", False))
        extra_allowed = model.model_config.get("extra") == "allow"
        cleaned: dict[str, Any] = {}
        for key, value in raw.items():
            key_path = (*path, key)
            rule = find_rule(self.rules, key_path)
            unset = _is_empty(value) or value == _field_default(model, key)
            if rule is not None and not (unset and not _removed(rule, self.target)):
                self.apply_rule(rule, key_path)
            name = key if key in fields else None
            if name is None and case_insensitive:
                name = next((f for f in fields if f.lower() == key.lower()), None)
                if name is not None:
                    self.report(
                        "key-case",
                        key_path,
                        f"`{key}` is read as `{name}` only because the match ignores case",
                        hint=f"write `{name}`",
                    )
            if name is None:
                hooked = self.unknown_hook is not None and self.unknown_hook(
                    self, key_path, key, value
                )
                if rule is None and not hooked and not extra_allowed:
                    self.report_unknown(model, key_path, key)
                if extra_allowed:
                    cleaned[key] = value
                continue
            cleaned[name] = self.walk_value(model, name, raw, value, key_path)
        return cleaned

    def walk_value(
        self, model: type[BaseModel], name: str, raw: Mapping[str, Any], value: Any, path: KeyPath
    ) -> Any:
        dynamic: Mapping[str, ChildModel] = getattr(model, "dynamic_children", {})
        if name in dynamic and isinstance(value, dict):
            child = dynamic[name](raw)
            walked = self.walk(child, value, path)
            instance = self.validate(child, walked, path)
            return instance.model_dump(by_alias=True, exclude_unset=True) if instance else {}
        kind, child_model = child_of(model_keys(model)[name])
        if child_model is None:
            return value
        if kind == "model" and isinstance(value, dict):
            return self.walk(child_model, value, path)
        if kind == "map" and isinstance(value, dict):
            return {
                k: self.walk(child_model, v, (*path, k)) if isinstance(v, dict) else v
                for k, v in value.items()
            }
        if kind == "list" and isinstance(value, list):
            return [
                self.walk(child_model, v, (*path, i)) if isinstance(v, dict) else v
                for i, v in enumerate(value)
            ]
        return value

    # -- rules and unknown keys ---------------------------------------------------------------
    def apply_rule(self, rule: KeyRule, path: KeyPath) -> None:
        target = self.target
        name = f"`{path[-1]}`"
        instead = f"; use {rule.replacement}" if rule.replacement else ""
        note = f" ({rule.note})" if rule.note else ""
        if rule.removed and target.version >= rule.removed:
            self.report(
                "removed-key",
                path,
                f"{name} was removed in {target.daemon_label(rule.removed)}{note}, so "
                f"{target.label} ignores it{instead}",
                hint=f"use {rule.replacement}" if rule.replacement else "delete it",
            )
        elif rule.added and target.version < rule.added:
            self.report(
                "unavailable-key",
                path,
                f"{name} was added in {target.daemon_label(rule.added)}, so "
                f"{target.label} ignores it{note}",
                hint=f"on {target.label} use {rule.replacement}"
                if rule.replacement
                else f"pick --target {target.daemon}-{version_text(rule.added)} or later",
            )
        elif rule.deprecated and target.version >= rule.deprecated:
            until = f" and goes in {target.daemon_label(rule.removed)}" if rule.removed else ""
            self.report(
                "deprecated-key",
                path,
                f"{name} is deprecated since {target.daemon_label(rule.deprecated)}"
                f"{until}{note}{instead}",
                hint=f"use {rule.replacement}" if rule.replacement else None,
            )

    def report_unknown(self, model: type[BaseModel], path: KeyPath, key: str) -> None:
        table = table_name(path[:-1]) or "the top level"
        fields = model_keys(model)
        same = {_normalise(f): f for f in fields}.get(_normalise(key))
        elsewhere = None if same else self.place_elsewhere(path)
        if elsewhere is not None:
            self.report(
                "misplaced-key",
                path,
                f"`{key}` is not a key of [{table}]; {self.target.daemon_name} reads it in "
                f"[{table_name(elsewhere)}] and ignores it here",
                hint=f"move it to [{table_name(elsewhere)}]",
            )
            return
        guess = same or did_you_mean(key, fields)
        self.report(
            "unknown-key",
            path,
            f"unknown key `{key}` in [{table}]; {self.target.daemon_name} ignores it",
            hint=f"did you mean `{guess}`?" if guess else None,
        )

    def place_elsewhere(self, path: KeyPath) -> KeyPath | None:
        """Where the model has this key name, nearest to where it was written."""
        candidates = [
            p for p in self._field_index.get(str(path[-1]), []) if not pattern_fits(p, path[:-1])
        ]
        if not candidates:
            return None
        best = max(candidates, key=lambda p: (common_prefix(p, path[:-1]), -len(p)))
        return fill_pattern(best, path[:-1])

    # -- validation ---------------------------------------------------------------------------
    def validate(self, model: type[BaseModel], cleaned: dict[str, Any], path: KeyPath) -> Any:
        """Validate; report each error and drop its key until what is left validates."""
        for _ in range(50):
            try:
                return model.model_validate(cleaned)
            except ValidationError as exc:
                for error in exc.errors():
                    loc = tuple(error["loc"])
                    self.report_validation(error, (*path, *loc))
                    _drop(cleaned, loc)
        return model.model_construct()

    def report_validation(self, error: Mapping[str, Any], path: KeyPath) -> None:
        kind = str(error["type"])
        named = {
            "invalid_duration": "invalid-duration",
            "invalid_image_ref": "invalid-image-ref",
            "invalid_port": "invalid-port",
            "relative_path": "relative-path",
        }
        if kind in named:
            self.report(named[kind], path, f"`{dotted(path[-1:])}`: {error['msg']}", value=True)
            return
        expected = _EXPECTED.get(kind)
        if expected is not None:
            value = error.get("input")
            secret = bool(path) and is_secret_key(path[-1])  # say its type, never its value
            got = toml_type(value, quote=not secret)
            self.report(
                "invalid-type",
                path,
                f"`{dotted(path[-1:])}` must be {expected}, not {got}",
                value=True,
                hint=None if secret else _type_hint(expected, value),
            )
            return
        self.report("invalid-value", path, f"`{dotted(path[-1:])}`: {error['msg']}", value=True)


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "bool_type": "a boolean",
    "float_type": "a number",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


_SCALAR_NAMES = ((bool, "boolean"), (str, "string"), (int, "integer"), (float, "number"))


def toml_type(value: Any, *, quote: bool = True) -> str:
    """The TOML name of a parsed value's type, with the value itself when `quote`."""
    for kind, name in _SCALAR_NAMES:
        if isinstance(value, kind):
            if not quote:
                return f"an {name}" if name == "integer" else f"a {name}"
            return f"the {name} {_literal(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def _literal(value: bool | str | float) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, str) else str(value)


def _type_hint(expected: str, value: Any) -> str | None:
    if isinstance(value, str) and expected == "a boolean" and value.lower() in ("true", "false"):
        return f"write {value.lower()} without quotes"
    if isinstance(value, str) and expected == "an integer" and value.lstrip("-").isdigit():
        return f"write {value} without quotes"
    if expected == "an array" and not isinstance(value, list):
        return "write it as an array: [ ... ]"
    return None


def _drop(data: Any, loc: tuple[Any, ...]) -> None:
    """Remove the deepest table key on `loc` (a list element drops the whole array)."""
    parent, last_key = data, None
    holder = data
    for part in loc:
        if isinstance(holder, dict) and part in holder:
            parent, last_key = holder, part
            holder = holder[part]
        elif isinstance(holder, list) and isinstance(part, int) and part < len(holder):
            holder = holder[part]
        else:
            break
    if isinstance(parent, dict) and last_key is not None:
        parent.pop(last_key, None)
    elif isinstance(data, dict) and loc:
        data.pop(loc[0], None)


def _is_empty(value: Any) -> bool:
    """True for "", false, 0, [] and tables holding only such values: a key left at nothing."""
    if isinstance(value, dict):
        return all(_is_empty(v) for v in value.values())
    return value in ("", False, 0, [])


def _field_default(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            default = info.get_default(call_default_factory=True)
            return default.model_dump() if isinstance(default, BaseModel) else default
    return None


def _removed(rule: KeyRule, target: Target) -> bool:
    return rule.removed is not None and target.version >= rule.removed


def did_you_mean(key: str, candidates: Mapping[str, Any]) -> str | None:
    """The nearest valid key: same letters ignoring case and underscores, else a close spelling."""
    by_norm = {_normalise(c): c for c in candidates}
    if _normalise(key) in by_norm:
        return by_norm[_normalise(key)]
    close = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.7)
    return close[0] if close else None
