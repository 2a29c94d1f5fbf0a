"""What the Kubernetes CRI validation suite (critest) exposed, end to end on the real daemon:
pods without a hostname or with 64+ character names, host-network pods, lo in every pod,
user namespaces, recursive read-only mounts, image volumes, the user ContainerStatus reports,
the CRI metrics, and the handler list of Status. Nothing may be left behind (`cluster`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cri_api.v1 import api_pb2

from tests.e2e.node import Node, container_config, mount_points, pod_config
from tests.e2e.test_containers import _code, _run, _wait_state
from tests.e2e.test_network import _free_port

pytestmark = pytest.mark.e2e

SLEEPER = ("/bin/sleep", "1000")


def _output(cluster: Node, container_id: str, *cmd: str) -> str:
    reply = cluster.exec(container_id, *cmd)
    assert reply.exit_code == 0, reply.stderr
    return reply.stdout.decode()


def _run_pod(cluster: Node, pod: api_pb2.PodSandboxConfig) -> str:
    return cluster.runtime.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=pod)).pod_sandbox_id


def _sleeper(cluster: Node, pod_id: str, pod: api_pb2.PodSandboxConfig, **fields: object) -> str:
    return _run(cluster, pod_id, pod, container_config("app", cluster.busybox, *SLEEPER, **fields))


def test_a_pod_without_a_hostname_gets_the_nodes(cluster: Node) -> None:
    """critest sends no hostname and pod names of 70 characters with upper case letters."""
    name = "create-PodSandbox-for-container-" + "0123456789ABCDEF" * 3
    assert len(name) > 64
    pod = pod_config(name, cluster.log_dir)
    pod.hostname = ""
    pod_id = _run_pod(cluster, pod)
    container_id = _sleeper(cluster, pod_id, pod)
    node = socket.gethostname()
    assert _output(cluster, container_id, "cat", "/etc/hostname") == node + "\n"
    assert _output(cluster, container_id, "cat", "/proc/sys/kernel/hostname") == node + "\n"
    assert f"HOSTNAME={node}" in _output(cluster, container_id, "env")


def test_a_host_network_container_has_the_hosts_network(cluster: Node) -> None:
    """critest's host-network port-forward names no namespaces in the container config: the
    container still joins the pod's (the host's) network, and its port is the host's."""
    pod = pod_config("hostnet", cluster.log_dir)
    pod.linux.security_context.namespace_options.network = api_pb2.NODE
    pod_id = _run_pod(cluster, pod)
    port = _free_port()
    server = container_config(
        "web", cluster.busybox, "/bin/httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/etc",
        # The container's own options say POD for the network, as critest's (unset) do.
        linux=api_pb2.LinuxContainerConfig(
            security_context=api_pb2.LinuxContainerSecurityContext(
                namespace_options=api_pb2.NamespaceOption(pid=api_pb2.CONTAINER)
            )
        ),
    )  # fmt: skip
    container_id = _run(cluster, pod_id, pod, server)
    seen = set(_output(cluster, container_id, "ls", "/sys/class/net").split())
    assert seen == set(os.listdir("/sys/class/net"))
    assert "root:" in _get(f"http://127.0.0.1:{port}/passwd")


