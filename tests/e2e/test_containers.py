"""Pods and containers end to end through gRPC: the real daemon, conmon, runc, Debian's CNI
plugins and images pulled from the local registry. After every test nothing may be left:
no mount under the work dir, namespace pin, container cgroup or process naming the work dir.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cri_api.v1 import api_pb2
from google.protobuf import json_format

from tests.demo import run_demo
from tests.e2e.node import (
    Node,
    container_config,
    crio_node_with_busybox,
    mount_points,
    node,
    processes_naming,
)
from tests.e2e.test_network import _free_port
from tests.fixtures.catalog import PushedImages
from tests.fixtures.cninet import free_subnet

pytestmark = pytest.mark.e2e

HTTPD = (
    "mkdir -p /tmp/www && echo served-by-httpd > /tmp/www/index.html && "
    "exec /bin/httpd -f -p 8080 -h /tmp/www"
)
FETCH = (
    "for i in 1 2 3 4 5 6 7 8 9 10; do "
    "/bin/wget -q -O - http://127.0.0.1:8080/ && exit 0; /bin/sleep 0.2; done; exit 1"
)
SLEEPER = ("/bin/sleep", "1000")


def _wait_state(
    cluster: Node, container_id: str, state: int = api_pb2.CONTAINER_EXITED, timeout_s: float = 15
) -> api_pb2.ContainerStatus:
    deadline = time.monotonic() + timeout_s
    while True:
        status = cluster.status(container_id)
        if status.state == state or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def _run(
    cluster: Node, pod_id: str, pod: api_pb2.PodSandboxConfig, config: api_pb2.ContainerConfig
) -> str:
    container_id = cluster.create(pod_id, pod, config)
    cluster.start(container_id)
    return container_id


def _pod_ip(cluster: Node, pod_id: str) -> str:
    request = api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pod_id)
    return cluster.runtime.PodSandboxStatus(request).status.network.ip


def _code(call: object) -> grpc.StatusCode:
    assert callable(call)
    with pytest.raises(grpc.RpcError) as raised:
        call()
    code = raised.value.code()
    assert raised.value.details(), "an error needs a message"
    return code  # type: ignore[no-any-return]


def test_two_containers_share_the_pod_network(cluster: Node) -> None:
    host_port = _free_port()
    mapping = api_pb2.PortMapping(container_port=8080, host_port=host_port)
    pod_id, pod = cluster.run_pod("web", port_mappings=[mapping])
    image = cluster.busybox
    server = _run(cluster, pod_id, pod, container_config("server", image, "/bin/sh", "-c", HTTPD))
    assert cluster.status(server).state == api_pb2.CONTAINER_RUNNING
    client = _run(cluster, pod_id, pod, container_config("client", image, "/bin/sh", "-c", FETCH))
    done = _wait_state(cluster, client)
    assert (done.exit_code, done.reason) == (0, "Completed")
    assert " stdout F served-by-httpd" in Path(done.log_path).read_text()

    pod_ip = _pod_ip(cluster, pod_id)
    with urllib.request.urlopen(f"http://{pod_ip}:8080/", timeout=5) as reply:
        assert reply.read() == b"served-by-httpd\n"
    with urllib.request.urlopen(f"http://127.0.0.1:{host_port}/", timeout=5) as reply:
        assert reply.read() == b"served-by-httpd\n"

    by_pod = api_pb2.ContainerFilter(pod_sandbox_id=pod_id[:12])
    listed = cluster.runtime.ListContainers(api_pb2.ListContainersRequest(filter=by_pod))
    assert {c.id for c in listed.containers} == {server, client}
    running = api_pb2.ContainerFilter(
        state=api_pb2.ContainerStateValue(state=api_pb2.CONTAINER_RUNNING)
    )
    listed = cluster.runtime.ListContainers(api_pb2.ListContainersRequest(filter=running))
    assert [c.id for c in listed.containers] == [server]

    cluster.runtime.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod_id))
    stopped = cluster.status(server)
    assert stopped.state == api_pb2.CONTAINER_EXITED and stopped.exit_code == 137
    cluster.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
    assert list(cluster.runtime.ListContainers(api_pb2.ListContainersRequest()).containers) == []


def test_image_config_and_request_settings(cluster: Node) -> None:
    pod_id, pod = cluster.run_pod("settings")
    config = container_config(
        "show",
        cluster.configured,
        'echo "$GREETING $EXTRA $(id -un):$(id -gn) $(pwd)"',
        envs=[api_pb2.KeyValue(key="EXTRA", value="from-cri")],
    )
    container_id = _run(cluster, pod_id, pod, config)
    done = _wait_state(cluster, container_id)
    assert (done.exit_code, done.reason) == (0, "Completed")
    assert done.log_path == str(cluster.log_dir / "settings" / "show.log")
    lines = Path(done.log_path).read_text().splitlines()
    assert lines[-1].split(" ", 3)[1:] == ["stdout", "F", "hello from-cri app:app /srv"]

    workdir = container_config("workdir", cluster.configured, "pwd", working_dir="/tmp")
    done = _wait_state(cluster, _run(cluster, pod_id, pod, workdir))
    assert Path(done.log_path).read_text().endswith(" stdout F /tmp\n")


def test_read_only_rootfs_and_dropped_capabilities(cluster: Node) -> None:
    pod_id, pod = cluster.run_pod("locked")
    config = container_config("locked", cluster.busybox, *SLEEPER)
    sc = config.linux.security_context
    sc.readonly_rootfs = True
    sc.capabilities.drop_capabilities.append("CHOWN")
    container_id = _run(cluster, pod_id, pod, config)
    touched = cluster.exec(container_id, "/bin/sh", "-c", "touch /written")
    assert touched.exit_code != 0 and b"Read-only file system" in touched.stderr
    shm = cluster.exec(
        container_id, "/bin/sh", "-c", "touch /dev/shm/ok"
    )  # the pod's tmpfs stays writable
    assert shm.exit_code == 0
    status = cluster.exec(container_id, "/bin/sh", "-c", "grep CapBnd /proc/self/status").stdout
    bounding = int(status.split()[1], 16)
    assert bounding & 1 == 0  # CAP_CHOWN is bit 0
    assert bounding & (1 << 5)  # CAP_KILL stays
    chown = cluster.exec(container_id, "/bin/sh", "-c", "chown 1 /dev/shm/ok")
    assert chown.exit_code != 0


def test_memory_limit_breach_is_oom_killed(cluster: Node) -> None:
    pod_id, pod = cluster.run_pod("hungry")
    config = container_config(
        "hog", cluster.busybox, "/bin/sh", "-c", "head -c 200m /dev/zero | tail"
    )
    limit = 32 * 1024 * 1024
    config.linux.resources.memory_limit_in_bytes = limit
    config.linux.resources.memory_swap_limit_in_bytes = limit
    container_id = _run(cluster, pod_id, pod, config)
    done = _wait_state(cluster, container_id, timeout_s=30)
    assert done.state == api_pb2.CONTAINER_EXITED
    assert done.reason == "OOMKilled", (done.exit_code, done.reason)
    assert done.exit_code == 137


def test_exit_codes_logs_and_stop(cluster: Node) -> None:
    pod_id, pod = cluster.run_pod("exits")
    script = "echo to-out; echo to-err >&2; exit 3"
    failed = _run(
        cluster, pod_id, pod, container_config("fails", cluster.busybox, "/bin/sh", "-c", script)
    )
    done = _wait_state(cluster, failed)
    assert (done.exit_code, done.reason) == (3, "Error")
    assert done.started_at >= done.created_at > 0 and done.finished_at >= done.started_at
    streams = [line.split(" ", 3)[1:] for line in Path(done.log_path).read_text().splitlines()]
    assert sorted(streams) == [["stderr", "F", "to-err"], ["stdout", "F", "to-out"]]

    sleeper = _run(cluster, pod_id, pod, container_config("sleeper", cluster.busybox, *SLEEPER))
    started = time.monotonic()
    cluster.runtime.StopContainer(api_pb2.StopContainerRequest(container_id=sleeper, timeout=1))
    assert time.monotonic() - started >= 1.0  # pid 1 ignores SIGTERM: SIGKILL after 1 s
    stopped = cluster.status(sleeper)
    assert (stopped.state, stopped.exit_code) == (api_pb2.CONTAINER_EXITED, 137)
    cluster.runtime.StopContainer(api_pb2.StopContainerRequest(container_id=sleeper, timeout=1))

    printer = container_config("printer", cluster.busybox, *SLEEPER)
    printing = _run(cluster, pod_id, pod, printer)
    log = Path(cluster.status(printing).log_path)
    rotated = log.with_suffix(".1")
    log.rename(rotated)
    cluster.runtime.ReopenContainerLog(api_pb2.ReopenContainerLogRequest(container_id=printing))
    assert log.exists()
    cluster.runtime.RemoveContainer(api_pb2.RemoveContainerRequest(container_id=printing))
    cluster.runtime.RemoveContainer(api_pb2.RemoveContainerRequest(container_id=printing))
    assert _code(lambda: cluster.status(printing)) == grpc.StatusCode.NOT_FOUND


def test_exec_sync(cluster: Node) -> None:
    pod_id, pod = cluster.run_pod("execs")
    container_id = _run(cluster, pod_id, pod, container_config("target", cluster.busybox, *SLEEPER))
    reply = cluster.exec(container_id, "/bin/sh", "-c", "echo out; echo err >&2; exit 4")
    assert (reply.exit_code, reply.stdout, reply.stderr) == (4, b"out\n", b"err\n")
    started = time.monotonic()
    slow = cluster.exec(container_id, "/bin/sleep", "30", timeout=1)
    assert time.monotonic() - started < 10
    assert slow.exit_code != 0 and b"timed out" in slow.stderr
    # critest: "timeout exec process should be gone", as a zombie too (pid 1 reaps nothing).
    stats = cluster.exec(container_id, "/bin/sh", "-c", "cat /proc/[0-9]*/stat").stdout.decode()
    sleepers = [line.split()[:3] for line in stats.splitlines() if "(sleep)" in line]
    assert [pid for pid, _, _ in sleepers] == ["1"], sleepers
    done = _run(cluster, pod_id, pod, container_config("done", cluster.busybox, "/bin/true"))
    _wait_state(cluster, done)
    assert _code(lambda: cluster.exec(done, "/bin/true")) == grpc.StatusCode.FAILED_PRECONDITION


def test_daemon_killed_and_restarted(cluster: Node) -> None:
    pod_id, pod = cluster.run_pod("survivor")
    long_lived = _run(cluster, pod_id, pod, container_config("long", cluster.busybox, *SLEEPER))
    short = _run(
        cluster,
        pod_id,
        pod,
        container_config("short", cluster.busybox, "/bin/sh", "-c", "/bin/sleep 2; exit 7"),
    )
    created = cluster.create(pod_id, pod, container_config("waiting", cluster.busybox, *SLEEPER))
    before = {
        c.id: c.state
        for c in cluster.runtime.ListContainers(api_pb2.ListContainersRequest()).containers
    }

    cluster.daemon.kill()
    time.sleep(3)  # "short" exits while no daemon runs
    cluster.daemon.start()

    after = {
        c.id: c.state
        for c in cluster.runtime.ListContainers(api_pb2.ListContainersRequest()).containers
    }
    assert set(after) == set(before)
    assert after[long_lived] == api_pb2.CONTAINER_RUNNING
    assert after[created] == api_pb2.CONTAINER_CREATED
    exited = cluster.status(short)
    assert (exited.state, exited.exit_code, exited.reason) == (api_pb2.CONTAINER_EXITED, 7, "Error")
    assert cluster.exec(long_lived, "/bin/echo", "still-here").stdout == b"still-here\n"
    cluster.start(created)
    assert cluster.status(created).state == api_pb2.CONTAINER_RUNNING
    cluster.runtime.StopContainer(api_pb2.StopContainerRequest(container_id=long_lived))
    assert cluster.status(long_lived).exit_code == 137
    for container_id in (long_lived, short, created):
        cluster.runtime.RemoveContainer(api_pb2.RemoveContainerRequest(container_id=container_id))
    sandbox = cluster.runtime.PodSandboxStatus(
        api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pod_id)
    )
    assert sandbox.status.state == api_pb2.SANDBOX_READY


def test_error_cases(cluster: Node) -> None:
    runtime = cluster.runtime
    pod_id, pod = cluster.run_pod("errors")
    config = container_config("app", cluster.busybox, *SLEEPER)
    assert _code(lambda: cluster.create("no-such-pod", pod, config)) == grpc.StatusCode.NOT_FOUND
    first = cluster.create(pod_id, pod, config)
    with pytest.raises(grpc.RpcError) as clash:
        cluster.create(pod_id, pod, config)
    assert clash.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert first in (clash.value.details() or "")

    bad_mount = container_config(
        "mount",
        cluster.busybox,
        *SLEEPER,
        mounts=[api_pb2.Mount(container_path="/data", host_path="relative/path")],
    )
    assert _code(lambda: cluster.create(pod_id, pod, bad_mount)) == grpc.StatusCode.INVALID_ARGUMENT
    unknown = container_config("unknown", "127.0.0.1:1/nothing:here", *SLEEPER)
    assert _code(lambda: cluster.create(pod_id, pod, unknown)) == grpc.StatusCode.NOT_FOUND
    greedy = container_config("greedy", cluster.busybox, *SLEEPER)
    greedy.linux.resources.cpu_shares = 10**9
    assert _code(lambda: cluster.create(pod_id, pod, greedy)) == grpc.StatusCode.INVALID_ARGUMENT
    for call in (
        lambda: runtime.StartContainer(api_pb2.StartContainerRequest(container_id="nothing")),
        lambda: cluster.status("nothing"),
    ):
        assert _code(call) == grpc.StatusCode.NOT_FOUND
    # CRI: StopContainer of an unknown id succeeds (api.proto), as RemoveContainer does.
    runtime.StopContainer(api_pb2.StopContainerRequest(container_id="nothing"))
    cluster.start(first)
    assert _code(lambda: cluster.start(first)) == grpc.StatusCode.FAILED_PRECONDITION
    unknown_handler = api_pb2.RunPodSandboxRequest(config=pod, runtime_handler="nope")
    assert _code(lambda: runtime.RunPodSandbox(unknown_handler)) == grpc.StatusCode.NOT_FOUND
    # Nothing of the refused containers is left: only "first" exists.
    listed = runtime.ListContainers(api_pb2.ListContainersRequest()).containers
    assert [c.id for c in listed] == [first]
    rootfs_dirs = os.listdir(cluster.daemon.root / "containers")
    assert rootfs_dirs == [first]


def _wrapper(path: Path, record: Path) -> None:
    path.write_text(f'#!/bin/sh\necho "$@" >> {record}\nexec runc "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def handlers_cluster(tmp_path: Path, pushed_images: PushedImages) -> Iterator[Node]:
    wrapper, record = tmp_path / "nvidia-container-runtime", tmp_path / "nvidia-argv.log"
    _wrapper(wrapper, record)
    # gVisor 2022 takes any network namespace for the host's on kernels that show
    # net.core.rmem_default in every namespace; its "host" network uses the pod's namespace.
    runsc_toml = tmp_path / "runsc.toml"
    runsc_toml.write_text('[runsc_config]\n  network = "host"\n')
    base = '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes'
    extra = (
        f'{base}.runc]\n  runtime_type = "io.containerd.runc.v2"\n'
        f'{base}.nvidia]\n  runtime_type = "io.containerd.runc.v2"\n'
        f'{base}.nvidia.options]\n  BinaryName = "{wrapper}"\n'
        f'{base}.runsc]\n  runtime_type = "io.containerd.runsc.v1"\n'
        f'{base}.runsc.options]\n  ConfigPath = "{runsc_toml}"\n'
        f'{base}.crun]\n  runtime_type = "io.containerd.runc.v2"\n'
        f'{base}.crun.options]\n  BinaryName = "crun"\n'
    )
    with node(tmp_path, pushed_images.registries["plain"].host, extra) as current:
        current.busybox = current.pull(pushed_images.ref("plain", "busybox"))
        yield current
        current.remove_everything()
        assert current.leaks() == []


def test_nvidia_handler_runs_through_its_binary(handlers_cluster: Node, tmp_path: Path) -> None:
    cluster = handlers_cluster
    config = cluster.runtime
    pod_id, pod = cluster.run_pod("gpu")
    request = api_pb2.RunPodSandboxRequest(config=pod, runtime_handler="nvidia")
    config.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
    pod_id = config.RunPodSandbox(request).pod_sandbox_id
    container_id = _run(
        cluster, pod_id, pod, container_config("cuda", cluster.busybox, "/bin/echo", "gpu-ok")
    )
    done = _wait_state(cluster, container_id)
    assert done.exit_code == 0
    assert Path(done.log_path).read_text().endswith(" stdout F gpu-ok\n")
    calls = (tmp_path / "nvidia-argv.log").read_text().splitlines()
    assert any(" create " in f" {c} " and container_id in c for c in calls)
    assert any(c.split()[-2:] == ["start", container_id] for c in calls)


def _crun_refuses_this_host() -> bool:
    """crun refuses a hybrid cgroup layout whose unified hierarchy holds controllers."""
    unified = Path("/sys/fs/cgroup/unified/cgroup.controllers")
    return unified.exists() and bool(unified.read_text().strip())


def test_crun_handler(handlers_cluster: Node) -> None:
    cluster = handlers_cluster
    pod_id, pod = cluster.run_pod("crunpod")
    cluster.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
    request = api_pb2.RunPodSandboxRequest(config=pod, runtime_handler="crun")
    pod_id = cluster.runtime.RunPodSandbox(request).pod_sandbox_id
    config = container_config("c", cluster.busybox, *SLEEPER)
    if _crun_refuses_this_host():
        # Then CreateContainer must fail with crun's own reason and leave nothing.
        with pytest.raises(grpc.RpcError) as raised:
            cluster.create(pod_id, pod, config)
        assert "/usr/bin/crun" in (raised.value.details() or "")
        assert "hybrid" in (raised.value.details() or "")
        assert os.listdir(cluster.daemon.root / "containers") == []
        return
    container_id = _run(cluster, pod_id, pod, config)
    assert cluster.exec(container_id, "/bin/echo", "crun-ok").stdout == b"crun-ok\n"
    state = subprocess.run(
        ["crun", "--root", str(cluster.daemon.state / "runtimes" / "crun"), "state", container_id],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(state.stdout)["status"] == "running"
    cluster.runtime.StopContainer(api_pb2.StopContainerRequest(container_id=container_id))
    assert cluster.status(container_id).exit_code == 137


def test_runsc_handler(handlers_cluster: Node) -> None:
    cluster = handlers_cluster
    pod_id, pod = cluster.run_pod("sandboxed")
    config = cluster.runtime
    config.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
    request = api_pb2.RunPodSandboxRequest(config=pod, runtime_handler="runsc")
    pod_id = config.RunPodSandbox(request).pod_sandbox_id
    container_id = _run(cluster, pod_id, pod, container_config("gvisor", cluster.busybox, *SLEEPER))
    assert cluster.status(container_id).state == api_pb2.CONTAINER_RUNNING
    kernel = cluster.exec(container_id, "/bin/sh", "-c", "dmesg")
    assert b"gVisor" in kernel.stdout + kernel.stderr
    verbose = api_pb2.ContainerStatusRequest(container_id=container_id, verbose=True)
    info = json.loads(config.ContainerStatus(verbose).info["info"])
    assert info["runtimeHandler"] == "runsc"
    config.StopContainer(api_pb2.StopContainerRequest(container_id=container_id, timeout=2))
    assert cluster.status(container_id).state == api_pb2.CONTAINER_EXITED


def _ps(cluster: Node, container_id: str) -> str:
    return cluster.exec(container_id, "/bin/sh", "-c", "ps -o pid,args").stdout.decode()


def test_a_shared_pid_namespace_runs_an_infra_container(cluster: Node) -> None:
    pod_id, pod = cluster.run_pod("shared")
    cluster.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
    pod.linux.security_context.namespace_options.pid = api_pb2.POD
    pod_id = cluster.runtime.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=pod)).pod_sandbox_id
    options = api_pb2.NamespaceOption(pid=api_pb2.POD)
    linux = api_pb2.LinuxContainerConfig(
        security_context=api_pb2.LinuxContainerSecurityContext(namespace_options=options)
    )
    first = _run(
        cluster,
        pod_id,
        pod,
        container_config("one", cluster.busybox, "/bin/sleep", "1001", linux=linux),
    )
    second = _run(
        cluster,
        pod_id,
        pod,
        container_config("two", cluster.busybox, "/bin/sleep", "1002", linux=linux),
    )
    seen = _ps(cluster, second)
    assert "sleep 1001" in seen and "sleep 1002" in seen
    assert seen.splitlines()[1].split()[0] == "1" and "while" in seen.splitlines()[1]
    listed = cluster.runtime.ListContainers(api_pb2.ListContainersRequest()).containers
    assert {c.id for c in listed} == {first, second}  # the infra container is not listed
    assert _code(lambda: cluster.status(pod_id)) == grpc.StatusCode.NOT_FOUND
    cluster.runtime.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod_id))
    assert cluster.status(first).state == api_pb2.CONTAINER_EXITED


@pytest.fixture
def crio_cluster(tmp_path: Path, pushed_images: PushedImages) -> Iterator[Node]:
    with crio_node_with_busybox(tmp_path, pushed_images) as current:
        yield current


def test_crio_config_without_drop_infra_ctr_runs_the_pause_image(crio_cluster: Node) -> None:
    cluster = crio_cluster
    pod_id, pod = cluster.run_pod("paused")
    images = cluster.images.ListImages(api_pb2.ListImagesRequest()).images
    assert any(tag.endswith("/pause:1") for image in images for tag in image.repo_tags)
    container_id = _run(cluster, pod_id, pod, container_config("app", cluster.busybox, *SLEEPER))
    assert cluster.status(container_id).state == api_pb2.CONTAINER_RUNNING
    # CRI-O's names, which cAdvisor needs: crio-<id> below CRI-O's default parent.
    assert Path(f"/sys/fs/cgroup/memory/crio/crio-{pod_id}").is_dir()
    assert Path(f"/sys/fs/cgroup/memory/crio/crio-{container_id}").is_dir()
    cluster.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
    assert not Path(f"/sys/fs/cgroup/memory/crio/crio-{pod_id}").exists()


def test_update_runtime_config_hands_the_pod_cidr_to_cni(cluster: Node) -> None:
    pod_cidr = free_subnet()
    while pod_cidr == cluster.subnet:
        pod_cidr = free_subnet()
    # As kubenet-style configurations do: the bridge takes its ranges from the runtime.
    conflist_path = cluster.conf_dir / "10-test.conflist"
    conflist = json.loads(conflist_path.read_text())
    conflist["plugins"][0]["capabilities"] = {"ipRanges": True}
    del conflist["plugins"][0]["ipam"]["ranges"]
    conflist_path.write_text(json.dumps(conflist))
    config = api_pb2.RuntimeConfig(network_config=api_pb2.NetworkConfig(pod_cidr=str(pod_cidr)))
    cluster.runtime.UpdateRuntimeConfig(api_pb2.UpdateRuntimeConfigRequest(runtime_config=config))
    pod_id, _ = cluster.run_pod("cidr")
    assert ipaddress.IPv4Address(_pod_ip(cluster, pod_id)) in pod_cidr
    config.network_config.pod_cidr = "not-a-cidr"
    request = api_pb2.UpdateRuntimeConfigRequest(runtime_config=config)
    update = cluster.runtime.UpdateRuntimeConfig
    assert _code(lambda: update(request)) == grpc.StatusCode.INVALID_ARGUMENT


def _ctl(cluster: Node, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "crio_py", "ctl", "-r", f"unix://{cluster.daemon.socket}"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=60)


def test_ctl_container_verbs(cluster: Node, tmp_path: Path) -> None:
    pod_id, pod = cluster.run_pod("ctl")
    config = container_config(
        "talker",
        cluster.busybox,
        "/bin/sh",
        "-c",
        "echo one; echo two >&2; echo three; exec sleep 1000",
    )
    config_path, pod_path = tmp_path / "c.json", tmp_path / "p.json"
    config_path.write_text(json_format.MessageToJson(config))
    pod_path.write_text(json_format.MessageToJson(pod))
    created = _ctl(cluster, "create", pod_id[:12], str(config_path), str(pod_path))
    assert created.returncode == 0, created.stderr
    container_id = created.stdout.strip()
    cluster.container_ids.add(container_id)
    assert _ctl(cluster, "ps", "-q").stdout == ""  # created, not running
    assert _ctl(cluster, "ps", "-a", "-q").stdout.split() == [container_id]
    assert _ctl(cluster, "start", container_id[:12]).returncode == 0
    table = _ctl(cluster, "ps").stdout.splitlines()
    assert table[0].split()[:4] == ["CONTAINER", "IMAGE", "CREATED", "STATE"]
    assert table[1].startswith(container_id[:13]) and "Running" in table[1] and "ctl" in table[1]

    _wait_log = time.monotonic() + 10
    while "three" not in _ctl(cluster, "logs", container_id).stdout:
        assert time.monotonic() < _wait_log
        time.sleep(0.1)
    last = Path(cluster.status(container_id).log_path).read_text().splitlines()[-1]
    logs = _ctl(cluster, "logs", "--tail", "1", container_id)
    assert logs.stdout + logs.stderr == last.split(" ", 3)[3] + "\n"
    both = _ctl(cluster, "logs", "-t", container_id)
    assert both.stdout.splitlines()[0].endswith(" one") and "two" in both.stderr

    inspected = json.loads(_ctl(cluster, "inspect", container_id).stdout)
    assert inspected["status"]["state"] == "CONTAINER_RUNNING"
    assert inspected["info"]["sandboxID"] == pod_id
    exec_ = _ctl(cluster, "exec", "-s", container_id, "/bin/sh", "-c", "echo hi; exit 5")
    assert (exec_.returncode, exec_.stdout) == (5, "hi\n")
    usage = _ctl(cluster, "stats", "-s", "0.2").stdout.splitlines()
    assert usage[0].split()[:3] == ["CONTAINER", "NAME", "CPU"]
    assert usage[1].startswith(container_id[:13]) and "talker" in usage[1]
    refused = _ctl(cluster, "rm", container_id)
    assert refused.returncode == 1 and "please stop it first" in refused.stderr
    info = json.loads(_ctl(cluster, "info").stdout)
    conditions = {c["type"]: c["status"] for c in info["status"]["conditions"]}
    assert conditions == {"RuntimeReady": True, "NetworkReady": True}
    assert _ctl(cluster, "stop", "-t", "1", container_id).stdout.strip() == container_id
    assert "Exited" in _ctl(cluster, "ps", "-a").stdout
    assert _ctl(cluster, "rm", container_id).returncode == 0
    missing = _ctl(cluster, "inspect", container_id)
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr


def test_demo(tmp_path: Path) -> None:
    transcript: list[str] = []
    run_demo(transcript.append)
    text = "\n".join(transcript)
    assert "hello from crio-py" in text and "serving /tmp on port 8080" in text
    commands = [line.split()[3] for line in transcript if line.startswith("$ crio-py ctl")]
    assert commands[:6] == ["version", "pull", "images", "runp", "pods", "create"]
    assert processes_naming("crio-py-demo-") == []
    assert not [m for m in mount_points() if "crio-py-demo-" in m]


def _status_field(text: str, field: str) -> str:
    return next(
        line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith(f"{field}:")
    )


def _cgroup(controller: str, container_id: str, name: str) -> str:
    return (
        (Path("/sys/fs/cgroup") / controller / "k8s.io" / container_id / name).read_text().strip()
    )


def test_security_resources_devices_and_pod_files(cluster: Node) -> None:
    pod_id, pod = cluster.run_pod(
        "secure",
        dns_config=api_pb2.DNSConfig(servers=["10.0.0.10"], searches=["svc.local"]),
    )
    cluster.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
    pod.linux.sysctls["kernel.shm_rmid_forced"] = "1"
    pod_id = cluster.runtime.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=pod)).pod_sandbox_id
    config = container_config(
        "locked",
        cluster.busybox,
        *SLEEPER,
        devices=[
            api_pb2.Device(host_path="/dev/null", container_path="/dev/mynull", permissions="rw")
        ],
    )
    sc = config.linux.security_context
    sc.no_new_privs = True
    sc.seccomp.profile_type = api_pb2.SecurityProfile.RuntimeDefault
    resources = config.linux.resources
    resources.cpu_shares, resources.cpu_quota, resources.cpu_period = 512, 50000, 100000
    resources.cpuset_cpus = "0"
    resources.oom_score_adj = -500  # below the daemon's own 0: clamped
    config.linux.resources.memory_limit_in_bytes = 64 * 1024 * 1024
    secure = _run(cluster, pod_id, pod, config)

    def sh(command: str) -> str:
        reply = cluster.exec(secure, "/bin/sh", "-c", command)
        assert reply.exit_code == 0, reply.stderr
        return reply.stdout.decode()

    status = sh("cat /proc/self/status")
    assert _status_field(status, "Seccomp") == "2"
    assert _status_field(status, "NoNewPrivs") == "1"
    assert sh("cat /proc/1/oom_score_adj").strip() == "0"
    assert sh("echo hi > /dev/mynull && echo ok").strip() == "ok"
    assert sh("cat /proc/kcore | wc -c").strip() == "0"  # masked
    assert sh("cat /proc/sys/kernel/shm_rmid_forced").strip() == "1"
    assert sh("hostname").strip() == "secure"
    assert "nameserver 10.0.0.10" in sh("cat /etc/resolv.conf")
    assert f"{_pod_ip(cluster, pod_id)}\tsecure" in sh("cat /etc/hosts")
    assert _cgroup("cpu", secure, "cpu.shares") == "512"
    assert _cgroup("cpu", secure, "cpu.cfs_quota_us") == "50000"
    assert _cgroup("cpuset", secure, "cpuset.cpus") == "0"
    assert _cgroup("memory", secure, "memory.limit_in_bytes") == str(64 * 1024 * 1024)

    unconfined = container_config("free", cluster.busybox, *SLEEPER)
    unconfined.linux.security_context.seccomp.profile_type = api_pb2.SecurityProfile.Unconfined
    free = _run(cluster, pod_id, pod, unconfined)
    status = cluster.exec(free, "/bin/sh", "-c", "cat /proc/self/status").stdout.decode()
    assert _status_field(status, "Seccomp") == "0"


def test_host_namespaces_and_privileged(cluster: Node) -> None:
    options = api_pb2.NamespaceOption(network=api_pb2.NODE, pid=api_pb2.NODE, ipc=api_pb2.NODE)
    pod_id, pod = cluster.run_pod("hostnet")
    cluster.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
    pod.linux.security_context.namespace_options.CopyFrom(options)
    pod.linux.security_context.privileged = True
    pod_id = cluster.runtime.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=pod)).pod_sandbox_id
    config = container_config("admin", cluster.busybox, *SLEEPER)
    config.linux.security_context.namespace_options.CopyFrom(options)
    config.linux.security_context.privileged = True
    admin = _run(cluster, pod_id, pod, config)
    links = cluster.exec(admin, "/bin/sh", "-c", "ls /sys/class/net").stdout.decode().split()
    assert "lo" in links and any(name != "lo" for name in links)
    status = cluster.exec(admin, "/bin/sh", "-c", "cat /proc/self/status").stdout.decode()
    assert int(_status_field(status, "CapEff"), 16) == int(
        _status_field(Path("/proc/self/status").read_text(), "CapBnd"), 16
    )
    assert cluster.exec(admin, "/bin/sh", "-c", "test -c /dev/kmsg").exit_code == 0
    marker = Path("/dev/shm") / f"crio-py-e2e-{secrets.token_hex(4)}"
    marker.touch()
    try:  # the host's /dev/shm and the host's processes
        assert cluster.exec(admin, "/bin/sh", "-c", f"test -e {marker}").exit_code == 0
    finally:
        marker.unlink()
    ours = cluster.exec(admin, "/bin/sh", "-c", f"test -d /proc/{os.getpid()}")
    assert ours.exit_code == 0


def test_sigterm_leaves_containers_running(cluster: Node) -> None:
    pod_id, pod = cluster.run_pod("lasting")
    container_id = _run(cluster, pod_id, pod, container_config("app", cluster.busybox, *SLEEPER))
    verbose = api_pb2.ContainerStatusRequest(container_id=container_id, verbose=True)
    pid = json.loads(cluster.runtime.ContainerStatus(verbose).info["info"])["pid"]
    cluster.daemon.stop()  # SIGTERM
    assert Path(f"/proc/{pid}").exists()
    cluster.daemon.start()
    assert cluster.status(container_id).state == api_pb2.CONTAINER_RUNNING
    assert cluster.exec(container_id, "/bin/echo", "here").stdout == b"here\n"


def test_cgroup_parent(cluster: Node) -> None:
    parent = f"/crio-py-e2e-{secrets.token_hex(4)}"
    pod_id, pod = cluster.run_pod("parented")
    cluster.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
    pod.linux.cgroup_parent = parent
    pod_id = cluster.runtime.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=pod)).pod_sandbox_id
    try:
        child = _run(cluster, pod_id, pod, container_config("child", cluster.busybox, *SLEEPER))
        inside = cluster.exec(child, "/bin/sh", "-c", "cat /proc/self/cgroup").stdout.decode()
        assert f":memory:{parent}/{child}" in inside
        assert (Path("/sys/fs/cgroup/pids") / parent.lstrip("/") / child).is_dir()
        cluster.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
        assert not list(Path("/sys/fs/cgroup").glob(f"*{parent}/{child}"))
    finally:  # the pod's cgroup belongs to the kubelet, which removes it
        for directory in Path("/sys/fs/cgroup").glob(f"*{parent}"):
            directory.rmdir()


def test_a_missing_command_fails_cleanly(cluster: Node) -> None:
    pod_id, pod = cluster.run_pod("broken")
    config = container_config("missing", cluster.busybox, "/no/such/binary")
    with pytest.raises(grpc.RpcError) as raised:
        cluster.create(pod_id, pod, config)
    assert "/no/such/binary" in (raised.value.details() or "")
    assert list(cluster.runtime.ListContainers(api_pb2.ListContainersRequest()).containers) == []
    assert os.listdir(cluster.daemon.root / "containers") == []
    # The name is free again.
    fixed = container_config("missing", cluster.busybox, "/bin/true")
    assert cluster.create(pod_id, pod, fixed)


def test_restart_cleans_up_what_a_crash_left_half_made(cluster: Node) -> None:
    """A daemon killed in the middle of RunPodSandbox or CreateContainer leaves pins, mounts
    and directories without a record; the next start removes them."""
    daemon = cluster.daemon
    cluster.run_pod("survives")
    daemon.kill()
    ghost = secrets.token_hex(32)
    pin = daemon.state / "ns" / "netns" / ghost
    pin.parent.mkdir(parents=True, exist_ok=True)
    pin.touch()
    subprocess.run(["unshare", f"--net={pin}", "true"], check=True)
    shm = daemon.state / "shm" / ghost
    shm.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "shm", str(shm)], check=True)
    (daemon.root / "sandboxes" / ghost).mkdir()
    (daemon.root / "sandboxes" / ghost / "hosts").write_text("127.0.0.1 localhost\n")
    rootfs = daemon.root / "containers" / ghost / "rootfs"
    rootfs.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "rootfs", str(rootfs)], check=True)
    (daemon.state / "containers" / ghost).mkdir(parents=True)
    daemon.start()
    assert not any(ghost in m for m in mount_points())
    for path in (
        pin,
        shm,
        rootfs.parent,
        daemon.root / "sandboxes" / ghost,
        daemon.state / "containers" / ghost,
    ):
        assert not path.exists(), path
    pods = cluster.runtime.ListPodSandbox(api_pb2.ListPodSandboxRequest()).items
    assert [p.metadata.name for p in pods] == ["survives"]


def test_stats(cluster: Node) -> None:
    pod_id, pod = cluster.run_pod("measured")
    script = "head -c 20m /dev/zero > /tmp/blob; exec sleep 1000"
    container_id = _run(
        cluster, pod_id, pod, container_config("busy", cluster.busybox, "/bin/sh", "-c", script)
    )
    time.sleep(1)
    request = api_pb2.ContainerStatsRequest(container_id=container_id)
    stats = cluster.runtime.ContainerStats(request).stats
    assert stats.attributes.id == container_id and stats.attributes.metadata.name == "busy"
    assert stats.cpu.usage_core_nano_seconds.value > 0
    assert stats.memory.working_set_bytes.value > 0
    assert stats.writable_layer.used_bytes.value >= 20 * 1024 * 1024
    by_pod = api_pb2.ContainerStatsFilter(pod_sandbox_id=pod_id[:12])
    listed = cluster.runtime.ListContainerStats(api_pb2.ListContainerStatsRequest(filter=by_pod))
    assert [s.attributes.id for s in listed.stats] == [container_id]
    pod_stats = cluster.runtime.PodSandboxStats(
        api_pb2.PodSandboxStatsRequest(pod_sandbox_id=pod_id)
    ).stats
    assert pod_stats.attributes.id == pod_id
    assert pod_stats.linux.cpu.usage_core_nano_seconds.value > 0
    assert pod_stats.linux.network.default_interface.name == "eth0"
    assert pod_stats.linux.process.process_count.value >= 1
    assert [c.attributes.id for c in pod_stats.linux.containers] == [container_id]
    every = cluster.runtime.ListPodSandboxStats(api_pb2.ListPodSandboxStatsRequest()).stats
    assert [s.attributes.id for s in every] == [pod_id]
