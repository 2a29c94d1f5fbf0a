"""crictl's formatting helpers: sizes, ids, tabwriter tables, durations, YAML."""

from __future__ import annotations

import pytest

from crio_py.ctl.endpoints import CtlError, grpc_target, parse_duration, resolve_endpoints
from crio_py.ctl.output import human_size, status_data, table, to_json, to_yaml, truncate_id


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (999, "999B"),
        (1000, "1kB"),
        (1_234_567, "1.23MB"),
        (1_200_000, "1.2MB"),
        (12_345_678, "12.3MB"),
        (999_999, "1e+03kB"),  # go-units does the same
        (3 * 10**12, "3TB"),
    ],
)
def test_human_size_matches_go_units(size: int, text: str) -> None:
    assert human_size(size) == text


def test_truncate_id() -> None:
    assert truncate_id("sha256:" + "0123456789abcdef" * 4) == "0123456789abc"
    assert truncate_id("short") == "short"


def test_table_pads_like_tabwriter() -> None:
    text = table([["A", "B", "C"], ["a-very-long-repository-name", "x", "yy"]])
    assert text.splitlines() == [
        "A" + " " * 29 + "B" + " " * 19 + "C",
        "a-very-long-repository-name   x" + " " * 19 + "yy",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2s", 2.0), ("500ms", 0.5), ("1m30s", 90.0), ("1h", 3600.0), ("3", 3.0), ("0", 0.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "2 s", "1x", "s"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_endpoints() -> None:
    assert grpc_target("/run/x.sock") == "unix:///run/x.sock"
    assert grpc_target("unix:///run/x.sock") == "unix:///run/x.sock"
    with pytest.raises(CtlError):
        grpc_target("npipe:////./pipe/x")
    assert resolve_endpoints(None, None, {}) == (
        "unix:///run/crio-py/crio-py.sock",
        "unix:///run/crio-py/crio-py.sock",
    )
    env = {"CONTAINER_RUNTIME_ENDPOINT": "unix:///a", "IMAGE_SERVICE_ENDPOINT": "unix:///b"}
    assert resolve_endpoints(None, None, env) == ("unix:///a", "unix:///b")
    assert resolve_endpoints("unix:///c", None, {}) == ("unix:///c", "unix:///c")


def test_status_data_parses_json_info_and_trims_quoted_strings() -> None:
    data = status_data([({"id": "x"}, {"info": '{"a": 1}', "note": '"quoted"'})])
    assert data == {"status": {"id": "x"}, "info": {"a": 1}, "note": "quoted"}
    assert status_data([({"id": "x"}, {}), ({"id": "y"}, {})]) == [
        {"status": {"id": "x"}},
        {"status": {"id": "y"}},
    ]


def test_sorted_json_escapes_like_go() -> None:
    assert to_json({"b": "<none>", "a": "&"}, sort_keys=True) == (
        '{\n  "a": "\\u0026",\n  "b": "\\u003cnone\\u003e"\n}\n'
    )


def test_yaml_quotes_what_would_change_type() -> None:
    data = {
        "num": "123",
        "t": "true",
        "e": "",
        "s": "docker.io/library/busybox:latest",
        "x": "a: b",
        "b": False,
        "i": 7,
        "z": None,
        "l": [],
        "m": {},
        "nested": [{"k": ["v"], "j": 1}],
    }
    assert to_yaml(data) == (
        "b: false\n"
        'e: ""\n'
        "i: 7\n"
        "l: []\n"
        "m: {}\n"
        "nested:\n"
        "- j: 1\n"
        "  k:\n"
        "  - v\n"
        'num: "123"\n'
        "s: docker.io/library/busybox:latest\n"
        't: "true"\n'
        'x: "a: b"\n'
        "z: null\n"
    )