def _get(url: str, deadline_s: float = 10.0) -> str:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                return str(reply.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_lo_is_up_in_a_pod_whatever_the_network_config(cluster: Node) -> None:
    """containerd and CRI-O always attach the loopback network: a conflist without the
    loopback plugin still gives the pod a working 127.0.0.1 (critest's port-forward)."""
    (conflist,) = cluster.conf_dir.glob("*.conflist")
    network = json.loads(conflist.read_text())
    network["plugins"] = [p for p in network["plugins"] if p["type"] != "loopback"]
    conflist.write_text(json.dumps(network))
    pod_id, pod = cluster.run_pod("loopback")
    port = _free_port()
    server = container_config(
        "web", cluster.busybox, "/bin/httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/etc"
    )
    container_id = _run(cluster, pod_id, pod, server)
    flags = int(_output(cluster, container_id, "cat", "/sys/class/net/lo/flags"), 16)
    assert flags & 1, "lo is down"  # IFF_UP
    fetched = cluster.exec(container_id, "wget", "-q", "-O", "-", f"http://127.0.0.1:{port}/passwd")
    assert b"root:" in fetched.stdout, fetched.stderr


def test_container_status_reports_the_user_and_its_groups(cluster: Node) -> None:
    """SupplementalGroupsPolicy: Merge adds the image's groups of the user, Strict does not;
    ContainerStatus reports what the process runs as."""
    pod_id, pod = cluster.run_pod("groups")
    for name, policy in (("merge", api_pb2.Merge), ("strict", api_pb2.Strict)):
        security = api_pb2.LinuxContainerSecurityContext(
            run_as_user=api_pb2.Int64Value(value=1000),
            supplemental_groups=[1234],
            supplemental_groups_policy=policy,
            namespace_options=api_pb2.NamespaceOption(pid=api_pb2.CONTAINER),
        )
        config = container_config(
            name, cluster.busybox, *SLEEPER,
            linux=api_pb2.LinuxContainerConfig(security_context=security),
        )  # fmt: skip
        container_id = _run(cluster, pod_id, pod, config)
        user = cluster.status(container_id).user.linux
        groups = sorted(user.supplemental_groups)
        shown = sorted(int(g) for g in _output(cluster, container_id, "id", "-G").split())
        assert (user.uid, user.gid) == (1000, 1000)
        assert groups == shown and 1234 in groups and 1000 in groups
        if policy == api_pb2.Strict:
            assert groups == [1000, 1234]
    refused = container_config(
        "nouser", cluster.busybox, *SLEEPER,
        linux=api_pb2.LinuxContainerConfig(
            security_context=api_pb2.LinuxContainerSecurityContext(
                run_as_group=api_pb2.Int64Value(value=5),
                namespace_options=api_pb2.NamespaceOption(pid=api_pb2.CONTAINER),
            )
        ),
    )  # fmt: skip
    assert _code(lambda: cluster.create(pod_id, pod, refused)) == grpc.StatusCode.INVALID_ARGUMENT


def _handler_features(cluster: Node) -> dict[str, api_pb2.RuntimeHandlerFeatures]:
    status = cluster.runtime.Status(api_pb2.StatusRequest())
    return {h.name: h.features for h in status.runtime_handlers}


def test_status_lists_the_default_handler_under_its_name_and_as_empty(cluster: Node) -> None:
    features = _handler_features(cluster)
    assert features[""] == features["runc"]
    assert features["runc"].recursive_read_only_mounts


def test_a_pod_in_a_user_namespace(searchable_tmp: None, cluster: Node) -> None:
    """The pod's root is uid 200000 on the host: the image's files are still root's inside,
    and what it writes belongs to 200000 outside."""
    if not _handler_features(cluster)["runc"].user_namespaces:
        pytest.skip("this host cannot run user namespaces here (Status says so)")
    mapping = api_pb2.IDMapping(container_id=0, host_id=200000, length=65536)
    userns = api_pb2.UserNamespace(mode=api_pb2.POD, uids=[mapping], gids=[mapping])
    options = api_pb2.NamespaceOption(pid=api_pb2.CONTAINER, userns_options=userns)
    pod = pod_config("userns", cluster.log_dir)
    pod.linux.security_context.namespace_options.CopyFrom(options)
    pod_id = _run_pod(cluster, pod)
    linux = api_pb2.LinuxContainerConfig(
        security_context=api_pb2.LinuxContainerSecurityContext(namespace_options=options)
    )
    container_id = _sleeper(cluster, pod_id, pod, linux=linux)
    assert _output(cluster, container_id, "cat", "/proc/self/uid_map").split() == [
        "0", "200000", "65536",
    ]  # fmt: skip
    assert _output(cluster, container_id, "id", "-u") == "0\n"
    assert _output(cluster, container_id, "ls", "-ln", "/bin/busybox").split()[2:4] == ["0", "0"]
    _output(cluster, container_id, "sh", "-c", "echo hi > /written")
    (written,) = cluster.daemon.workdir.glob(f"**/containers/{container_id}/upper/written")
    assert (written.stat().st_uid, written.stat().st_gid) == (200000, 200000)
    bad = pod_config("bad-userns", cluster.log_dir)
    bad.linux.security_context.namespace_options.userns_options.mode = api_pb2.CONTAINER
    assert _code(lambda: _run_pod(cluster, bad)) == grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
def tree_with_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A host directory with a tmpfs mounted below it (critest's recursive read-only case)."""
    top = tmp_path / "volume"
    (top / "tmpfs").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(top / "tmpfs")], check=True)
    try:
        yield top
    finally:
        subprocess.run(["umount", str(top / "tmpfs")], check=False)


