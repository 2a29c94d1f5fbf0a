"""The CRI under load: crio-py against containerd 1.6 on equivalent configurations, in the
same run (fresh daemons on private roots, one CNI network, one local registry).

Per daemon and round:

- pod_start:                  RunPodSandbox + CreateContainer + StartContainer, one at a time
- under_load:                 --callers concurrent callers, each cycling ContainerStatus,
                              ListContainers, PodSandboxStatus and ListPodSandbox as fast as
                              answered, while --pods pods (a container each) start one after
                              the other; p50/p99 per RPC, and the pod starts meanwhile
- run_pod_sandbox_concurrent: --pods RunPodSandbox at once: p50/p99 and the wall time of all
- list_containers:            ListContainers with --containers containers (pods of 20)
- image_status, list_images:  ImageStatus of busybox, ListImages
- version:                    Version, the floor of any unary RPC on the daemon

The figures are the medians over --rounds rounds, the daemons alternating. Prints JSON with
the ratios crio-py / containerd and the targets, met or not: p99 ContainerStatus under load
at most 50 ms; the concurrent RunPodSandbox done no later than containerd's; ListContainers,
ImageStatus and ListImages p50 at most 1.5 times containerd's; pod start p50 at most 0.6
times. Exits 1 when a target is not met.

`--profile DIR` runs crio-py alone under cProfile, one profile per phase (DIR/<phase>.prof,
the measured part only). With CRIO_PY_BENCH_METRICS=1 crio-py serves its metrics endpoint.

Everything made (pods, containers, the bridge and portmap's chains, mounts, temp dirs, the
daemons) is removed at the end, also after Ctrl-C or SIGTERM: a daemon stopped by the
interrupt is started again on its own dirs to remove its pods.

    .venv/bin/python -m bench.load [--callers 50] [--pods 20] [--containers 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import grpc
from cri_api.v1 import api_pb2, api_pb2_grpc

from bench.critest import _unmount_under
from bench.lifecycle import Cri, containerd_config
from bench.pull import _wait_for
from tests.fixtures.cninet import cni_network
from tests.fixtures.daemon import Daemon, daemon_config
from tests.fixtures.images import busybox_image, pause_image
from tests.fixtures.procs import descendants, processes
from tests.fixtures.registry import Registry

SAMPLES = 100  # sequential calls per latency of one RPC
PER_POD = 20  # containers per pod for the ListContainers phase
STATUS_RPCS = ("ContainerStatus", "ListContainers", "PodSandboxStatus", "ListPodSandbox")
Stats = dict[str, float]
Figures = dict[str, dict[str, Stats]]


# Pure helpers


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest sample with at least `fraction` of all
    samples at or below it."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency(samples: list[float]) -> Stats:
    """p50 and p99 in milliseconds of samples in seconds, and their count."""
    return {"p50_ms": round(percentile(samples, 0.5) * 1000, 2),
            "p99_ms": round(percentile(samples, 0.99) * 1000, 2), "calls": len(samples)}


def median_of_rounds(rounds: list[Figures]) -> Figures:
    """Each figure of each phase as its median over the rounds."""
    merged: Figures = {}
    for phase, figures in rounds[0].items():
        merged[phase] = {}
        for name, stats in figures.items():
            merged[phase][name] = {
                key: round(statistics.median(r[phase][name][key] for r in rounds), 2)
                for key in stats
            }
    return merged


def ratios(ours: Figures, theirs: Figures) -> dict[str, dict[str, float]]:
    """crio-py / containerd for every figure both have (a zero of containerd's is left out)."""
    found: dict[str, dict[str, float]] = {}
    for phase, figures in ours.items():
        for name, stats in figures.items():
            other = theirs.get(phase, {}).get(name, {})
            for key, value in stats.items():
                if key != "calls" and other.get(key):
                    found.setdefault(phase, {})[f"{name}.{key}"] = round(value / other[key], 3)
    return found


@dataclass(frozen=True)
class Target:
    """A figure of crio-py's held against a limit: an absolute one (`absolute_ms`) or a
    multiple of containerd's figure (`max_ratio`)."""

    phase: str
    name: str
    key: str
    max_ratio: float | None = None
    absolute_ms: float | None = None


TARGETS = {
    "container_status_p99_under_load": Target("under_load", "ContainerStatus", "p99_ms",
                                              absolute_ms=50.0),
    "run_pod_sandbox_concurrent_wall": Target("run_pod_sandbox_concurrent", "all", "wall_ms",
                                              max_ratio=1.0),
    "list_containers": Target("list_containers", "ListContainers", "p50_ms", max_ratio=1.5),
    "image_status": Target("images", "ImageStatus", "p50_ms", max_ratio=1.5),
    "list_images": Target("images", "ListImages", "p50_ms", max_ratio=1.5),
    "pod_start": Target("pod_start", "pod_start", "p50_ms", max_ratio=0.6),
}


def targets(ours: Figures, theirs: Figures) -> dict[str, dict[str, object]]:
    """Each target with both figures and whether crio-py's meets it."""
    found: dict[str, dict[str, object]] = {}
    for label, target in TARGETS.items():
        mine = ours[target.phase][target.name][target.key]
        peer = theirs[target.phase][target.name][target.key]
        entry: dict[str, object] = {"crio_py": mine, "containerd": peer}
        if target.absolute_ms is not None:
            entry.update(limit_ms=target.absolute_ms, met=mine <= target.absolute_ms)
        else:
            assert target.max_ratio is not None
            ratio = round(mine / peer, 3) if peer else math.inf
            entry.update(ratio=ratio, max_ratio=target.max_ratio, met=ratio <= target.max_ratio)
        found[label] = entry
    return found


# The phases


@dataclass(frozen=True)
class Options:
    callers: int
    pods: int
    containers: int


@dataclass
class Running:
    """A running daemon: its CRI stubs, its socket (for asyncio channels), and how to tell a
    profiler to start or stop (crio-py under --profile only)."""

    cri: Cri
    socket: Path
    toggle_profile: Callable[[str], None] | None = None


def measure(daemon: Running, options: Options) -> Figures:
    """Every phase of the module docstring, each leaving no pod behind."""
    cri = daemon.cri
    cri.pull()
    phases: dict[str, Callable[[Running, Options], dict[str, Stats]]] = {
        "pod_start": _pod_start, "under_load": _under_load,
        "run_pod_sandbox_concurrent": _concurrent_pods, "list_containers": _list_containers,
        "images": _images, "version": _version,
    }  # fmt: skip
    figures: Figures = {}
    for phase, run in phases.items():
        figures[phase] = run(daemon, options)
        cri.remove_all()
    return figures


@contextmanager
def _profiled(daemon: Running, phase: str) -> Iterator[None]:
    if daemon.toggle_profile is not None:
        daemon.toggle_profile(phase)
    try:
        yield
    finally:
        if daemon.toggle_profile is not None:
            daemon.toggle_profile(phase)


def _pod_start(daemon: Running, options: Options) -> dict[str, Stats]:
    cri = daemon.cri
    samples = []
    with _profiled(daemon, "pod_start"):
        for index in range(options.pods):
            started = time.perf_counter()
            pod_id, pod = cri.run_pod(f"{cri.name}-start-{index}")
            cri.run_container(pod_id, pod, "app")
            samples.append(time.perf_counter() - started)
    return {"pod_start": latency(samples)}


def _under_load(daemon: Running, options: Options) -> dict[str, Stats]:
    cri = daemon.cri
    pod_id, pod = cri.run_pod(f"{cri.name}-watched")
    container_id = cri.run_container(pod_id, pod, "app")
    with _profiled(daemon, "under_load"):
        samples = asyncio.run(_callers_while(daemon, options, pod_id, container_id))
    return {name: latency(values) for name, values in samples.items()}


async def _callers_while(
    daemon: Running, options: Options, pod_id: str, container_id: str
) -> dict[str, list[float]]:
    """The callers until the pods have started; the latencies per RPC and of the starts."""
    samples: dict[str, list[float]] = {name: [] for name in (*STATUS_RPCS, "pod_start")}
    done = asyncio.Event()
    async with grpc.aio.insecure_channel(f"unix://{daemon.socket}") as channel:
        stub = api_pb2_grpc.RuntimeServiceStub(channel)
        calls = {
            "ContainerStatus": lambda: stub.ContainerStatus(
                api_pb2.ContainerStatusRequest(container_id=container_id), timeout=60),
            "ListContainers": lambda: stub.ListContainers(
                api_pb2.ListContainersRequest(), timeout=60),
            "PodSandboxStatus": lambda: stub.PodSandboxStatus(
                api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pod_id), timeout=60),
            "ListPodSandbox": lambda: stub.ListPodSandbox(
                api_pb2.ListPodSandboxRequest(), timeout=60),
        }
        callers = [asyncio.create_task(_caller(calls, index, samples, done))
                   for index in range(options.callers)]
        stop = threading.Event()  # an interrupt ends the starts too
        try:
            await asyncio.sleep(0.2)  # every caller has started
            samples["pod_start"] = await asyncio.to_thread(_start_pods, daemon.cri, options,
                                                           stop)
        finally:
            stop.set()
            done.set()
            await asyncio.gather(*callers)
    return samples


