"""The pure parts of `crio-py ctl ps | logs | rm`: the table, log lines, tail, argument
parsing (the verbs against a real daemon are in tests/e2e/test_containers.py)."""

from __future__ import annotations

import argparse
import io

import pytest
from cri_api.v1 import api_pb2

from crio_py.cli import build_parser
from crio_py.ctl.containers import _rows, container_filter, select_containers, state_name
from crio_py.ctl.endpoints import CtlError
from crio_py.ctl.logs import LogLine, _lines, _tail
from crio_py.ctl.pods import removal_targets

SECOND = 1_000_000_000
NOW = 1_700_000_100 * SECOND


def _container(
    cid: str, name: str, age_s: int, state: int = api_pb2.CONTAINER_RUNNING
) -> api_pb2.Container:
    return api_pb2.Container(
        id=cid,
        pod_sandbox_id="p" * 64,
        metadata=api_pb2.ContainerMetadata(name=name, attempt=1),
        image=api_pb2.ImageSpec(image="docker.io/library/busybox:1"),
        state=state,  # type: ignore[arg-type]
        created_at=NOW - age_s * SECOND,
    )


def _ps(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["ctl", "ps", *argv])


def test_state_names() -> None:
    names = [state_name(s) for s in range(4)]
    assert names == ["Created", "Running", "Exited", "Unknown"]


def test_ps_table() -> None:
    rows = _rows([_container("a" * 64, "web", 5)], {"p" * 64: "mypod"}, False, NOW)
    assert rows[0] == ["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD"]
    assert rows[1] == [
        "a" * 13, "docker.io/library/busybox:1", "5 seconds ago", "Running", "web", "1",
        "p" * 13, "mypod",
    ]  # fmt: skip
    unknown_pod = _rows([_container("b" * 64, "x", 90)], {}, True, NOW)[1]
    assert unknown_pod[0] == "b" * 64 and unknown_pod[-1] == "unknown"


def test_ps_filters_and_selection() -> None:
    assert container_filter(_ps()).state.state == api_pb2.CONTAINER_RUNNING
    assert not container_filter(_ps("-a")).HasField("state")
    exited = container_filter(_ps("-a", "--state", "Exited", "--label", "a=b", "-p", "pod"))
    assert exited.state.state == api_pb2.CONTAINER_EXITED
    assert dict(exited.label_selector) == {"a": "b"} and exited.pod_sandbox_id == "pod"
    found = [_container("a" * 64, "web", 5), _container("b" * 64, "db", 1)]
    assert [c.metadata.name for c in select_containers(found, _ps())] == ["db", "web"]
    assert [c.metadata.name for c in select_containers(found, _ps("--name", "^w"))] == ["web"]
    assert len(select_containers(found, _ps("-l"))) == 1
    with pytest.raises(SystemExit):
        _ps("--state", "sleeping")


def test_log_lines_and_tail() -> None:
    data = (
        b"2023-11-14T22:13:20.123456789Z stdout P hel\n"
        b"2023-11-14T22:13:20.2Z stdout F lo\n"
        b"garbage\n"
        b"2023-11-14T22:13:21+00:00 stderr F oops\n"
        b"2023-11-14T22:13:22Z stdout F unfinished"
    )
    stream = io.BytesIO(data)
    lines = list(_lines(stream))
    assert [(x.stream, x.partial, x.content) for x in lines] == [
        ("stdout", True, b"hel"), ("stdout", False, b"lo"), ("stderr", False, b"oops"),
    ]  # fmt: skip
    assert stream.read() == b"2023-11-14T22:13:22Z stdout F unfinished"  # left for later
    assert lines[0].seconds() == pytest.approx(1_699_999_000 + 1000.123456, abs=1e-3)
    assert [x.content for x in _tail(lines, 1)] == [b"oops"]
    assert [x.content for x in _tail(lines, 2)] == [b"hel", b"lo", b"oops"]
    assert _tail(lines, 0) == [] and _tail(lines, 10) == lines
    assert LogLine.parse(b"2023 stdout F\n") == LogLine("2023", "stdout", False, b"")


def test_removal_targets(capsys: pytest.CaptureFixture[str]) -> None:
    rm = build_parser().parse_args(["ctl", "rm", "-a"])
    assert removal_targets(rm, [], lambda: ["x"], "containers") == ["x"]
    assert removal_targets(rm, [], lambda: [], "containers") == []
    assert capsys.readouterr().err == "No containers to remove\n"
    none = build_parser().parse_args(["ctl", "rm"])
    with pytest.raises(CtlError, match="rm: give at least one container ID"):
        removal_targets(none, [], lambda: ["x"], "containers")


def test_cpu_percent_over_two_samples() -> None:
    from crio_py.ctl.containers import _cpu_percent

    def sample(at_s: float, used_ns: int) -> api_pb2.ContainerStats:
        cpu = api_pb2.CpuUsage(
            timestamp=int(at_s * SECOND),
            usage_core_nano_seconds=api_pb2.UInt64Value(value=used_ns),
        )
        return api_pb2.ContainerStats(cpu=cpu)

    assert _cpu_percent(sample(1, 0), sample(2, SECOND // 4)) == 25.0
    assert _cpu_percent(sample(1, 0), sample(1, 5)) == 0.0
