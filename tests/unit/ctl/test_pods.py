"""`crio-py ctl runp | stopp | rmp | inspectp | pods` against a real grpc server with a fake
RuntimeService that keeps pod sandboxes in memory."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc.aio
import pytest
from cri_api.v1 import api_pb2, api_pb2_grpc

from crio_py import cli
from crio_py.ctl.pods import go_time, human_duration, rfc3339_nano
from tests.unit.cri.fakes import short_tmp_dir

NGINX_ID = "a" * 64
WEB_ID = "ab" + "c" * 62
DNS_ID = "d" * 64
SECOND = 1_000_000_000
CREATED_AT = 1_700_000_000_123_456_789  # 2023-11-14T22:13:20.123456789Z


def sandbox(
    pod_id: str,
    name: str,
    namespace: str,
    *,
    age_s: int,
    ready: bool = True,
    attempt: int = 0,
    handler: str = "",
    labels: dict[str, str] | None = None,
) -> api_pb2.PodSandbox:
    return api_pb2.PodSandbox(
        id=pod_id,
        metadata=api_pb2.PodSandboxMetadata(
            name=name, uid=f"uid-{name}", namespace=namespace, attempt=attempt
        ),
        state=api_pb2.SANDBOX_READY if ready else api_pb2.SANDBOX_NOTREADY,
        created_at=time.time_ns() - age_s * SECOND,
        labels=labels or {},
        runtime_handler=handler,
    )


class FakeSandboxes(api_pb2_grpc.RuntimeServiceServicer):  # type: ignore[misc]
    """Pod sandboxes in memory; ids resolve by unique prefix, as crio-py's truncindex does.

    `errors[rpc]` makes an RPC fail with that code; `calls` records (rpc, request).
    """

    def __init__(self) -> None:
        self.pods: dict[str, api_pb2.PodSandbox] = {}
        self.errors: dict[str, grpc.StatusCode] = {}
        self.calls: list[tuple[str, object]] = []
        self.next_id = "f" * 64

    async def _enter(self, rpc: str, request: object, context: grpc.aio.ServicerContext) -> None:
        self.calls.append((rpc, request))
        if rpc in self.errors:
            await context.abort(self.errors[rpc], f"{rpc} failed")

    def find(self, pod_id: str) -> api_pb2.PodSandbox | None:
        found = [p for i, p in self.pods.items() if pod_id and i.startswith(pod_id)]
        return found[0] if len(found) == 1 else None

    async def RunPodSandbox(
        self, request: api_pb2.RunPodSandboxRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.RunPodSandboxResponse:
        await self._enter("RunPodSandbox", request, context)
        self.pods[self.next_id] = api_pb2.PodSandbox(
            id=self.next_id,
            metadata=request.config.metadata,
            state=api_pb2.SANDBOX_READY,
            created_at=time.time_ns(),
            runtime_handler=request.runtime_handler,
        )
        return api_pb2.RunPodSandboxResponse(pod_sandbox_id=self.next_id)

    async def StopPodSandbox(
        self, request: api_pb2.StopPodSandboxRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.StopPodSandboxResponse:
        await self._enter("StopPodSandbox", request, context)
        found = self.find(request.pod_sandbox_id)
        if found is not None:
            found.state = api_pb2.SANDBOX_NOTREADY
        return api_pb2.StopPodSandboxResponse()

    async def RemovePodSandbox(
        self, request: api_pb2.RemovePodSandboxRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.RemovePodSandboxResponse:
        await self._enter("RemovePodSandbox", request, context)
        found = self.find(request.pod_sandbox_id)
        if found is not None:
            del self.pods[found.id]
        return api_pb2.RemovePodSandboxResponse()

    async def PodSandboxStatus(
        self, request: api_pb2.PodSandboxStatusRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.PodSandboxStatusResponse:
        await self._enter("PodSandboxStatus", request, context)
        found = self.find(request.pod_sandbox_id)
        if found is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"sandbox {request.pod_sandbox_id!r} not found"
            )
        assert found is not None
        status = api_pb2.PodSandboxStatus(
            id=found.id,
            metadata=found.metadata,
            state=found.state,
            created_at=CREATED_AT,
            network=api_pb2.PodSandboxNetworkStatus(
                ip="10.88.0.5", additional_ips=[api_pb2.PodIP(ip="fd00::5")]
            ),
            labels=found.labels,
            runtime_handler=found.runtime_handler,
        )
        info = {}
        if request.verbose:
            info["info"] = json.dumps({"id": found.id, "namespaces": {"net": "/run/netns/x"}})
        return api_pb2.PodSandboxStatusResponse(status=status, info=info)

    async def ListPodSandbox(
        self, request: api_pb2.ListPodSandboxRequest, context: grpc.aio.ServicerContext
    ) -> api_pb2.ListPodSandboxResponse:
        await self._enter("ListPodSandbox", request, context)
        wanted = request.filter
        items = list(self.pods.values())
        if wanted.id:
            found = self.find(wanted.id)
            items = [found] if found is not None else []
        if wanted.HasField("state"):
            items = [p for p in items if p.state == wanted.state.state]
        items = [
            p for p in items if all(p.labels.get(k) == v for k, v in wanted.label_selector.items())
        ]
        return api_pb2.ListPodSandboxResponse(items=items)


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeSandboxes, str]]:
    sandboxes = FakeSandboxes()
    for pod in (
        sandbox(NGINX_ID, "nginx", "default", age_s=5, labels={"app": "nginx"}),
        sandbox(WEB_ID, "web", "prod", age_s=120, ready=False, attempt=2, handler="kata"),
        sandbox(DNS_ID, "coredns", "kube-system", age_s=3 * 3600, labels={"app": "dns"}),
    ):
        sandboxes.pods[pod.id] = pod
    with short_tmp_dir() as tmp:
        endpoint = f"unix://{tmp}/crio.sock"
        server = grpc.aio.server()
        api_pb2_grpc.add_RuntimeServiceServicer_to_server(sandboxes, server)
        server.add_insecure_port(endpoint)
        await server.start()
        try:
            yield sandboxes, endpoint
        finally:
            await server.stop(None)


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


class Ctl:
    def __init__(self, endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.endpoint = endpoint
        self.capsys = capsys

    async def __call__(self, *args: str) -> Result:
        code = await asyncio.to_thread(cli.main, ["ctl", "-r", self.endpoint, *args])
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err
        return Result(code, out, err)


@pytest.fixture
def ctl(fake: tuple[FakeSandboxes, str], capsys: pytest.CaptureFixture[str]) -> Ctl:
    return Ctl(fake[1], capsys)


@pytest.fixture
def pods(fake: tuple[FakeSandboxes, str]) -> FakeSandboxes:
    return fake[0]


def row(*cells: str, widths: tuple[int, ...]) -> str:
    return "".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)) + cells[-1] + "\n"


WIDTHS = (20, 20, 20, 20, 20, 20)
HEADER = row("POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME", widths=WIDTHS)


# formatting helpers


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4, "Less than a second"),
        (1.9, "1 second"),
        (5.2, "5 seconds"),
        (59.9, "59 seconds"),
        (60, "About a minute"),
        (150, "2 minutes"),
        (3599, "59 minutes"),
        (3600, "About an hour"),
        (5 * 3600, "5 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration_matches_go_units(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_go_times(utc: None) -> None:
    assert go_time(CREATED_AT) == "2023-11-14 22:13:20.123456789 +0000 UTC"
    assert go_time(1_700_000_000_500_000_000) == "2023-11-14 22:13:20.5 +0000 UTC"
    assert rfc3339_nano(CREATED_AT) == "2023-11-14T22:13:20.123456789Z"
    assert rfc3339_nano(1_700_000_000 * SECOND) == "2023-11-14T22:13:20Z"


# pods


async def test_pods_table_newest_first(ctl: Ctl) -> None:
    result = await ctl("pods")
    assert result.code == 0
    assert result.out == (
        HEADER
        + row(
            "a" * 13, "5 seconds ago", "Ready", "nginx", "default", "0", "(default)", widths=WIDTHS
        )
        + row(
            "ab" + "c" * 11, "2 minutes ago", "NotReady", "web", "prod", "2", "kata", widths=WIDTHS
        )
        + row(
            "d" * 13,
            "3 hours ago",
            "Ready",
            "coredns",
            "kube-system",
            "0",
            "(default)",
            widths=WIDTHS,
        )
    )


async def test_pods_filters(ctl: Ctl, pods: FakeSandboxes) -> None:
    result = await ctl("pods", "-q", "--state", "READY", "--label", "app=dns")
    assert (result.code, result.out) == (0, DNS_ID + "\n")
    request = pods.calls[-1][1]
    assert isinstance(request, api_pb2.ListPodSandboxRequest)
    assert request.filter.state.state == api_pb2.SANDBOX_READY
    assert dict(request.filter.label_selector) == {"app": "dns"}
    assert (await ctl("pods", "-q", "--id", "ab")).out == WEB_ID + "\n"
    assert (await ctl("pods", "-q", "--name", "^(web|nginx)$")).out == f"{NGINX_ID}\n{WEB_ID}\n"
    assert (await ctl("pods", "-q", "--namespace", "kube")).out == DNS_ID + "\n"
    assert (await ctl("pods", "-q", "--latest")).out == NGINX_ID + "\n"
    assert (await ctl("pods", "-q", "--last", "2")).out == f"{NGINX_ID}\n{WEB_ID}\n"


async def test_pods_no_trunc_and_an_empty_list(ctl: Ctl) -> None:
    result = await ctl("pods", "--no-trunc", "--id", NGINX_ID)
    widths = (67, 20, 20, 20, 20, 20)
    assert result.out == (
        row("POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME", widths=widths)
        + row(
            NGINX_ID, "5 seconds ago", "Ready", "nginx", "default", "0", "(default)", widths=widths
        )
    )
    assert (await ctl("pods", "--id", "zzz")).out == HEADER


async def test_pods_json_and_yaml(ctl: Ctl) -> None:
    result = await ctl("pods", "-o", "json", "--id", "ab")
    assert result.code == 0
    data = json.loads(result.out)
    assert [item["id"] for item in data["items"]] == [WEB_ID]
    assert data["items"][0]["state"] == "SANDBOX_NOTREADY"
    assert data["items"][0]["metadata"]["attempt"] == 2
    assert list(data["items"][0]) == [
        "id",
        "metadata",
        "state",
        "createdAt",
        "labels",
        "annotations",
        "runtimeHandler",
    ]
    yaml = await ctl("pods", "-o", "yaml", "--id", "ab")
    assert yaml.out.startswith("items:\n- annotations: {}\n")
    assert f"  id: {WEB_ID}\n" in yaml.out


async def test_pods_verbose(ctl: Ctl, pods: FakeSandboxes, utc: None) -> None:
    pods.pods[NGINX_ID].created_at = CREATED_AT
    result = await ctl("pods", "-v", "--id", "aaa")
    assert result.out == (
        f"ID: {NGINX_ID}\nName: nginx\nUID: uid-nginx\nNamespace: default\nStatus: Ready\n"
        "Created: 2023-11-14 22:13:20.123456789 +0000 UTC\nLabels:\n\tapp -> nginx\n"
        "Runtime: (default)\n\n"
    )


async def test_pods_bad_arguments(ctl: Ctl, capsys: pytest.CaptureFixture[str]) -> None:
    result = await ctl("pods", "--label", "app")
    assert (result.code, result.err) == (1, "crio-py: incorrectly specified label: app\n")
    with pytest.raises(SystemExit) as exited:
        cli.main(["ctl", "pods", "--state", "running"])
    assert exited.value.code == 2
    assert "--state should be ready or notready" in capsys.readouterr().err


async def test_pods_rpc_failure(ctl: Ctl, pods: FakeSandboxes) -> None:
    pods.errors["ListPodSandbox"] = grpc.StatusCode.INTERNAL
    result = await ctl("pods")
    assert (result.code, result.out) == (1, "")
    assert result.err == "crio-py: INTERNAL: ListPodSandbox failed\n"


# runp


async def test_runp(ctl: Ctl, pods: FakeSandboxes, tmp_path: Path) -> None:
    config = tmp_path / "pod.json"
    config.write_text(
        json.dumps(
            {
                "metadata": {"name": "busy", "namespace": "default", "uid": "u1", "attempt": 1},
                "log_directory": "/tmp",
                "linux": {},
                "unknownField": True,
            }
        )
    )
    result = await ctl("runp", "--runtime", "runc", str(config))
    assert (result.code, result.out, result.err) == (0, "f" * 64 + "\n", "")
    request = pods.calls[-1][1]
    assert isinstance(request, api_pb2.RunPodSandboxRequest)
    assert request.runtime_handler == "runc"
    assert request.config.metadata.name == "busy"
    assert request.config.metadata.attempt == 1
    assert request.config.log_directory == "/tmp"


async def test_runp_bad_config(ctl: Ctl, tmp_path: Path) -> None:
    missing = await ctl("runp", str(tmp_path / "none.json"))
    assert missing.code == 1
    assert missing.err.startswith("crio-py: load podSandboxConfig: No such file or directory")
    config = tmp_path / "pod.yaml"
    config.write_text("metadata:\n  name: busy\n")
    not_json = await ctl("runp", str(config))
    assert not_json.code == 1
    assert "is not JSON (YAML is not supported)" in not_json.err
    config.write_text('{"metadata": {"attempt": "many"}}')
    bad_field = await ctl("runp", str(config))
    assert bad_field.code == 1
    assert bad_field.err.startswith("crio-py: load podSandboxConfig: ")


async def test_runp_failure(ctl: Ctl, pods: FakeSandboxes, tmp_path: Path) -> None:
    pods.errors["RunPodSandbox"] = grpc.StatusCode.INVALID_ARGUMENT
    config = tmp_path / "pod.json"
    config.write_text("{}")
    result = await ctl("runp", str(config))
    assert (result.code, result.out) == (1, "")
    assert result.err == "crio-py: INVALID_ARGUMENT: RunPodSandbox failed\n"


# stopp


async def test_stopp_with_short_ids(ctl: Ctl, pods: FakeSandboxes) -> None:
    result = await ctl("stopp", "aaaa", "ddd")
    assert (result.code, result.out) == (0, "Stopped sandbox aaaa\nStopped sandbox ddd\n")
    assert pods.pods[NGINX_ID].state == api_pb2.SANDBOX_NOTREADY
    assert pods.pods[DNS_ID].state == api_pb2.SANDBOX_NOTREADY


async def test_stopp_failure(ctl: Ctl, pods: FakeSandboxes) -> None:
    pods.errors["StopPodSandbox"] = grpc.StatusCode.DEADLINE_EXCEEDED
    result = await ctl("stopp", "aaaa")
    assert (result.code, result.out) == (1, "")
    assert result.err == "crio-py: DEADLINE_EXCEEDED: StopPodSandbox failed\n"


# rmp


async def test_rmp_a_stopped_pod(ctl: Ctl, pods: FakeSandboxes) -> None:
    result = await ctl("rmp", "ab")
    assert (result.code, result.out, result.err) == (0, "Removed sandbox ab\n", "")
    assert WEB_ID not in pods.pods


async def test_rmp_a_ready_pod_needs_force(ctl: Ctl, pods: FakeSandboxes) -> None:
    refused = await ctl("rmp", "aaa", "ab")
    assert (refused.code, refused.out) == (1, "Removed sandbox ab\n")
    assert refused.err == (
        "crio-py: pod sandbox 'aaa' is running, please stop it first\n"
        "crio-py: unable to remove the pod(s)\n"
    )
    assert NGINX_ID in pods.pods
    forced = await ctl("rmp", "-f", "aaa")
    assert (forced.code, forced.out) == (0, "Stopped sandbox aaa\nRemoved sandbox aaa\n")
    assert NGINX_ID not in pods.pods


async def test_rmp_all(ctl: Ctl, pods: FakeSandboxes) -> None:
    result = await ctl("rmp", "--all", "--force")
    assert result.code == 0
    assert result.out.count("Removed sandbox") == 3
    assert pods.pods == {}
    again = await ctl("rmp", "--all")
    assert (again.code, again.out, again.err) == (0, "", "No pods to remove\n")


async def test_rmp_errors(ctl: Ctl, pods: FakeSandboxes) -> None:
    nothing = await ctl("rmp")
    assert (nothing.code, nothing.err) == (1, "crio-py: rmp: give at least one POD-ID, or --all\n")
    unknown = await ctl("rmp", "zzz")
    assert unknown.code == 1
    assert unknown.err == (
        "crio-py: getting sandbox status of pod 'zzz': NOT_FOUND: sandbox 'zzz' not found\n"
        "crio-py: unable to remove the pod(s)\n"
    )
    pods.errors["RemovePodSandbox"] = grpc.StatusCode.INTERNAL
    failed = await ctl("rmp", "ab")
    assert (failed.code, failed.out) == (1, "")
    assert failed.err.startswith(
        "crio-py: removing the pod sandbox 'ab': INTERNAL: RemovePodSandbox failed\n"
    )


# inspectp


async def test_inspectp_json(ctl: Ctl, utc: None) -> None:
    result = await ctl("inspectp", "aaa")
    assert result.code == 0
    data = json.loads(result.out)
    assert list(data) == ["info", "status"]
    assert data["info"] == {"id": NGINX_ID, "namespaces": {"net": "/run/netns/x"}}
    status = data["status"]
    assert status["id"] == NGINX_ID
    assert status["createdAt"] == "2023-11-14T22:13:20.123456789Z"
    assert status["state"] == "SANDBOX_READY"
    assert status["network"] == {"additionalIps": [{"ip": "fd00::5"}], "ip": "10.88.0.5"}
    assert list(status) == sorted(status)


async def test_inspectp_several_quiet_and_yaml(ctl: Ctl, utc: None) -> None:
    several = json.loads((await ctl("inspectp", "-q", "aaa", "ddd")).out)
    assert [entry["status"]["id"] for entry in several] == [NGINX_ID, DNS_ID]
    assert all(list(entry) == ["status"] for entry in several)
    yaml = await ctl("inspectp", "-o", "yaml", "ab")
    assert yaml.code == 0
    assert yaml.out.startswith("info:\n  id: " + WEB_ID + "\n")
    assert '  createdAt: "2023-11-14T22:13:20.123456789Z"\n' in yaml.out


async def test_inspectp_table(ctl: Ctl, utc: None) -> None:
    result = await ctl("inspectp", "-o", "table", "aaa")
    assert result.out == (
        f"ID: {NGINX_ID}\nName: nginx\nUID: uid-nginx\nNamespace: default\nAttempt: 0\n"
        "Status: SANDBOX_READY\nCreated: 2023-11-14 22:13:20.123456789 +0000 UTC\n"
        "IP Addresses: 10.88.0.5\nAdditional IP: fd00::5\nLabels:\n\tapp -> nginx\n"
        f'Info: map[info:{{"id": "{NGINX_ID}", "namespaces": {{"net": "/run/netns/x"}}}}]\n'
    )


async def test_inspectp_by_filter(ctl: Ctl) -> None:
    result = await ctl("inspectp", "-q", "--namespace", "prod")
    assert json.loads(result.out)["status"]["id"] == WEB_ID
    none = await ctl("inspectp", "--name", "nobody")
    assert (none.code, none.err) == (1, "crio-py: no IDs provided or nothing found per filter\n")


async def test_inspectp_unknown_pod(ctl: Ctl) -> None:
    result = await ctl("inspectp", "zzz")
    assert (result.code, result.out) == (1, "")
    assert result.err == "crio-py: NOT_FOUND: sandbox 'zzz' not found\n"
