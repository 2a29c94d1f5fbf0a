"""`config lint` of Docker's daemon.json: syntax, unknown keys and wrong types, each at its line
and column (dockerd refuses to start on all of them)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from crio_py.config.diagnostics import Diagnostic, Severity, make
from crio_py.config.docker.jsonpos import JsonSyntaxError, PositionedJson, parse
from crio_py.config.docker.keys import (
    ADDRESS_POOL_KEYS,
    KEY_TYPES,
    RUNTIME_KEYS,
    ULIMIT_KEYS,
)

_TYPE_NAMES = {
    "string": "a string",
    "bool": "true or false",
    "int": "a whole number",
    "strings": "a list of strings",
    "object": "an object",
    "list": "a list",
}
CGROUP_DRIVERS = ("systemd", "cgroupfs")
_AT_KEY = ("unknown-key", "invalid-runtime")


def is_daemon_json(path: Path, text: str) -> bool:
    """A `.json` file, or text that starts like a JSON object."""
    return path.suffix == ".json" or text.lstrip().startswith("{")


def daemon_json_text(path: Path, forced_format: str | None) -> str | None:
    """The text of `path` when it is Docker's daemon.json, else None (the TOML reader reports
    a file that cannot be read)."""
    if forced_format not in (None, "docker") or not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text if forced_format or is_daemon_json(path, text) else None


def lint_docker_file(path: Path, forced_format: str | None, found: list[Diagnostic]) -> bool:
    """Lint `path` into `found` when it is Docker's daemon.json; False for any other file."""
    text = daemon_json_text(path, forced_format)
    if text is None:
        return False
    found.extend(lint_daemon_json(path, text))
    return True


def lint_daemon_json(path: Path, text: str) -> list[Diagnostic]:
    """Every problem dockerd would refuse the file for."""
    try:
        document = parse(text)
    except JsonSyntaxError as exc:
        where = exc.position
        return [
            make(
                "json-syntax",
                f"invalid JSON: {exc.message}",
                file=str(path),
                line=where.line,
                column=where.column,
            )
        ]
    return _Checker(document, str(path)).run()


class _Checker:
    def __init__(self, document: PositionedJson, file: str) -> None:
        self.document = document
        self.file = file
        self.found: list[Diagnostic] = []

    def run(self) -> list[Diagnostic]:
        data = self.document.data
        if not self.type_ok((), data, "object"):
            return self.found
        self.members((), data, KEY_TYPES, "daemon.json")
        self.shapes(data)
        return self.found

    def report(self, code: str, path: tuple[str | int, ...], message: str, **kw: Any) -> None:
        where = self.document.at(path) if code in _AT_KEY else self._value_at(path)
        key = ".".join(str(p) for p in path)
        self.found.append(
            make(code, message, file=self.file, line=where.line, column=where.column, key=key, **kw)
        )

    def _value_at(self, path: tuple[str | int, ...]) -> Any:
        return self.document.values.get(path) or self.document.at(path)

    def type_ok(self, path: tuple[str | int, ...], value: Any, wanted: str) -> bool:
        if _has_type(value, wanted):
            return True
        name = ".".join(str(p) for p in path) or "the file"
        self.report("invalid-type", path, f"{name} must be {_TYPE_NAMES[wanted]}")
        return False

    def members(
        self, path: tuple[str | int, ...], table: dict[str, Any], types: dict[str, str], where: str
    ) -> None:
        for key, value in table.items():
            wanted = types.get(key)
            if wanted is None:
                close = difflib.get_close_matches(key, list(types), n=1)
                self.report(
                    "unknown-key",
                    (*path, key),
                    f"{where} has no key {key!r}; dockerd refuses it",
                    hint=f"did you mean {close[0]!r}?" if close else "delete it",
                    severity=Severity.ERROR,
                )
            else:
                self.type_ok((*path, key), value, wanted)

    def shapes(self, data: dict[str, Any]) -> None:
        self.runtimes(data.get("runtimes"))
        self.named_objects("default-ulimits", data.get("default-ulimits"), ULIMIT_KEYS)
        pools = data.get("default-address-pools")
        if isinstance(pools, list):
            for index, pool in enumerate(pools):
                path = ("default-address-pools", index)
                if self.type_ok(path, pool, "object"):
                    self.members(path, pool, ADDRESS_POOL_KEYS, "an address pool")
        log_opts = data.get("log-opts")
        if isinstance(log_opts, dict):
            for key, value in log_opts.items():
                self.type_ok(("log-opts", key), value, "string")
        self.exec_opts(data.get("exec-opts"))

    def runtimes(self, runtimes: Any) -> None:
        if not isinstance(runtimes, dict):
            return
        self.named_objects("runtimes", runtimes, RUNTIME_KEYS)
        for name, runtime in runtimes.items():
            if (
                isinstance(runtime, dict)
                and not runtime.get("path")
                and not runtime.get("runtimeType")
            ):
                self.report(
                    "invalid-runtime",
                    ("runtimes", name),
                    f"runtime {name!r} sets neither path nor runtimeType",
                )

    def named_objects(self, name: str, table: Any, types: dict[str, str]) -> None:
        if not isinstance(table, dict):
            return
        for key, entry in table.items():
            if self.type_ok((name, key), entry, "object"):
                self.members((name, key), entry, types, f"{name}.{key}")

    def exec_opts(self, options: Any) -> None:
        if not isinstance(options, list):
            return
        for index, option in enumerate(options):
            if not isinstance(option, str):
                continue
            key, equals, value = option.partition("=")
            if not equals:
                self.report(
                    "invalid-value",
                    ("exec-opts", index),
                    f"exec option {option!r} is not key=value",
                )
            elif key.strip() == "native.cgroupdriver" and value.strip() not in CGROUP_DRIVERS:
                self.report(
                    "invalid-value",
                    ("exec-opts", index),
                    f"native.cgroupdriver must be systemd or cgroupfs, not {value!r}",
                )


def _has_type(value: Any, wanted: str) -> bool:
    if wanted == "bool":
        return isinstance(value, bool)
    if wanted == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if wanted == "strings":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    kinds: dict[str, type] = {"string": str, "object": dict, "list": list}
    return isinstance(value, kinds[wanted])
