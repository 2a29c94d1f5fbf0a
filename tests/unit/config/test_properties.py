"""Property tests: random mutations of valid configurations never crash `config lint`.

Each example starts from a valid configuration (a sample of the corpus, crio-py's own default
of each format, two hosts.toml files), mutates it, writes it into a fresh directory and lints it
twice: through `lint_paths` and through `crio-py config lint --format json`. Structural mutations
edit the data parsed with tomllib and write it back with tomlkit; byte mutations edit the raw
file, which usually breaks the TOML syntax or the UTF-8 encoding. Whatever the input, lint must
answer with well-formed diagnostics and an exit status, never with a traceback.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
import tomllib
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crio_py.cli import main
from crio_py.config.defaults import default_text
from crio_py.config.diagnostics import CODES, Severity
from crio_py.config.lint.report import as_dict
from crio_py.config.load import LintOptions, LintResult, lint_paths
from tests.conftest import CONFIGS

KeyPath = tuple[str | int, ...]

CONTAINERD_SAMPLE = [
    "minimal-v2.toml",
    "kubeadm-v3-systemd.toml",
    "multi-runtime-v3.toml",
    "private-mirror-v2.toml",
    "legacy-v1-cri.toml",
    "legacy-v1-with-linux-runtime.toml",
    "transfer-service-v3.toml",
    "metrics-debug-v2.toml",
    "v4-full.toml",
]
CRIO_SAMPLE = [
    "kubeadm-systemd.conf",
    "inherit-default-runtime.conf",
    "legacy-1.26-node.conf",
    "userns-mappings.conf",
    "openshift-node/crio.conf.d/00-default",
    "workload-partitioning/crio.conf.d/20-workloads.conf",
    "kata-containers/crio.conf.d/50-kata.conf",
]
HOSTS_SAMPLE = ["registry.example.com_5000_", "_default"]

# The name a mutated file is written under: it decides the format of a file left empty.
FILE_NAME = {"containerd": "config.toml", "crio": "crio.conf", "hosts": "hosts.toml"}


@dataclass(frozen=True)
class Seed:
    """A valid configuration that mutations start from."""

    name: str
    kind: str
    text: str

    @property
    def data(self) -> dict[str, Any]:
        return tomllib.loads(self.text)


def _seeds() -> list[Seed]:
    seeds = [Seed(name, "containerd", (CONFIGS / "containerd" / "corpus" / name).read_text())
             for name in CONTAINERD_SAMPLE]
    seeds += [Seed(name, "crio", (CONFIGS / "crio" / "corpus" / name).read_text())
              for name in CRIO_SAMPLE]
    seeds += [Seed(host, "hosts",
                   (CONFIGS / "containerd" / "certs.d" / host / "hosts.toml").read_text())
              for host in HOSTS_SAMPLE]
    seeds += [Seed(f"default containerd v{v}", "containerd", default_text("containerd", v))
              for v in (2, 3, 4)]
    seeds.append(Seed("default crio", "crio", default_text("crio")))
    return seeds


SEEDS = _seeds()
# About 20 ms an example: the whole module runs in some 20 seconds.
PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for the module; every example writes into a fresh subdirectory of it."""
    return tmp_path_factory.mktemp("mutations")


# -- strategies ---------------------------------------------------------------------------------
UNICODE = st.characters(codec="utf-8")
KEYS = st.one_of(
    st.text(UNICODE, max_size=12),
    st.sampled_from(["version", "plugins", "crio", "runtime", "runtimes", "options", "server",
                     "host", "imports", "cri", "io.containerd.grpc.v1.cri", "a.b", "Ä", "",
                     " ", "\n", "'\"", "SystemdCgroup", "systemdcgroup"]),
)
SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(UNICODE, max_size=20),
    "int": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "bool": st.booleans(),
    "float": st.floats(),
    "datetime": st.one_of(
        st.datetimes(timezones=st.sampled_from([None, dt.UTC])), st.dates(), st.times()
    ),
}
ANY_SCALAR = st.one_of(*SCALARS.values())
TOML_VALUES: dict[str, st.SearchStrategy[Any]] = {
    **SCALARS,
    "array": st.lists(ANY_SCALAR, max_size=4),
    "table": st.dictionaries(KEYS, ANY_SCALAR, max_size=3),
}
ANY_VALUE = st.one_of(*TOML_VALUES.values(), st.lists(st.dictionaries(KEYS, ANY_SCALAR,
                                                                      max_size=2), max_size=2))
