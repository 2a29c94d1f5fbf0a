"""The `crio-py config` command line: exit codes, output formats, targets, default, schema, show."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crio_py.cli import main
from crio_py.config.defaults import default_text
from crio_py.config.diagnostics import CODES, Severity
from crio_py.config.rules import all_target_names
from crio_py.config.schema import ALL_SCHEMAS, schema_for
from tests.conftest import CONFIGS

CLEAN = "version = 3\n"
ERROR = 'version = 3\nroot = "var/lib/containerd"\n'  # relative-path at line 2, column 8
WARNING = "version = 3\nbogus = 1\n"  # unknown-key at line 2, column 1
NOTE = ('version = 3\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]\n'
        "systemdcgroup = true\n")  # key-case (info) at line 3, column 1
NEITHER = "[something]\nx = 1\n"
DIAGNOSTIC_KEYS = {"code", "severity", "file", "line", "column", "key", "message", "hint"}
TEXT_LINE = re.compile(
    r"^(?P<file>.+):(?P<line>\d+):(?P<column>\d+): (?P<severity>error|warning|info)"
    r"\[(?P<code>[a-z-]+)\] (?P<message>.+)$"
)
SUMMARY = re.compile(r"^\d+ errors, \d+ warnings, \d+ notes$")


@dataclass(frozen=True)
class Run:
    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Cli = Callable[..., Run]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run `crio-py ARGS…` in-process; return its status, stdout and stderr."""

    def run(*argv: str | Path) -> Run:
        status = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return Run(status, captured.out, captured.err)

    return run


