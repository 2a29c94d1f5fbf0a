"""GetContainerEvents, stats and resource updates, end to end on one real daemon (runc,
conmon) shared by the module: the events of a pod's whole life in order, an exit while the
daemon is down delivered after its restart, a slow subscriber closed while another keeps
receiving, `crio-py ctl events` beside crictl's, CPU usage rates from successive samples, and
resource updates of a created container applied at its start and kept over a restart.

The module's fixture removes everything and checks `Node.leaks()` at the end; each test
removes its own pods.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import grpc
import pytest
from cri_api.v1 import api_pb2

from tests.e2e.conftest import outlives_tests
from tests.e2e.node import CGROUP_ROOT, Node, cgroups_named, container_config, node, pod_config
from tests.fixtures.catalog import PushedImages

pytestmark = pytest.mark.e2e

CREATED = api_pb2.CONTAINER_CREATED_EVENT
STARTED = api_pb2.CONTAINER_STARTED_EVENT
STOPPED = api_pb2.CONTAINER_STOPPED_EVENT
DELETED = api_pb2.CONTAINER_DELETED_EVENT
SLEEPER = ("/bin/sleep", "1000")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, pushed_images: PushedImages) -> Iterator[Node]:
    registry = pushed_images.registries["plain"].host
    with node(tmp_path_factory.mktemp("events"), registry) as current:
        current.busybox = current.pull(pushed_images.ref("plain", "busybox"))
        yield current
        current.remove_everything()
        assert current.leaks() == []


@dataclass
class Watcher:
    """A GetContainerEvents stream read by a thread into a queue (or left unread)."""

    call: grpc.Future
    events: queue.Queue[api_pb2.ContainerEventResponse | grpc.RpcError] = field(
        default_factory=queue.Queue
    )
    thread: threading.Thread | None = None

    def read(self) -> None:
        try:
            for event in self.call:  # type: ignore[attr-defined]
                self.events.put(event)
        except grpc.RpcError as error:
            self.events.put(error)

    def next(self, timeout_s: float = 20) -> api_pb2.ContainerEventResponse:
        item = self.events.get(timeout=timeout_s)
        if isinstance(item, grpc.RpcError):
            raise item
        return item

    def about(self, ids: set[str], count: int) -> list[api_pb2.ContainerEventResponse]:
        """The next `count` events about `ids` (others, of other tests, are skipped)."""
        found = []
        while len(found) < count:
            event = self.next()
            if event.container_id in ids:
                found.append(event)
        return found

    def close(self) -> None:
        self.call.cancel()
        if self.thread is not None:
            self.thread.join(10)


@contextlib.contextmanager
def watching(current: Node, *, read: bool = True) -> Iterator[Watcher]:
    """A stream open (and subscribed: the daemon logs it) for the block."""
    served = _served_streams(current)
    request = api_pb2.GetEventsRequest()
    watcher = Watcher(current.runtime.GetContainerEvents(request, wait_for_ready=True))
    if read:
        watcher.thread = threading.Thread(target=watcher.read, daemon=True)
        watcher.thread.start()
    try:
        deadline = time.monotonic() + 10
        while _served_streams(current) <= served:
            assert time.monotonic() < deadline, "GetContainerEvents was not served"
            time.sleep(0.05)
        yield watcher
    finally:
        watcher.close()


def _served_streams(current: Node) -> int:
    return current.daemon.log_path.read_text().count("GetContainerEvents started")


def kinds(events: list[api_pb2.ContainerEventResponse]) -> list[tuple[str, int]]:
    return [(e.container_id, e.container_event_type) for e in events]


def test_events_follow_every_transition_of_a_pod_in_order(shared: Node) -> None:
    runtime = shared.runtime
    with watching(shared) as watcher:
        pod_id, pod = shared.run_pod("lifecycle")
        container_id = shared.create(pod_id, pod, container_config("app", shared.busybox, *SLEEPER))
        shared.start(container_id)
        runtime.StopContainer(api_pb2.StopContainerRequest(container_id=container_id, timeout=1))
        runtime.RemoveContainer(api_pb2.RemoveContainerRequest(container_id=container_id))
        runtime.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod_id))
        runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
        events = watcher.about({pod_id, container_id}, 8)
    assert kinds(events) == [
        (pod_id, CREATED),
        (pod_id, STARTED),
        (container_id, CREATED),
        (container_id, STARTED),
        (container_id, STOPPED),
        (container_id, DELETED),
        (pod_id, STOPPED),
        (pod_id, DELETED),
    ]
    by_step = dict(zip(["run", "started", "created", "start", "stop", "rm"], events, strict=False))
    assert by_step["run"].pod_sandbox_status.state == api_pb2.SANDBOX_READY
    assert by_step["created"].pod_sandbox_status.id == pod_id
    states = [[s.state for s in e.containers_statuses] for e in events[2:6]]
    exited = api_pb2.CONTAINER_EXITED
    assert states == [[api_pb2.CONTAINER_CREATED], [api_pb2.CONTAINER_RUNNING], [exited], []]
    assert events[4].containers_statuses[0].exit_code == 137
    assert events[6].pod_sandbox_status.state == api_pb2.SANDBOX_NOTREADY
    assert not events[7].HasField("pod_sandbox_status")
    assert all(e.created_at > 0 for e in events)
    assert [e.created_at for e in events] == sorted(e.created_at for e in events)


def test_an_exit_while_the_daemon_is_down_is_sent_after_its_restart(shared: Node) -> None:
    pod_id, pod = shared.run_pod("restarted")
    short = shared.create(
        pod_id, pod, container_config("short", shared.busybox, "/bin/sh", "-c", "sleep 2; exit 7")
    )
    shared.start(short)
    shared.daemon.kill()
    time.sleep(3)  # the container exits while no daemon runs
    shared.daemon.start()
    outlives_tests(shared.daemon.process.pid if shared.daemon.process else -1)
    with watching(shared) as watcher:
        (event,) = watcher.about({short}, 1)
    assert event.container_event_type == STOPPED
    (status,) = event.containers_statuses
    assert (status.id, status.state, status.exit_code) == (short, api_pb2.CONTAINER_EXITED, 7)
    assert event.pod_sandbox_status.id == pod_id
    shared.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))


def test_a_slow_subscriber_is_closed_while_another_keeps_receiving(shared: Node) -> None:
    """The unread stream's transport window fills first, then its buffer of 100 events: big
    annotations make each event large, so the window holds few."""
    pod_id, pod = shared.run_pod("slow")
    big = {"filler": "x" * 512 * 1024}
    made: list[str] = []
    with watching(shared) as fast, watching(shared, read=False) as slow:
        for index in range(40):
            config = container_config(f"c{index}", shared.busybox, "/bin/true", annotations=big)
            made.append(shared.create(pod_id, pod, config))
            shared.start(made[-1])
            shared.runtime.RemoveContainer(api_pb2.RemoveContainerRequest(container_id=made[-1]))
            if _closed(shared):
                break
        assert _closed(shared), "the unread stream was never closed"
        seen = fast.about(set(made), 4 * len(made))
        lives = (CREATED, STARTED, STOPPED, DELETED)
        assert kinds(seen) == [(c, kind) for c in made for kind in lives]
        with pytest.raises(grpc.RpcError) as raised:
            list(slow.call)  # type: ignore[call-overload]
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "fell 100 events behind" in (raised.value.details() or "")
    shared.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))


def _closed(current: Node) -> bool:
    return (
        "Closed a container events stream that fell behind" in current.daemon.log_path.read_text()
    )


CRICTL = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "bin" / "crictl"


def _event_printers(current: Node) -> dict[str, list[str]]:
    endpoint = f"unix://{current.daemon.socket}"
    printers = {"crio-py": [sys.executable, "-m", "crio_py", "ctl", "-r", endpoint, "events"]}
    if CRICTL.exists():  # crictl v1.36, beside the conformance suite
        printers["crictl"] = [str(CRICTL), "--runtime-endpoint", endpoint, "events"]
    return printers


def _document_about(stream: IO[str], object_id: str) -> str:
    """The first JSON document printed about `object_id` (the first subscriber also gets
    the events held since the last one left)."""
    text = ""
    while True:
        line = stream.readline()
        assert line, f"the stream ended after {text!r}"
        text += line
        with contextlib.suppress(json.JSONDecodeError):
            if json.loads(text)["containerId"] == object_id:
                return text
            text = ""


def _failures(processes: dict[str, subprocess.Popen[str]]) -> str:
    """What the printers that ended said."""
    ended = {n: p for n, p in processes.items() if p.poll() is not None and p.stderr}
    return "; ".join(f"{n}: {p.stderr.read() if p.stderr else ''}" for n, p in ended.items())


def test_ctl_events_prints_what_crictl_prints(shared: Node) -> None:
    served = _served_streams(shared)
    printers = _event_printers(shared)
    processes = {
        name: subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "CRI_CONFIG_FILE"},
        )
        for name, argv in printers.items()
    }
    try:
        deadline = time.monotonic() + 20
        while _served_streams(shared) < served + len(processes):
            assert time.monotonic() < deadline, _failures(processes)
            time.sleep(0.05)
        pod_id, _ = shared.run_pod("printed")
        printed = {
            name: _document_about(p.stdout, pod_id) for name, p in processes.items() if p.stdout
        }
    finally:
        for process in processes.values():
            process.terminate()
            process.communicate(timeout=10)  # reads what is left and closes the pipes
    shared.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
    ours = json.loads(printed["crio-py"])
    assert ours["containerId"] == pod_id
    assert ours["containerEventType"] == "CONTAINER_CREATED_EVENT"
    assert ours["podSandboxStatus"]["state"] == "SANDBOX_READY"
    if "crictl" in printed:  # Go's protojson adds random spaces: compare what it says
        theirs = json.loads(printed["crictl"])
        assert json.dumps(ours, indent=1) == json.dumps(theirs, indent=1)


def _memory_limit(container_id: str) -> int:
    (directory,) = [d for d in cgroups_named({container_id}) if "/memory/" in str(d)]
    return int((directory / "memory.limit_in_bytes").read_text())


def test_a_created_containers_update_applies_at_start_and_survives_a_restart(
    shared: Node,
) -> None:
    pod_id, pod = shared.run_pod("updated")
    config = container_config("app", shared.busybox, *SLEEPER)
    config.linux.resources.CopyFrom(api_pb2.LinuxContainerResources(cpu_shares=256))
    container_id = shared.create(pod_id, pod, config)
    wanted = api_pb2.LinuxContainerResources(memory_limit_in_bytes=96 << 20, cpu_quota=20000)
    shared.runtime.UpdateContainerResources(
        api_pb2.UpdateContainerResourcesRequest(container_id=container_id, linux=wanted)
    )
    assert shared.status(container_id).state == api_pb2.CONTAINER_CREATED
    shared.start(container_id)
    assert _memory_limit(container_id) == 96 << 20
    shared.daemon.stop()
    shared.daemon.start()
    outlives_tests(shared.daemon.process.pid if shared.daemon.process else -1)
    reported = shared.status(container_id).resources.linux
    assert reported.memory_limit_in_bytes == 96 << 20
    assert (reported.cpu_shares, reported.cpu_quota) == (256, 20000)
    shared.runtime.UpdatePodSandboxResources(
        api_pb2.UpdatePodSandboxResourcesRequest(pod_sandbox_id=pod_id, resources=wanted)
    )
    shared.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))


@contextlib.contextmanager
def pod_cgroup() -> Iterator[str]:
    """A cgroup parent for a pod, as the kubelet makes one (runc makes the directories in
    each hierarchy); removed afterwards."""
    name = f"crio-py-e2e-{secrets.token_hex(4)}"
    try:
        yield f"/{name}"
    finally:
        for hierarchy in CGROUP_ROOT.iterdir():
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                (hierarchy / name).rmdir()


def test_stats_rates_swap_and_the_pods_own_cgroup(shared: Node) -> None:
    runtime = shared.runtime
    with pod_cgroup() as parent:
        config = pod_config("stats", shared.log_dir)
        config.linux.cgroup_parent = parent
        pod_id = runtime.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=config)).pod_sandbox_id
        busy = container_config("busy", shared.busybox, "/bin/sh", "-c", "while :; do :; done")
        busy.linux.resources.CopyFrom(
            api_pb2.LinuxContainerResources(cpu_quota=20000, cpu_period=100000)
        )
        container_id = shared.create(pod_id, config, busy)
        shared.start(container_id)
        request = api_pb2.ContainerStatsRequest(container_id=container_id)
        runtime.ContainerStats(request)  # the first sample
        time.sleep(1)
        stats = runtime.ContainerStats(request).stats
        assert 0 < stats.cpu.usage_nano_cores.value < 1_000_000_000  # at most 0.2 CPU
        assert stats.HasField("swap")  # memory.memsw.* on this host
        assert stats.swap.swap_usage_bytes.value == 0
        pod_request = api_pb2.PodSandboxStatsRequest(pod_sandbox_id=pod_id)
        runtime.PodSandboxStats(pod_request)
        time.sleep(1)
        pod_stats = runtime.PodSandboxStats(pod_request).stats.linux
        assert pod_stats.cpu.usage_nano_cores.value > 0
        assert pod_stats.memory.usage_bytes.value > 0
        runtime.StopContainer(api_pb2.StopContainerRequest(container_id=container_id))
        (listed,) = [
            s
            for s in runtime.ListPodSandboxStats(api_pb2.ListPodSandboxStatsRequest()).stats
            if s.attributes.id == pod_id
        ]
        # Its only container has exited; the pod's cgroup still says what it used.
        used_ns = listed.linux.cpu.usage_core_nano_seconds.value
        assert used_ns >= pod_stats.cpu.usage_core_nano_seconds.value > 0
        assert [c.attributes.id for c in listed.linux.containers] == [container_id]
        fs = shared.images.ImageFsInfo(api_pb2.ImageFsInfoRequest())
        assert list(fs.container_filesystems) == list(fs.image_filesystems)
        runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