async def _caller(
    calls: dict[str, Callable[[], object]], index: int, samples: dict[str, list[float]],
    done: asyncio.Event,
) -> None:
    """One caller: the RPCs in turn, starting at its own, until `done`."""
    names = list(calls)
    turn = index
    while not done.is_set():
        name = names[turn % len(names)]
        started = time.perf_counter()
        await calls[name]()  # type: ignore[misc]
        samples[name].append(time.perf_counter() - started)
        turn += 1


def _start_pods(cri: Cri, options: Options, stop: threading.Event) -> list[float]:
    samples = []
    for index in range(options.pods):
        if stop.is_set():
            break
        started = time.perf_counter()
        pod_id, pod = cri.run_pod(f"{cri.name}-load-{index}")
        cri.run_container(pod_id, pod, "app")
        samples.append(time.perf_counter() - started)
    return samples


def _concurrent_pods(daemon: Running, options: Options) -> dict[str, Stats]:
    cri = daemon.cri

    def run_one(index: int) -> float:
        started = time.perf_counter()
        cri.run_pod(f"{cri.name}-burst-{index}")
        return time.perf_counter() - started

    with _profiled(daemon, "run_pod_sandbox_concurrent"), \
            ThreadPoolExecutor(max_workers=options.pods) as pool:
        started = time.perf_counter()
        samples = list(pool.map(run_one, range(options.pods)))
        wall = time.perf_counter() - started
    return {"RunPodSandbox": latency(samples), "all": {"wall_ms": round(wall * 1000, 2)}}


