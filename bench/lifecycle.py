"""Pod and container life cycle through the CRI: crio-py against containerd 1.6, with bare
`runc run` of the same root filesystem as the floor, all in the same run.

Both daemons run on private roots, state dirs and sockets, share one CNI network (bridge +
portmap + loopback on a subnet of its own) and pull busybox (and containerd its sandbox
image) from the same local registry. Each measures, over --runs iterations:

- run_pod_sandbox:         RunPodSandbox
- create_start_container:  CreateContainer + StartContainer
- pod_start:               the two above together (sandbox + container running)
- exec_sync:               ExecSync of /bin/true
- stop_remove_pod:         StopPodSandbox + RemovePodSandbox (its container included)
- list_containers_100:     ListContainers with 100 containers (5 pods of 20)

and the daemon's resident memory with 20 pods of one container each (`daemon_rss_mib`; the
monitors, conmon or the shims, in `monitors_rss_mib`). The floor is `runc run -d` (pod start),
`runc exec` (exec) and `runc kill` + `runc delete` (stop). Prints JSON with p50/p95 in
milliseconds, the ratios crio-py / containerd and whether the targets are met: pod start p50
at most containerd's, ExecSync p50 at most 1.5 times containerd's, daemon RSS at most twice.

    .venv/bin/python -m bench.lifecycle [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from cri_api.v1 import api_pb2, api_pb2_grpc

from bench.pull import _wait_for
from tests.fixtures.cninet import PLUGIN_DIR, cni_network
from tests.fixtures.daemon import Daemon, _dir, daemon_config
from tests.fixtures.images import BUSYBOX_APPLETS, busybox_image, pause_image
from tests.fixtures.procs import processes
from tests.fixtures.registry import Registry

SLEEP = ["/bin/sleep", "100000"]
LIST_PODS, LIST_PER_POD = 5, 20
RSS_PODS = 20


@dataclass
class Cri:
    """The CRI stubs of one daemon, and the process whose memory counts."""

    name: str
    channel: grpc.Channel
    pid: int
    image: str
    log_dir: Path

    @property
    def runtime(self) -> api_pb2_grpc.RuntimeServiceStub:
        return api_pb2_grpc.RuntimeServiceStub(self.channel)

    def pull(self) -> None:
        stub = api_pb2_grpc.ImageServiceStub(self.channel)
        stub.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=self.image)),
                       timeout=300)

    def run_pod(self, name: str) -> tuple[str, api_pb2.PodSandboxConfig]:
        options = api_pb2.NamespaceOption(pid=api_pb2.CONTAINER)
        config = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, namespace="bench",
                                                uid=secrets.token_hex(8)),
            hostname=name,
            log_directory=str(self.log_dir / name),
            linux=api_pb2.LinuxPodSandboxConfig(
                security_context=api_pb2.LinuxSandboxSecurityContext(namespace_options=options)),
        )
        reply = self.runtime.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=config),
                                           timeout=120)
        return reply.pod_sandbox_id, config

    def run_container(self, pod_id: str, pod: api_pb2.PodSandboxConfig, name: str) -> str:
        options = api_pb2.NamespaceOption(pid=api_pb2.CONTAINER)
        config = api_pb2.ContainerConfig(
            metadata=api_pb2.ContainerMetadata(name=name),
            image=api_pb2.ImageSpec(image=self.image),
            command=SLEEP,
            log_path=f"{name}.log",
            linux=api_pb2.LinuxContainerConfig(
                security_context=api_pb2.LinuxContainerSecurityContext(
                    namespace_options=options)),
        )
        request = api_pb2.CreateContainerRequest(pod_sandbox_id=pod_id, config=config,
                                                 sandbox_config=pod)
        container_id = self.runtime.CreateContainer(request, timeout=120).container_id
        self.runtime.StartContainer(api_pb2.StartContainerRequest(container_id=container_id),
                                    timeout=120)
        return container_id

    def exec_true(self, container_id: str) -> None:
        reply = self.runtime.ExecSync(
            api_pb2.ExecSyncRequest(container_id=container_id, cmd=["/bin/true"], timeout=30),
            timeout=60)
        if reply.exit_code != 0:
            raise RuntimeError(f"{self.name}: /bin/true exited with {reply.exit_code}")

    def remove_pod(self, pod_id: str) -> None:
        self.runtime.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod_id),
                                    timeout=120)
        self.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id),
                                      timeout=120)

    def remove_all(self) -> None:
        for item in self.runtime.ListPodSandbox(api_pb2.ListPodSandboxRequest()).items:
            self.remove_pod(item.id)


def _timed(action: Callable[..., object], *args: object, **kwargs: object) -> float:
    started = time.perf_counter()
    action(*args, **kwargs)
    return time.perf_counter() - started


def measure(cri: Cri, runs: int) -> dict[str, object]:
    """Every latency of the module docstring, and the memory figures."""
    cri.pull()
    samples: dict[str, list[float]] = {k: [] for k in (
        "run_pod_sandbox", "create_start_container", "pod_start", "exec_sync",
        "stop_remove_pod")}
    for run in range(runs):
        started = time.perf_counter()
        pod_id, pod = cri.run_pod(f"{cri.name}-{run}")
        sandbox_s = time.perf_counter() - started
        container_id = cri.run_container(pod_id, pod, "app")
        container_s = time.perf_counter() - started - sandbox_s
        samples["run_pod_sandbox"].append(sandbox_s)
        samples["create_start_container"].append(container_s)
        samples["pod_start"].append(sandbox_s + container_s)
        samples["exec_sync"].append(_timed(cri.exec_true, container_id))
        samples["stop_remove_pod"].append(_timed(cri.remove_pod, pod_id))
    result: dict[str, object] = {k: summary(v) for k, v in samples.items()}
    result["list_containers_100"] = summary(_list_latencies(cri, runs))
    result.update(_memory(cri))
    return result


def _list_latencies(cri: Cri, runs: int) -> list[float]:
    for pod_index in range(LIST_PODS):
        pod_id, pod = cri.run_pod(f"{cri.name}-list-{pod_index}")
        for index in range(LIST_PER_POD):
            cri.run_container(pod_id, pod, f"c{index}")
    request = api_pb2.ListContainersRequest()
    found = len(cri.runtime.ListContainers(request).containers)
    if found != LIST_PODS * LIST_PER_POD:
        raise RuntimeError(f"{cri.name} lists {found} containers")
    latencies = [_timed(cri.runtime.ListContainers, request) for _ in range(runs)]
    cri.remove_all()
    return latencies


def _memory(cri: Cri) -> dict[str, float]:
    for index in range(RSS_PODS):
        pod_id, pod = cri.run_pod(f"{cri.name}-rss-{index}")
        cri.run_container(pod_id, pod, "app")
    time.sleep(1)
    daemon = rss_mib(cri.pid)
    monitors = sum(rss_mib(p.pid) for p in processes().values()
                   if p.name in ("conmon", "containerd-shim"))
    cri.remove_all()
    return {"daemon_rss_mib": round(daemon, 1), "monitors_rss_mib": round(monitors, 1)}


def rss_mib(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def summary(samples: list[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(p95 * 1000, 2), "runs": len(ordered)}


# The daemons


@contextmanager
def crio_py(work: Path, registry: Registry, net_dir: Path, image: str) -> Iterator[Cri]:
    daemon = Daemon(work)
    daemon.trust(registry.host, plain_http=True)
    daemon.config.write_text(daemon_config(daemon, net_dir, registry.host), encoding="utf-8")
    with daemon, daemon.channel() as channel:
        assert daemon.process is not None
        cri = Cri("crio-py", channel, daemon.process.pid, image, work / "pods")
        try:
            yield cri
        finally:
            cri.remove_all()


def containerd_config(work: Path, registry: Registry, net_dir: Path) -> tuple[Path, Path]:
    """A containerd configuration equivalent to crio-py's (same registry, CNI and pause
    image) on private dirs under `work`; the config file and the socket it serves on."""
    certs = work / "certs.d" / _dir(registry.host)
    certs.mkdir(parents=True)
    (certs / "hosts.toml").write_text(f'server = "http://{registry.host}"\n')
    socket = work / "state" / "containerd.sock"
    config = work / "config.toml"
    cri = '[plugins."io.containerd.grpc.v1.cri"'
    config.write_text(
        f'version = 2\nroot = "{work / "root"}"\nstate = "{work / "state"}"\n'
        f'[grpc]\n  address = "{socket}"\n'
        f'{cri}]\n  sandbox_image = "{registry.host}/pause:1"\n'
        "  restrict_oom_score_adj = true\n"
        f'{cri}.cni]\n  bin_dir = "{PLUGIN_DIR}"\n  conf_dir = "{net_dir}"\n'
        f'{cri}.registry]\n  config_path = "{work / "certs.d"}"\n'
        f'{cri}.containerd.runtimes.runc]\n  runtime_type = "io.containerd.runc.v2"\n'
    )
    return config, socket


@contextmanager
def containerd(work: Path, registry: Registry, net_dir: Path, image: str) -> Iterator[Cri]:
    config, socket = containerd_config(work, registry, net_dir)
    log = (work / "containerd.log").open("wb")
    process = subprocess.Popen(["containerd", "--config", str(config)], stdout=log, stderr=log)
    try:
        _wait_for(socket, process)
        with grpc.insecure_channel(f"unix://{socket}") as channel:
            cri_stub = Cri("containerd", channel, process.pid, image, work / "pods")
            try:
                yield cri_stub
            finally:
                cri_stub.remove_all()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


# The floor: bare runc


def runc_floor(work: Path, runs: int) -> dict[str, object]:
    """`runc run -d`, `runc exec` and `runc kill` + `delete` of a busybox bundle."""
    bundle = work / "bundle"
    _bundle(bundle)
    root = work / "runc-root"
    samples: dict[str, list[float]] = {"pod_start": [], "exec_sync": [], "stop_remove_pod": []}
    runc = ["runc", "--root", str(root)]
    null = subprocess.DEVNULL
    quiet = {"stdin": null, "stdout": null, "stderr": null}
    for run in range(runs):
        name = f"floor-{run}-{secrets.token_hex(3)}"
        start = [*runc, "run", "-d", "--bundle", str(bundle), name]
        samples["pod_start"].append(_timed(subprocess.run, start, check=True, **quiet))
        exec_ = [*runc, "exec", name, "/bin/true"]
        samples["exec_sync"].append(_timed(subprocess.run, exec_, check=True))
        samples["stop_remove_pod"].append(_timed(_kill_delete, runc, name))
    return {k: summary(v) for k, v in samples.items()}


def _kill_delete(runc: list[str], name: str) -> None:
    subprocess.run([*runc, "kill", name, "KILL"], check=True)
    _wait_stopped(runc, name)
    subprocess.run([*runc, "delete", "--force", name], check=True)


def _wait_stopped(runc: list[str], name: str) -> None:
    for _ in range(500):
        state = subprocess.run([*runc, "state", name], capture_output=True, text=True)
        if '"stopped"' in state.stdout:
            return
        time.sleep(0.01)


def _bundle(bundle: Path) -> None:
    rootfs = bundle / "rootfs"
    for name in ("bin", "proc", "dev", "sys", "tmp"):
        (rootfs / name).mkdir(parents=True)
    shutil.copy2("/bin/busybox", rootfs / "bin" / "busybox")
    for applet in BUSYBOX_APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"].update(terminal=False, args=SLEEP)
    spec["linux"]["cgroupsPath"] = f"/crio-py-bench-{secrets.token_hex(4)}"
    (bundle / "config.json").write_text(json.dumps(spec))


# Report


def ratios(ours: dict[str, object], theirs: dict[str, object]) -> dict[str, float]:
    found = {}
    for key, value in ours.items():
        other = theirs.get(key)
        if isinstance(value, dict) and isinstance(other, dict) and other.get("p50_ms"):
            found[key] = round(value["p50_ms"] / other["p50_ms"], 3)
    for key in ("daemon_rss_mib", "monitors_rss_mib"):
        mine, peer = ours.get(key), theirs.get(key)
        if isinstance(mine, float) and isinstance(peer, float) and peer:
            found[key] = round(mine / peer, 3)
    return found


def targets(ratio: dict[str, float]) -> dict[str, object]:
    wanted = {"pod_start": 1.0, "exec_sync": 1.5, "daemon_rss_mib": 2.0}
    return {key: {"max_ratio": limit, "ratio": ratio.get(key),
                  "met": ratio.get(key, float("inf")) <= limit}
            for key, limit in wanted.items()}


Starter = Callable[[], ContextManager[Cri]]


@contextmanager
def both_runtimes() -> Iterator[tuple[Path, Starter, Starter]]:
    """A scratch dir, a registry with busybox and pause, a CNI network, and how to start
    containerd and crio-py on them (one after the other, on roots of their own)."""
    with tempfile.TemporaryDirectory(prefix="crio-py-bench-") as temp:
        base = Path(temp)
        with Registry() as registry:
            image = registry.push_image(busybox_image(base / "images"))
            registry.push_image(pause_image(base / "images"))
            with cni_network(base) as network:
                yield (
                    base,
                    lambda: containerd(base / "containerd", registry, network.conf_dir, image),
                    lambda: crio_py(base / "crio-py", registry, network.conf_dir, image),
                )


def containerd_missing() -> bool:
    if shutil.which("containerd") is None:
        print(json.dumps({"error": "containerd is not installed"}))
        return True
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if containerd_missing():
        return 1
    with both_runtimes() as (base, peer, ours_daemon):
        with peer() as cri:
            theirs = measure(cri, args.runs)
        with ours_daemon() as cri:
            ours = measure(cri, args.runs)
        floor = runc_floor(base, args.runs)
    ratio = ratios(ours, theirs)
    print(json.dumps({
        "benchmark": "lifecycle",
        "runs": args.runs,
        "crio_py": ours,
        "containerd_1_6": theirs,
        "runc_floor": floor,
        "ratio_crio_py_to_containerd": ratio,
        "targets": targets(ratio),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