def write(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def codes(run: Run) -> list[str]:
    return [d["code"] for d in run.json()["diagnostics"]]


# -- exit codes ---------------------------------------------------------------------------------
def test_a_clean_file_exits_0(cli: Cli, tmp_path: Path) -> None:
    run = cli("config", "lint", write(tmp_path, "config.toml", CLEAN))
    assert (run.status, run.out, run.err) == (0, "0 errors, 0 warnings, 0 notes\n", "")


def test_errors_exit_1(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "config.toml", ERROR)
    run = cli("config", "lint", path)
    assert run.status == 1
    first, summary = run.out.splitlines()
    assert first.startswith(f"{path}:2:8: error[relative-path] `root`: ")
    assert summary == "1 errors, 0 warnings, 0 notes"


def test_warnings_exit_0_and_1_with_strict(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "config.toml", WARNING)
    plain = cli("config", "lint", path)
    strict = cli("config", "lint", path, "--strict")
    assert plain.status == 0
    assert strict.status == 1
    assert plain.out == strict.out
    assert plain.out.splitlines()[0].startswith(f"{path}:2:1: warning[unknown-key] ")


def test_notes_do_not_fail_strict(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "config.toml", NOTE)
    run = cli("config", "lint", path, "--strict", "--format", "json")
    assert run.status == 0
    assert [(d["code"], d["severity"]) for d in run.json()["diagnostics"]] == [("key-case", "info")]


def test_a_missing_file_exits_2(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    run = cli("config", "lint", path, "--format", "json")
    assert run.status == 2
    (diagnostic,) = run.json()["diagnostics"]
    assert (diagnostic["code"], diagnostic["severity"], diagnostic["file"]) == (
        "unreadable-file", "error", str(path))


def test_a_file_that_is_not_utf8_exits_2(cli: Cli, tmp_path: Path) -> None:
    run = cli("config", "lint", write(tmp_path, "config.toml", b"version = 3\nroot = '\xff'\n"),
              "--format", "json")
    assert run.status == 2
    assert codes(run) == ["unreadable-file"]


def test_an_unreadable_file_beside_a_clean_one_still_exits_2(cli: Cli, tmp_path: Path) -> None:
    clean = write(tmp_path, "config.toml", CLEAN)
    assert cli("config", "lint", clean, tmp_path / "missing.toml").status == 2


def test_a_toml_syntax_error_exits_1(cli: Cli, tmp_path: Path) -> None:
    run = cli("config", "lint", write(tmp_path, "config.toml", "version = 3\n[grpc\n"),
              "--format", "json")
    assert run.status == 1
    assert [(d["code"], d["line"]) for d in run.json()["diagnostics"]] == [("toml-syntax", 2)]


def test_a_file_of_neither_format_exits_2(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "settings.toml", NEITHER)
    run = cli("config", "lint", path, "--format", "json")
    assert run.status == 2
    (diagnostic,) = run.json()["diagnostics"]
    assert (diagnostic["code"], diagnostic["file"], diagnostic["hint"]) == (
        "unknown-format", str(path), "pass --format containerd|crio|hosts")


@pytest.mark.parametrize("target", ["containerd-9.9", "containerd", "docker-1.0", "crio-1.25",
                                    "crio-1", "containerd-2.x"])
def test_an_unknown_target_exits_2(cli: Cli, tmp_path: Path, target: str) -> None:
    run = cli("config", "lint", write(tmp_path, "config.toml", CLEAN), "--target", target)
    assert run.status == 2
    assert run.out == ""
    assert run.err == (f"crio-py: unknown target {target!r}; choose one of "
                       f"{', '.join(all_target_names())}\n")


def test_an_unknown_output_format_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("config", "lint", write(tmp_path, "config.toml", CLEAN), "--format", "yaml")
    assert exit_info.value.code == 2


# -- output formats -----------------------------------------------------------------------------
def test_json_output_shape(cli: Cli, tmp_path: Path) -> None:
    error = write(tmp_path, "a/config.toml", ERROR)
    warning = write(tmp_path, "b/config.toml", WARNING)
    run = cli("config", "lint", error, warning, "--format", "json")
    document = run.json()
    assert isinstance(document, dict)
    assert set(document) == {"diagnostics", "summary"}
    assert isinstance(document["diagnostics"], list)
    for diagnostic in document["diagnostics"]:
        assert set(diagnostic) == DIAGNOSTIC_KEYS
    first, second = document["diagnostics"]
    assert {k: v for k, v in first.items() if k != "message"} == {
        "code": "relative-path", "severity": "error", "file": str(error), "line": 2, "column": 8,
        "key": "root", "hint": None}
    assert "var/lib/containerd" in first["message"]
    assert {k: v for k, v in second.items() if k not in ("message", "hint")} == {
        "code": "unknown-key", "severity": "warning", "file": str(warning), "line": 2,
        "column": 1, "key": "bogus"}
    assert document["summary"] == {"error": 1, "warning": 1, "info": 0}
    assert run.status == 1


def test_json_output_of_a_clean_file(cli: Cli, tmp_path: Path) -> None:
    run = cli("config", "lint", write(tmp_path, "config.toml", CLEAN), "--format", "json")
    assert run.json() == {"diagnostics": [], "summary": {"error": 0, "warning": 0, "info": 0}}


def test_sarif_output(cli: Cli, tmp_path: Path) -> None:
    error = write(tmp_path, "a/config.toml", ERROR)
    note = write(tmp_path, "b/config.toml", NOTE)
    run = cli("config", "lint", error, note, "--format", "sarif")
    log = run.json()
    assert log["version"] == "2.1.0"
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    (sarif_run,) = log["runs"]
    driver = sarif_run["tool"]["driver"]
    assert driver["name"] == "crio-py config lint"
    rules = driver["rules"]
    assert [rule["id"] for rule in rules] == sorted(CODES)
    levels = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
    for rule in rules:
        assert rule["shortDescription"]["text"] == CODES[rule["id"]].summary
        assert rule["defaultConfiguration"]["level"] == levels[CODES[rule["id"]].severity]
    results = sarif_run["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("relative-path", "error"),
                                                             ("key-case", "note")]
    for result, (uri, line, column) in zip(results, [(str(error), 2, 8), (str(note), 3, 1)],
                                           strict=True):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == uri
        assert physical["region"] == {"startLine": line, "startColumn": column}
        assert result["message"]["text"]
    assert run.status == 1


def test_text_output(cli: Cli, tmp_path: Path) -> None:
    error = write(tmp_path, "a/config.toml", ERROR)
    warning = write(tmp_path, "b/config.toml", WARNING)
    run = cli("config", "lint", error, warning)
    lines = run.out.splitlines()
    assert SUMMARY.match(lines[-1])
    assert lines[-1] == "1 errors, 1 warnings, 0 notes"
    parsed = [TEXT_LINE.match(line) for line in lines[:-1] if not line.startswith("  hint: ")]
    assert all(parsed), lines
    found = [(m["file"], int(m["line"]), int(m["column"]), m["severity"], m["code"])
             for m in parsed if m]
    assert found == [(str(error), 2, 8, "error", "relative-path"),
                     (str(warning), 2, 1, "warning", "unknown-key")]


def test_text_output_prints_the_hint_below(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "settings.toml", NEITHER)
    lines = cli("config", "lint", path).out.splitlines()
    assert lines == [
        f"{path}:1:1: error[unknown-format] this is neither a containerd config, a hosts.toml "
        "nor a CRI-O config",
        "  hint: pass --format containerd|crio|hosts",
        "1 errors, 0 warnings, 0 notes",
    ]


# -- input format and targets -------------------------------------------------------------------
def test_format_crio_forces_the_input_format(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "config.toml", 'root = "/var/lib/x"\n')
    detected = cli("config", "lint", path, "--format", "json")
    forced = cli("config", "lint", path, "--format", "crio", "--format", "json")
    assert "misplaced-key" not in codes(detected)
    assert codes(forced) == ["misplaced-key"]
    (diagnostic,) = forced.json()["diagnostics"]
    assert diagnostic["key"] == "root"
    assert "CRI-O" in diagnostic["message"]
    assert forced.status == 0


def test_format_containerd_lints_a_file_of_neither_format(cli: Cli, tmp_path: Path) -> None:
    run = cli("config", "lint", write(tmp_path, "settings.toml", NEITHER), "--format",
              "containerd", "--format", "json")
    assert run.status == 0
    assert "unknown-format" not in codes(run)


def test_format_hosts_forces_hosts_rules(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "config.toml", 'capabilities = ["pull", "fly"]\n')
    run = cli("config", "lint", path, "--format", "hosts", "--format", "json")
    assert codes(run) == ["invalid-value"]
    assert run.status == 1


def test_one_target_per_daemon(cli: Cli, tmp_path: Path) -> None:
    containerd = write(tmp_path, "config.toml", "version = 4\n")
    crio = write(tmp_path, "crio.conf", '[crio.api]\ntls_min_version = "VersionTLS13"\n')
    newest = cli("config", "lint", containerd, crio, "--format", "json")
    older = cli("config", "lint", containerd, crio, "--target", "containerd-2.2",
                "--target", "crio-1.35", "--format", "json")
    assert (newest.status, newest.json()["diagnostics"]) == (0, [])
    found = [(d["file"], d["code"], d["severity"]) for d in older.json()["diagnostics"]]
    assert sorted(found) == sorted([(str(containerd), "unsupported-version", "error"),
                                    (str(crio), "unavailable-key", "warning")])
    assert older.status == 1


def test_a_target_applies_only_to_its_daemon(cli: Cli, tmp_path: Path) -> None:
    containerd = write(tmp_path, "config.toml", "version = 4\n")
    crio = write(tmp_path, "crio.conf", '[crio.api]\ntls_min_version = "VersionTLS13"\n')
    run = cli("config", "lint", containerd, crio, "--target", "crio-1.35", "--format", "json")
    assert [(d["file"], d["code"]) for d in run.json()["diagnostics"]] == [
        (str(crio), "unavailable-key")]
    run = cli("config", "lint", containerd, crio, "--target", "containerd-2.2", "--format", "json")
    assert [(d["file"], d["code"]) for d in run.json()["diagnostics"]] == [
        (str(containerd), "unsupported-version")]


# -- config default -----------------------------------------------------------------------------
DEFAULTS = [
    (["--format", "containerd", "--version", "2"], default_text("containerd", 2),
     ["--target", "containerd-1.7"], "config.toml"),
    (["--format", "containerd", "--version", "3"], default_text("containerd", 3), [],
     "config.toml"),
    (["--format", "containerd", "--version", "4"], default_text("containerd", 4), [],
     "config.toml"),
    (["--format", "crio"], default_text("crio"), [], "crio.conf"),
]


@pytest.mark.parametrize(("args", "expected", "target", "name"), DEFAULTS,
                         ids=["containerd-v2", "containerd-v3", "containerd-v4", "crio"])
def test_config_default_lints_clean(
    cli: Cli, tmp_path: Path, args: list[str], expected: str, target: list[str], name: str
) -> None:
    default = cli("config", "default", *args)
    assert (default.status, default.out, default.err) == (0, expected, "")
    path = write(tmp_path, name, default.out)
    lint = cli("config", "lint", path, *target, "--format", "json", "--strict")
    assert lint.json()["diagnostics"] == []
    assert lint.status == 0


@pytest.mark.parametrize("version", [2, 3, 4])
def test_config_default_writes_its_version(cli: Cli, version: int) -> None:
    run = cli("config", "default", "--version", str(version))
    assert tomllib.loads(run.out)["version"] == version


def test_config_default_is_containerd_version_3(cli: Cli) -> None:
    assert cli("config", "default").out == default_text("containerd", 3)


def test_config_default_has_no_version_1(cli: Cli) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("config", "default", "--version", "1")
    assert exit_info.value.code == 2


# -- config schema ------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "version"), ALL_SCHEMAS, ids=lambda v: str(v))
def test_config_schema_prints_the_schema(cli: Cli, kind: str, version: int | None) -> None:
    args = ["--format", kind] + (["--version", str(version)] if version is not None else [])
    run = cli("config", "schema", *args)
    assert run.status == 0
    assert run.json() == schema_for(kind, version)


def test_config_schema_defaults_to_containerd_version_3(cli: Cli) -> None:
    assert cli("config", "schema").json() == schema_for("containerd", 3)


# -- config show --------------------------------------------------------------------------------
def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


SHOWN = [
    (CONFIGS / "containerd" / "corpus" / "kubeadm-v3-systemd.toml", "containerd"),
    (CONFIGS / "containerd" / "corpus" / "v4-minimal.toml", "containerd"),
    (CONFIGS / "crio" / "corpus" / "kubeadm-systemd.conf", "crio"),
    (CONFIGS / "crio" / "corpus" / "main-plus-dropins" / "crio.conf", "crio"),
]


@pytest.mark.parametrize(("path", "kind"), SHOWN, ids=lambda v: v.name if isinstance(v, Path)
                         else v)
def test_config_show_in_toml_and_json(cli: Cli, path: Path, kind: str) -> None:
    as_json = cli("config", "show", path, "--output", "json")
    as_toml = cli("config", "show", path, "--output", "toml")
    assert (as_json.status, as_toml.status) == (0, 0)
    settings = as_json.json()
    assert settings["source_format"] == kind
    assert settings["source_files"][0] == str(path)
    assert settings["default_runtime"] in settings["runtimes"]
    assert tomllib.loads(as_toml.out) == without_nulls(settings)
    assert as_toml.out == cli("config", "show", path).out  # toml is the default output


def test_config_show_reads_the_values_of_the_file(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "config.toml", 'version = 3\nroot = "/srv/containerd"\n'
                 '[grpc]\naddress = "/run/test.sock"\n')
    settings = cli("config", "show", path, "--output", "json").json()
    assert settings["root_dir"] == "/srv/containerd"
    assert settings["socket"]["path"] == "/run/test.sock"


def test_config_show_without_a_path_shows_the_embedded_default(cli: Cli) -> None:
    run = cli("config", "show", "--output", "json")
    assert run.status == 0
    settings = run.json()
    assert (settings["root_dir"], settings["state_dir"]) == ("/var/lib/crio-py", "/run/crio-py")
    assert settings["socket"]["path"] == "/run/crio-py/crio-py.sock"


def test_config_show_format_crio_forces_the_input_format(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "config.toml", 'root = "/var/lib/x"\n')
    assert cli("config", "show", path, "--output", "json").json()["root_dir"] == "/var/lib/x"
    forced = cli("config", "show", path, "--format", "crio", "--output", "json")
    assert forced.status == 0
    assert forced.json()["source_format"] == "crio"
    assert forced.json()["root_dir"] == "/var/lib/containers/storage"  # top-level root is ignored


def test_config_show_prints_warnings_on_stderr(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "config.toml", WARNING)
    run = cli("config", "show", path, "--output", "json")
    assert run.status == 0
    assert run.json()["source_format"] == "containerd"
    assert run.err.splitlines()[0].startswith(f"{path}:2:1: warning[unknown-key] ")


def test_config_show_of_a_config_with_errors_exits_1(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "config.toml", ERROR)
    run = cli("config", "show", path)
    assert run.status == 1
    assert run.out == ""
    lines = run.err.splitlines()
    assert lines[0] == f"crio-py: {path}: the configuration has errors"
    assert lines[1].startswith(f"{path}:2:8: error[relative-path] ")
    assert lines[-1] == "1 errors, 0 warnings, 0 notes"


def test_config_show_of_a_missing_file_exits_2(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    run = cli("config", "show", path)
    assert run.status == 2
    assert run.out == ""
    assert run.err.splitlines()[0] == f"crio-py: {path}: cannot load the configuration"
    assert f"{path}:1:1: error[unreadable-file] " in run.err


def test_config_show_of_a_syntax_error_exits_2(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "config.toml", "version = 3\n[grpc\n")
    run = cli("config", "show", path)
    assert run.status == 2
    assert run.out == ""
    assert f"{path}:2:" in run.err
    assert "error[toml-syntax]" in run.err


def test_config_show_of_a_file_of_neither_format_exits_2(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "settings.toml", NEITHER)
    run = cli("config", "show", path)
    assert run.status == 2
    assert run.out == ""
    assert run.err == f"crio-py: {path}: not a containerd or CRI-O configuration\n"