def test_recursive_read_only_mounts(cluster: Node, tree_with_tmpfs: Path) -> None:
    pod_id, pod = cluster.run_pod("rro")
    plain = api_pb2.Mount(container_path="/mnt", host_path=str(tree_with_tmpfs), readonly=True)
    recursive = api_pb2.Mount()
    recursive.CopyFrom(plain)
    recursive.recursive_read_only = True
    ro = _sleeper(cluster, pod_id, pod, mounts=[plain])
    rro = _run(cluster, pod_id, pod,
               container_config("rro", cluster.busybox, *SLEEPER, mounts=[recursive]))  # fmt: skip
    write = ("sh", "-c", "echo x > /mnt/tmpfs/f")
    assert cluster.exec(ro, *write).exit_code == 0  # read-only on top, not below
    denied = cluster.exec(rro, *write)
    assert denied.exit_code != 0 and b"Read-only file system" in denied.stderr
    # The host keeps no copy over the host path: it can be unmounted and removed meanwhile.
    assert not [m for m in mount_points() if "/volumes/" in m]
    subprocess.run(["umount", str(tree_with_tmpfs / "tmpfs")], check=True)
    (tree_with_tmpfs / "tmpfs").rmdir()
    slave = api_pb2.Mount()
    slave.CopyFrom(recursive)
    slave.propagation = api_pb2.PROPAGATION_HOST_TO_CONTAINER
    refused = container_config("bad", cluster.busybox, *SLEEPER, mounts=[slave])
    assert _code(lambda: cluster.create(pod_id, pod, refused)) == grpc.StatusCode.INVALID_ARGUMENT


def test_image_volumes(cluster: Node) -> None:
    pod_id, pod = cluster.run_pod("imagevol")
    image = api_pb2.ImageSpec(image=cluster.busybox)
    whole = api_pb2.Mount(container_path="/img", readonly=True, image=image)
    etc = api_pb2.Mount(container_path="/etc-of-img", readonly=True, image=image,
                        image_sub_path="etc")  # fmt: skip
    container_id = _sleeper(cluster, pod_id, pod, mounts=[whole, etc])
    assert _output(cluster, container_id, "/img/bin/busybox", "echo", "ran") == "ran\n"
    assert "root:" in _output(cluster, container_id, "cat", "/etc-of-img/passwd")
    assert cluster.exec(container_id, "sh", "-c", "echo x > /img/x").exit_code != 0
    reported = cluster.status(container_id).mounts[0].image.SerializeToString()
    assert cluster.busybox.encode() in reported  # ImageSpec.image_ref, field 20
    for mount in (
        api_pb2.Mount(container_path="/m", readonly=True, image=image, image_sub_path="nope"),
        api_pb2.Mount(container_path="/m", readonly=False, image=image),
    ):
        refused = container_config("bad", cluster.busybox, *SLEEPER, mounts=[mount])
        code = _code(lambda: cluster.create(pod_id, pod, refused))  # noqa: B023
        assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_pod_sandbox_metrics(cluster: Node) -> None:
    pod_id, pod = cluster.run_pod("metrics")
    container_id = _sleeper(cluster, pod_id, pod)
    descriptors = cluster.runtime.ListMetricDescriptors(api_pb2.ListMetricDescriptorsRequest())
    keys = {d.name: len(d.label_keys) for d in descriptors.descriptors}
    reply = cluster.runtime.ListPodSandboxMetrics(api_pb2.ListPodSandboxMetricsRequest())
    (mine,) = [m for m in reply.pod_metrics if m.pod_sandbox_id == pod_id]
    (container,) = mine.container_metrics
    assert container.container_id == container_id
    names = {m.name for m in container.metrics} | {m.name for m in mine.metrics}
    assert {"container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
            "container_network_receive_bytes_total", "container_processes"} <= names  # fmt: skip
    for metric in [*mine.metrics, *container.metrics]:
        assert len(metric.label_values) == keys[metric.name], metric.name
        assert metric.HasField("value")
    done = _run(cluster, pod_id, pod, container_config("done", cluster.busybox, "/bin/true"))
    _wait_state(cluster, done)
    again = cluster.runtime.ListPodSandboxMetrics(api_pb2.ListPodSandboxMetricsRequest())
    (mine,) = [m for m in again.pod_metrics if m.pod_sandbox_id == pod_id]
    assert [c.container_id for c in mine.container_metrics] == [container_id]  # running only
