"""kill -9 of the daemon at every crash point of every RPC that changes state, then a restart:
what the daemon reports must be the truth (runc's state, conmon processes, mounts, namespace
pins, host-local IP reservations, cgroups, the content store), and everything must then
stop and go with nothing left.

Each case has a node of its own. It sets things up on a daemon that is not armed, restarts it with
`CRIO_PY_CRASH_AT=<step>`, makes the call that reaches the step (the daemon dies and the
call fails), and restarts it once more, unarmed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from cri_api.v1 import api_pb2

from crio_py import crashpoint
from tests.e2e.node import Node, container_config, mount_points, pod_config, processes_naming
from tests.e2e.test_containers import SLEEPER
from tests.fixtures.catalog import PushedImages

CGROUP_ROOT = Path("/sys/fs/cgroup")
_STATES = {
    api_pb2.CONTAINER_CREATED: {"created"},
    api_pb2.CONTAINER_RUNNING: {"running"},
    api_pb2.CONTAINER_EXITED: {"stopped", ""},
}
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass
class Case:
    """A node, the pod and container a case sets up, and the cgroup parent of its pods."""

    cluster: Node
    images: PushedImages
    cgroup_parent: str
    pod_id: str = ""
    pod: api_pb2.PodSandboxConfig = field(default_factory=api_pb2.PodSandboxConfig)
    container_id: str = ""

    def run_pod(self, name: str = "crash", *, infra: bool = False) -> str:
        self.pod = pod_config(name, self.cluster.log_dir)
        self.pod.linux.cgroup_parent = self.cgroup_parent
        if infra:  # a shared PID namespace needs an infra (pause) container
            self.pod.linux.security_context.namespace_options.pid = api_pb2.POD
        reply = self.cluster.runtime.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=self.pod))
        self.pod_id = reply.pod_sandbox_id
        return self.pod_id

    def create(self, name: str = "sleeper") -> str:
        config = container_config(name, self.cluster.busybox, *SLEEPER)
        self.container_id = self.cluster.create(self.pod_id, self.pod, config)
        return self.container_id

    def start(self) -> None:
        self.cluster.start(self.container_id)

    def layered(self) -> str:
        return self.images.ref("plain", "layered")


def _pod(case: Case) -> None:
    case.run_pod()


def _created(case: Case) -> None:
    case.run_pod()
    case.create()


def _running(case: Case) -> None:
    _created(case)
    case.start()


def _pulled(case: Case) -> None:
    case.cluster.pull(case.layered())


def _nothing(case: Case) -> None:
    pass


Action = Callable[[Case], object]
rt = api_pb2

SCENARIOS: dict[str, tuple[Action, Action]] = {
    # step prefix: (set-up, the call that reaches the step)
    "RunPodSandbox": (_nothing, lambda c: c.run_pod()),
    "CreateContainer": (_pod, lambda c: c.create()),
    "StartContainer": (_created, lambda c: c.start()),
    "StopContainer": (
        _running,
        lambda c: c.cluster.runtime.StopContainer(
            rt.StopContainerRequest(container_id=c.container_id, timeout=10)
        ),
    ),
    "RemoveContainer": (
        _running,
        lambda c: c.cluster.runtime.RemoveContainer(
            rt.RemoveContainerRequest(container_id=c.container_id)
        ),
    ),
    "StopPodSandbox": (
        _running,
        lambda c: c.cluster.runtime.StopPodSandbox(
            rt.StopPodSandboxRequest(pod_sandbox_id=c.pod_id)
        ),
    ),
    "RemovePodSandbox": (
        _running,
        lambda c: c.cluster.runtime.RemovePodSandbox(
            rt.RemovePodSandboxRequest(pod_sandbox_id=c.pod_id)
        ),
    ),
    "PullImage": (_nothing, lambda c: c.cluster.pull(c.layered())),
    "RemoveImage": (
        _pulled,
        lambda c: c.cluster.images.RemoveImage(
            rt.RemoveImageRequest(image=rt.ImageSpec(image=c.layered()))
        ),
    ),
}


def test_every_crash_point_has_a_case() -> None:
    assert {step.split(":")[0] for step in crashpoint.STEPS} == set(SCENARIOS)


@pytest.fixture
def case(cluster: Node, pushed_images: PushedImages) -> Iterator[Case]:
    parent = f"/crio-py-crash-{secrets.token_hex(4)}"
    yield Case(cluster, pushed_images, parent)
    for directory in CGROUP_ROOT.glob(f"*{parent}"):
        with contextlib.suppress(OSError):  # not empty: the case has failed on it already
            directory.rmdir()


def test_a_pull_cut_short_stops_copying(case: Case, large_image_ref: str) -> None:
    """skopeo, copying an image large enough to be still at it, dies with the daemon."""
    _crash(case, "PullImage:copy-running", lambda c: c.cluster.pull(large_image_ref))
    _check_and_clean(case)


@pytest.mark.parametrize("step", crashpoint.STEPS)
def test_a_crash_leaves_the_truth(case: Case, step: str) -> None:
    set_up, call = SCENARIOS[step.split(":")[0]]
    set_up(case)
    _crash(case, step, call)
    _check_and_clean(case)


# The steps RunPodSandbox passes through when it runs an infra container.
INFRA_STEPS = (
    "RunPodSandbox:attached",
    "CreateContainer:rootfs-mounted",
    "CreateContainer:recorded",
    "CreateContainer:runtime-create-running",
    "CreateContainer:runtime-created",
    "StartContainer:runtime-started",
    "RunPodSandbox:recorded",
)


@pytest.mark.parametrize("step", INFRA_STEPS)
def test_a_crash_while_an_infra_container_starts(case: Case, step: str) -> None:
    _crash(case, step, lambda c: c.run_pod(infra=True))
    _check_and_clean(case)


def _crash(case: Case, step: str, call: Action) -> None:
    """Restart the daemon armed at `step`, make `call` and see it die there; then only
    conmon (and what it runs) may be left of it; start it again, unarmed."""
    cluster = case.cluster
    cluster.daemon.stop()
    cluster.daemon.start(env={crashpoint.ENV: step})
    process = cluster.daemon.process
    assert process is not None
    with pytest.raises(grpc.RpcError) as failed:
        call(case)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE, failed.value
    assert process.wait(timeout=10) == -9, f"the daemon did not crash at {step}"
    cluster.daemon.process = None
    deadline = time.monotonic() + 3
    while (orphans := _orphaned_children(cluster)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert orphans == [], "children outlived the daemon"
    cluster.daemon.start()


def _check_and_clean(case: Case) -> None:
    assert _untruths(case) == []
    _remove_everything(case)
    assert _leftovers(case) == []
    _works_again(case)


def _untruths(case: Case) -> list[str]:
    """What the daemon reports that the host contradicts."""
    cluster = case.cluster
    found: list[str] = []
    containers = cluster.runtime.ListContainers(rt.ListContainersRequest()).containers
    known = {c.id for c in containers}
    runc = _runc_states(cluster)
    monitored = _conmon_ids(cluster)
    for container in containers:
        state = runc.get(container.id, "")
        if state not in _STATES.get(container.state, set()):
            found.append(
                f"container {container.id[:12]} is {container.state} but runc says {state!r}"
            )
        if (state in ("created", "running")) != (container.id in monitored):
            found.append(
                f"container {container.id[:12]} ({state!r}) conmon: {container.id in monitored}"
            )
    pods = cluster.runtime.ListPodSandbox(rt.ListPodSandboxRequest()).items
    pod_ids = {p.id for p in pods}
    found += [f"runc has unknown container {i[:12]}" for i in set(runc) - known - pod_ids]
    found += [f"conmon of unknown container {i[:12]}" for i in monitored - known - pod_ids]
    reserved = _ip_reservations(cluster)
    found += [
        f"IP {ip} reserved for unknown pod {owner[:12]}"
        for ip, owner in reserved.items()
        if owner not in pod_ids
    ]
    for pod in pods:
        if pod.state == rt.SANDBOX_READY and pod.id not in reserved.values():
            found.append(f"ready pod {pod.id[:12]} holds no IP")
    work = str(cluster.daemon.workdir)
    for mount in mount_points():
        owner = next((part for part in mount.split("/") if _HEX64.fullmatch(part)), "")
        if mount.startswith(work) and owner not in known | pod_ids:
            found.append(f"mount {mount} of nothing the daemon reports")
    found += _image_untruths(case)
    found += [
        f"skopeo left running: {line}" for _, line in processes_naming(work) if "skopeo" in line
    ]
    return found


def _image_untruths(case: Case) -> list[str]:
    root = case.cluster.daemon.root
    found = []
    referenced: set[str] = set()
    for image in case.cluster.images.ListImages(rt.ListImagesRequest()).images:
        record = json.loads(
            (root / "images" / f"{image.id.removeprefix('sha256:')}.json").read_text()
        )
        digests = [record["manifest"]["digest"], record["config"]["digest"]]
        digests += [layer["digest"] for layer in record["layers"]]
        referenced |= {d.removeprefix("sha256:") for d in digests}
        for digest in digests:
            if not (
                root / "content" / "blobs" / "sha256" / digest.removeprefix("sha256:")
            ).is_file():
                found.append(f"image {image.id[:19]} lacks blob {digest[:19]}")
        for chain in record["chain_ids"]:
            if not (root / "snapshots" / chain.removeprefix("sha256:") / "fs").is_dir():
                found.append(f"image {image.id[:19]} lacks snapshot {chain[:19]}")
    blobs = {p.name for p in (root / "content" / "blobs" / "sha256").iterdir()}
    found += [f"blob {b[:12]} of no image" for b in blobs - referenced]
    found += [f"pull leftovers {p}" for p in (root / "tmp").glob("*")]
    return found


def _remove_everything(case: Case) -> None:
    cluster = case.cluster
    cluster.remove_everything()
    image = cluster.images.ImageStatus(
        rt.ImageStatusRequest(image=rt.ImageSpec(image=case.layered()))
    )
    if image.HasField("image"):
        cluster.images.RemoveImage(rt.RemoveImageRequest(image=rt.ImageSpec(image=case.layered())))


def _leftovers(case: Case) -> list[str]:
    cluster = case.cluster
    found = cluster.leaks()
    found += [f"runc container {i[:12]}" for i in _runc_states(cluster)]
    found += [f"IP {ip}" for ip in _ip_reservations(cluster)]
    found += [f"cgroup {d}" for d in CGROUP_ROOT.glob(f"*{case.cgroup_parent}/*") if d.is_dir()]
    root, state = cluster.daemon.root, cluster.daemon.state
    for directory in (
        root / "containers",
        root / "sandboxes",
        state / "containers",
        state / "attach",
    ):
        found += [f"left {p}" for p in directory.iterdir()]
    found += [f"left {p}" for p in (state / "ns").glob("*/*")]
    return found


def _works_again(case: Case) -> None:
    """The same pod and container names can be made again and run."""
    case.run_pod()
    case.create()
    case.start()
    assert case.cluster.status(case.container_id).state == rt.CONTAINER_RUNNING
    _remove_everything(case)
    assert _leftovers(case) == []


def _runc_states(cluster: Node) -> dict[str, str]:
    root = cluster.daemon.state / "runtimes" / "runc"
    reply = subprocess.run(
        ["runc", "--root", str(root), "list", "--format", "json"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return {item["id"]: item["status"] for item in json.loads(reply.stdout or "null") or []}


def _orphaned_children(cluster: Node) -> list[str]:
    """Processes of the dead daemon's requests that are not conmon or run by it: skopeo,
    CNI plugins, runc commands."""
    conmons = {
        pid
        for pid, line in processes_naming(str(cluster.daemon.workdir))
        if "conmon" in line.split()[0]
    }
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
            exe = os.readlink(status.parent / "exe")
            cmdline = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        pid, ppid = int(fields["Pid"]), int(fields["PPid"])
        if pid in conmons or ppid in conmons:
            continue
        if exe.startswith("/usr/lib/cni/") or str(cluster.daemon.workdir) in cmdline:
            found.append(f"{pid}: {cmdline[:160]}")
    return found


def _conmon_ids(cluster: Node) -> set[str]:
    """Containers a live conmon of this daemon monitors (conmon's `-c ID`)."""
    found = set()
    exits = str(cluster.daemon.state / "exits").encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if words[0].endswith(b"conmon") and b"-c" in words and exits in words:
            found.add(words[words.index(b"-c") + 1].decode())
    return found


def _ip_reservations(cluster: Node) -> dict[str, str]:
    """host-local's reservations: IP -> the container id it was given to."""
    found = {}
    for path in (cluster.daemon.workdir.parent / "ipam").glob("*/*"):
        if path.name.count(".") == 3:
            found[path.name] = path.read_text().split()[0]
    return found