# Bytes that matter to a TOML or UTF-8 parser, and plain random bytes.
SPECIAL_BYTES = st.sampled_from([b"[", b"]", b"[[", b"=", b'"', b"'", b'"""', b"\n", b"\r",
                                 b"{", b"}", b",", b".", b"#", b"\\", b" ", b"\t", b"\x00",
                                 b"\xff", b"\xc3", b"\xef\xbb\xbf", "é".encode()])
SOME_BYTES = st.one_of(SPECIAL_BYTES, st.binary(min_size=1, max_size=4))


# -- mutations of parsed data -------------------------------------------------------------------
def key_paths(value: Any, prefix: KeyPath = ()) -> list[KeyPath]:
    """Every key path below a value: table keys, and the tables inside arrays."""
    paths: list[KeyPath] = []
    if isinstance(value, dict):
        for key, child in value.items():
            paths.append((*prefix, key))
            paths += key_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            if isinstance(child, dict | list):
                paths += key_paths(child, (*prefix, index))
    return paths


def table_paths(data: dict[str, Any]) -> list[KeyPath]:
    """The root and every table below it (array-of-tables elements included)."""
    return [(), *(p for p in key_paths(data) if isinstance(get(data, p), dict))]


def get(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


def delete_key(data: dict[str, Any], path: KeyPath, _: st.DataObject) -> None:
    del get(data, path[:-1])[path[-1]]


def change_type(data: dict[str, Any], path: KeyPath, draw: st.DataObject) -> None:
    kind = draw.draw(st.sampled_from(sorted(TOML_VALUES)), label="new type")
    get(data, path[:-1])[path[-1]] = draw.draw(TOML_VALUES[kind], label=kind)


def rename_key(data: dict[str, Any], path: KeyPath, draw: st.DataObject) -> None:
    parent = get(data, path[:-1])
    new = draw.draw(KEYS, label="new name")
    renamed = {new if key == path[-1] else key: value for key, value in parent.items()}
    parent.clear()
    parent.update(renamed)


def wrap_in_array(data: dict[str, Any], path: KeyPath, draw: st.DataObject) -> None:
    parent = get(data, path[:-1])
    table = parent[path[-1]]
    if isinstance(table, dict):
        parent[path[-1]] = [table] * draw.draw(st.integers(1, 2), label="copies")


KEY_MUTATIONS: dict[str, Callable[[dict[str, Any], KeyPath, st.DataObject], None]] = {
    "delete": delete_key,
    "change type": change_type,
    "rename": rename_key,
    "wrap in array of tables": wrap_in_array,
}


def insert_key(data: dict[str, Any], draw: st.DataObject) -> None:
    table = get(data, draw.draw(st.sampled_from(table_paths(data)), label="into table"))
    table[draw.draw(KEYS, label="new key")] = draw.draw(ANY_VALUE, label="new value")


def change_version(data: dict[str, Any], draw: st.DataObject) -> None:
    data["version"] = draw.draw(st.one_of(st.integers(-3, 7), ANY_VALUE), label="version")


def mutate(data: dict[str, Any], draw: st.DataObject) -> None:
    """Apply one random structural mutation."""
    paths = [p for p in key_paths(data) if isinstance(p[-1], str)]
    choices = ["insert", "version", *(KEY_MUTATIONS if paths else [])]
    operation = draw.draw(st.sampled_from(choices), label="mutation")
    if operation == "insert":
        insert_key(data, draw)
    elif operation == "version":
        change_version(data, draw)
    else:
        # Half of the time a table: tables are few among the keys, and the riskiest to change.
        tables = [p for p in paths if isinstance(get(data, p), dict)] or paths
        where = st.one_of(st.sampled_from(paths), st.sampled_from(tables))
        KEY_MUTATIONS[operation](data, draw.draw(where, label="at"), draw)


# -- byte mutations -----------------------------------------------------------------------------
def edit_bytes(raw: bytes, draw: st.DataObject) -> bytes:
    """Apply one random byte-level edit."""
    operation = draw.draw(st.sampled_from(["insert", "delete", "replace", "duplicate line"]),
                          label="byte edit")
    at = draw.draw(st.integers(0, len(raw)), label="offset")
    if operation == "insert":
        return raw[:at] + draw.draw(SOME_BYTES, label="bytes") + raw[at:]
    if operation == "delete":
        return raw[:at] + raw[at + draw.draw(st.integers(1, 8), label="length"):]
    if operation == "replace":
        return raw[:at] + draw.draw(SOME_BYTES, label="bytes") + raw[at + 1:]
    lines = raw.splitlines(keepends=True) or [b""]
    index = min(at, len(lines) - 1)
    return b"".join([*lines[: index + 1], lines[index], *lines[index + 1:]])


# -- the property -------------------------------------------------------------------------------
def write(workdir: Path, kind: str, content: str | bytes) -> Path:
    path = Path(tempfile.mkdtemp(dir=workdir)) / FILE_NAME[kind]
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def run_cli(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        status = main(argv)
    return status, out.getvalue()


def expected_status(result: LintResult) -> int:
    if result.unreadable:
        return 2
    return 1 if any(d.severity is Severity.ERROR for d in result.diagnostics) else 0


def assert_lint_is_well_behaved(path: Path) -> LintResult:
    """Lint the file both ways and check every property of the answer."""
    result = lint_paths([path], LintOptions())
    for d in result.diagnostics:
        assert d.code in CODES, d
        assert isinstance(d.severity, Severity), d
        assert d.line >= 1, d
        assert d.column >= 1, d
    codes = [d.code for d in result.diagnostics if d.file == str(path)]
    try:
        text = path.read_text(encoding="utf-8")  # read exactly as lint reads it
    except UnicodeDecodeError:
        assert codes == ["unreadable-file"]
        assert result.unreadable
    else:
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            assert codes == ["toml-syntax"]
            (syntax,) = result.diagnostics
            assert syntax.severity is Severity.ERROR
            assert syntax.line <= text.count("\n") + 1
        else:
            assert "toml-syntax" not in codes
            assert "unreadable-file" not in codes
    status, output = run_cli(["config", "lint", str(path), "--format", "json"])
    assert status in (0, 1, 2)
    document = json.loads(output)
    assert document["diagnostics"] == [as_dict(d) for d in result.diagnostics]
    assert status == expected_status(result)
    return result


# -- tests --------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: s.name)
def test_seeds_survive_the_tomlkit_round_trip(seed: Seed) -> None:
    """The mutations start from the seed's data exactly (tomlkit writes what tomllib read)."""
    assert tomllib.loads(tomlkit.dumps(seed.data)) == seed.data


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: s.name)
def test_unmutated_seeds_are_linted_as_their_format(seed: Seed, workdir: Path) -> None:
    result = assert_lint_is_well_behaved(write(workdir, seed.kind, tomlkit.dumps(seed.data)))
    assert not result.unreadable
    assert {"toml-syntax", "unknown-format"}.isdisjoint(d.code for d in result.diagnostics)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: s.name)