def _list_containers(daemon: Running, options: Options) -> dict[str, Stats]:
    cri = daemon.cri
    for pod_index in range(math.ceil(options.containers / PER_POD)):
        pod_id, pod = cri.run_pod(f"{cri.name}-list-{pod_index}")
        for index in range(min(PER_POD, options.containers - pod_index * PER_POD)):
            cri.run_container(pod_id, pod, f"c{index}")
    request = api_pb2.ListContainersRequest()
    found = len(cri.runtime.ListContainers(request).containers)
    if found != options.containers:
        raise RuntimeError(f"{cri.name} lists {found} containers, not {options.containers}")
    with _profiled(daemon, "list_containers"):
        samples = _sequential(lambda: cri.runtime.ListContainers(request, timeout=60))
    return {"ListContainers": latency(samples)}


def _images(daemon: Running, options: Options) -> dict[str, Stats]:
    stub = api_pb2_grpc.ImageServiceStub(daemon.cri.channel)
    status = api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image=daemon.cri.image))
    if not stub.ImageStatus(status, timeout=60).image.id:
        raise RuntimeError(f"{daemon.cri.name} does not know {daemon.cri.image}")
    with _profiled(daemon, "images"):
        return {
            "ImageStatus": latency(_sequential(lambda: stub.ImageStatus(status, timeout=60))),
            "ListImages": latency(_sequential(
                lambda: stub.ListImages(api_pb2.ListImagesRequest(), timeout=60))),
        }


def _version(daemon: Running, options: Options) -> dict[str, Stats]:
    """The floor of a unary RPC on this daemon: transport, dispatch and wrapper alone."""
    request = api_pb2.VersionRequest()
    with _profiled(daemon, "version"):
        samples = _sequential(lambda: daemon.cri.runtime.Version(request, timeout=60))
    return {"Version": latency(samples)}


def _sequential(call: Callable[[], object]) -> list[float]:
    call()  # a first call may fill caches; the figures are of a warm daemon
    samples = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


# The daemons, each removing all it made even after an interrupt


@dataclass(frozen=True)
class Shared:
    """What both daemons use: the scratch dir, the registry, the CNI network, busybox."""

    base: Path
    registry: Registry
    net_dir: Path
    image: str


METRICS_ENV = "CRIO_PY_BENCH_METRICS"


@contextmanager
def crio_py(work: Path, shared: Shared, profile_dir: Path | None = None) -> Iterator[Running]:
    daemon = Daemon(work, log_level="info")  # containerd's default level, too
    daemon.trust(shared.registry.host, plain_http=True)
    # CRIO_PY_BENCH_METRICS=1: with the metrics endpoint on, to measure what counting costs.
    metrics = '[metrics]\n  address = "127.0.0.1:0"\n' if os.environ.get(METRICS_ENV) else ""
    daemon.config.write_text(
        daemon_config(daemon, shared.net_dir, shared.registry.host, metrics), encoding="utf-8"
    )
    env = _profile_env(profile_dir) if profile_dir else {}
    daemon.start(env)
    interrupted = False
    try:
        assert daemon.process is not None
        with daemon.channel() as channel:
            running = Running(Cri("crio-py", channel, daemon.process.pid, shared.image,
                                  work / "pods"), daemon.socket)
            if profile_dir is not None:
                running.toggle_profile = _profile_toggle(daemon.process.pid, profile_dir)
            yield running
    except BaseException:
        interrupted = True
        raise
    finally:
        _remove_pods(daemon.socket, lambda: (daemon.stop(), daemon.start()),
                     settle=interrupted)
        daemon.stop()
        _unmount_under(work)


@contextmanager
def containerd(work: Path, shared: Shared) -> Iterator[Running]:
    config, socket = containerd_config(work, shared.registry, shared.net_dir)
    log = (work / "containerd.log").open("ab")
    processes_: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        process = subprocess.Popen(["containerd", "--config", str(config)], stdout=log,
                                   stderr=log, stdin=subprocess.DEVNULL)
        processes_.append(process)
        try:
            _wait_for(socket, process)
        except BaseException:
            process.kill()
            process.wait()
            raise

    def stop() -> None:
        for process in processes_:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)

    start()
    interrupted = False
    try:
        with grpc.insecure_channel(f"unix://{socket}") as channel:
            yield Running(Cri("containerd", channel, processes_[-1].pid, shared.image,
                              work / "pods"), socket)
    except BaseException:
        interrupted = True
        raise
    finally:
        _remove_pods(socket, lambda: (stop(), start()), settle=interrupted)
        stop()
        log.close()
        _unmount_under(work)


def _remove_pods(socket: Path, restart: Callable[[], object], *, settle: bool) -> None:
    """Every pod of the daemon on `socket` stopped and removed, the daemon restarted first
    if it does not answer (Ctrl-C reaches it too); after an interrupt (`settle`) a second
    time, for a RunPodSandbox the daemon was still serving when the first list was taken."""
    with _uninterrupted():
        if not _answers(socket):
            print(f"restarting the daemon on {socket} to remove its pods", file=sys.stderr)
            restart()
        with grpc.insecure_channel(f"unix://{socket}") as channel:
            cleanup = Cri("cleanup", channel, 0, "", Path())
            cleanup.remove_all()
            if settle:
                time.sleep(3)
                cleanup.remove_all()


def _answers(socket: Path) -> bool:
    with grpc.insecure_channel(f"unix://{socket}") as channel:
        try:
            api_pb2_grpc.RuntimeServiceStub(channel).Version(api_pb2.VersionRequest(),
                                                             timeout=2)
        except grpc.RpcError:
            return False
    return True


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """Ctrl-C and SIGTERM held off while cleaning up (only in the main thread)."""
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:
            raise KeyboardInterrupt


def _profile_env(profile_dir: Path) -> dict[str, str]:
    """The environment that makes `crio-py serve` profile itself between two SIGUSR1s."""
    hook = profile_dir / "hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(PROFILE_HOOK)
    return {"PYTHONPATH": str(hook), "CRIO_PY_BENCH_PROFILE": str(profile_dir / "phase")}