def test_every_table_replaced_by_an_integer_is_linted(seed: Seed, workdir: Path) -> None:
    """The exhaustive case of one mutation: each table in turn becomes an integer."""
    for path in table_paths(seed.data)[1:]:
        config = seed.data
        get(config, path[:-1])[path[-1]] = 7
        assert_lint_is_well_behaved(write(workdir, seed.kind, tomlkit.dumps(config)))


@PROPERTY_SETTINGS
@given(data=st.data())
def test_structural_mutations_never_crash_lint(workdir: Path, data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(SEEDS), label="seed")
    config = seed.data
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        mutate(config, data)
    assert_lint_is_well_behaved(write(workdir, seed.kind, tomlkit.dumps(config)))


@PROPERTY_SETTINGS
@given(data=st.data())
def test_any_version_value_never_crashes_lint(workdir: Path, data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(SEEDS), label="seed")
    config = seed.data
    change_version(config, data)
    assert_lint_is_well_behaved(write(workdir, seed.kind, tomlkit.dumps(config)))


@PROPERTY_SETTINGS
@given(data=st.data())
def test_byte_edits_never_crash_lint(workdir: Path, data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(SEEDS), label="seed")
    raw = seed.text.encode()
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        raw = edit_bytes(raw, data)
    assert_lint_is_well_behaved(write(workdir, seed.kind, raw))


def test_a_syntax_error_is_reported_as_toml_syntax(workdir: Path) -> None:
    path = write(workdir, "containerd", "version = 3\n[plugins\nroot = '/x'\n")
    result = assert_lint_is_well_behaved(path)
    assert [(d.code, d.line) for d in result.diagnostics] == [("toml-syntax", 2)]


def test_invalid_utf8_is_reported_as_unreadable(workdir: Path) -> None:
    path = write(workdir, "crio", b"[crio]\nroot = '/\xff'\n")
    result = assert_lint_is_well_behaved(path)
    assert [d.code for d in result.diagnostics] == ["unreadable-file"]
    assert result.unreadable