# Loaded by the daemon's interpreter: the first SIGUSR1 starts a profile of the main thread
# (the event loop), the next writes it to <prefix>.<n>.prof, and so on.
PROFILE_HOOK = '''\
import cProfile, os, signal
_prefix = os.environ.pop("CRIO_PY_BENCH_PROFILE", None)
if _prefix:
    _state = {"profile": None, "count": 0}

    def _toggle(signum, frame):
        if _state["profile"] is None:
            _state["profile"] = cProfile.Profile()
            _state["profile"].enable()
            return
        profile, _state["profile"] = _state["profile"], None
        profile.disable()
        _state["count"] += 1
        profile.dump_stats(f"{_prefix}.{_state['count']}.prof")

    signal.signal(signal.SIGUSR1, _toggle)
'''


def _profile_toggle(pid: int, profile_dir: Path) -> Callable[[str], None]:
    """Starts the daemon's profile, or stops it and names the file for the phase."""
    state = {"running": False, "count": 0}

    def toggle(phase: str) -> None:
        os.kill(pid, signal.SIGUSR1)
        if not state["running"]:
            state["running"] = True
            time.sleep(0.2)  # the loop runs the handler on its next turn
            return
        state["running"] = False
        state["count"] += 1
        written = profile_dir / f"phase.{state['count']}.prof"
        deadline = time.monotonic() + 10
        while not written.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        written.rename(profile_dir / f"{phase}.prof")

    return toggle


@contextmanager
def shared_setup() -> Iterator[Shared]:
    """A scratch dir, a registry serving busybox and pause, a CNI network; afterwards any
    process still naming the scratch dir is killed and reported."""
    with tempfile.TemporaryDirectory(prefix="crio-py-bench-load-") as temp:
        base = Path(temp)
        try:
            with Registry() as registry:
                image = registry.push_image(busybox_image(base / "images"))
                registry.push_image(pause_image(base / "images"))
                with cni_network(base) as network:
                    yield Shared(base, registry, network.conf_dir, image)
        finally:
            _kill_leftovers(base)
            _unmount_under(base)


def _kill_leftovers(base: Path) -> None:
    """The last resort: a process naming the scratch dir (a daemon, conmon, a shim) is
    killed after its descendants (the containers it monitors)."""
    for process in processes().values():
        if process.pid == os.getpid() or str(base) not in process.cmdline():
            continue
        print(f"killing leftover pid {process.pid}: {process.cmdline()}", file=sys.stderr)
        for pid in [*descendants(process.pid), process.pid]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


# Main


def run(options: Options, rounds: int) -> dict[str, object]:
    ours: list[Figures] = []
    theirs: list[Figures] = []
    with shared_setup() as shared:
        for index in range(rounds):
            with containerd(shared.base / f"containerd-{index}", shared) as daemon:
                theirs.append(measure(daemon, options))
            with crio_py(shared.base / f"crio-py-{index}", shared) as daemon:
                ours.append(measure(daemon, options))
    mine, peer = median_of_rounds(ours), median_of_rounds(theirs)
    return {
        "benchmark": "load",
        "callers": options.callers, "pods": options.pods, "containers": options.containers,
        "rounds": rounds, "samples_per_sequential_rpc": SAMPLES,
        "crio_py": mine, "containerd_1_6": peer,
        "ratio_crio_py_to_containerd": ratios(mine, peer),
        "targets": targets(mine, peer),
    }  # fmt: skip


def profile(options: Options, profile_dir: Path) -> dict[str, object]:
    profile_dir.mkdir(parents=True, exist_ok=True)
    with shared_setup() as shared, crio_py(shared.base / "crio-py", shared,
                                           profile_dir.resolve()) as daemon:
        figures = measure(daemon, options)
    return {"benchmark": "load", "profiled": str(profile_dir), "crio_py": figures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="crio-py alone under cProfile: DIR/<phase>.prof")
    args = parser.parse_args()
    if min(args.callers, args.pods, args.containers, args.rounds) < 1:
        parser.error("--callers, --pods, --containers and --rounds must be at least 1")
    if shutil.which("containerd") is None and args.profile is None:
        print(json.dumps({"error": "containerd is not installed"}))
        return 1
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    options = Options(args.callers, args.pods, args.containers)
    if args.profile is not None:
        print(json.dumps(profile(options, args.profile), indent=2))
        return 0
    result = run(options, args.rounds)
    print(json.dumps(result, indent=2))
    met = [entry["met"] for entry in result["targets"].values()]  # type: ignore[attr-defined]
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
