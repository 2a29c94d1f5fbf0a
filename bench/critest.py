"""critest's benchmarks (cri-tools `critest -benchmark`: 50 pods, 50 containers, 20 image pull
and remove cycles, image listing) against crio-py and then containerd 1.6, in one run, through
the conformance suite's own `run.sh --benchmark`, which starts the registry and builds the
images. containerd gets a configuration equivalent to the one run.sh writes for crio-py: the
same registry mirrors, runc, a CNI bridge with portmap of its own (`crbench0`,
10.93.0.0/16), restrict_oom_score_adj, and its own root, state and socket.

Runs both --rounds times, alternating, and takes the median of each figure over the rounds.
Prints JSON: per operation the p50 and p99 in ms of both and their ratio, pod start
(RunPodSandbox + CreateContainer + StartContainer) and pull (PullImage + RemoveImage), and
whether the targets hold: pod start p50 at most containerd's, pull + remove p50 at most 1.2
times containerd's.

    .venv/bin/python -m bench.critest [--conformance-dir ../shared/conformance]
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REGISTRY = "127.0.0.1:5055"
MIRRORED = ("_default", "registry.k8s.io", "gcr.io", "k8s.gcr.io", "docker.io", REGISTRY)
ROOT = Path("/var/lib/crio-py-bench-containerd")
STATE = Path("/run/crio-py-bench-containerd")
BRIDGE, SUBNET = "crbench0", "10.93.0.0/16"
POD_START = (
    ("pod", "CreatePod"),
    ("container", "CreateContainer"),
    ("container", "StartContainer"),
)
PULL = (("image_lifecycle", "PullImage"), ("image_lifecycle", "RemoveImage"))
TARGETS = {"pod_start": 1.0, "pull_remove": 1.2}


def run_benchmark(conformance: Path, out: Path, endpoint: str | None = None) -> dict[str, object]:
    """`run.sh --benchmark` and its summary.json."""
    argv = [str(conformance / "run.sh"), "--benchmark", "--out", str(out)]
    if endpoint:
        argv += ["--endpoint", endpoint]
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stdout[-2000:]}{result.stderr}")
    data: dict[str, object] = json.loads((out / "summary.json").read_text())
    return data


def _containerd_config(work: Path, cni_dir: Path, socket: Path) -> Path:
    hosts = work / "hosts.d"
    for host in MIRRORED:
        (hosts / host).mkdir(parents=True)
        (hosts / host / "hosts.toml").write_text(
            f'server = "http://{REGISTRY}"\n[host."http://{REGISTRY}"]\n'
            '  capabilities = ["pull", "resolve"]\n  skip_verify = true\n'
        )
    cri = '[plugins."io.containerd.grpc.v1.cri"'
    config = work / "config.toml"
    config.write_text(
        f'version = 2\nroot = "{ROOT}"\nstate = "{STATE}"\n'
        f'[grpc]\n  address = "{socket}"\n'
        f'{cri}]\n  sandbox_image = "{REGISTRY}/conformance/pause:1.0"\n'
        '  stream_server_address = "127.0.0.1"\n  stream_server_port = "0"\n'
        "  restrict_oom_score_adj = true\n  disable_apparmor = true\n"
        f'{cri}.containerd]\n  snapshotter = "overlayfs"\n  default_runtime_name = "runc"\n'
        f'{cri}.containerd.runtimes.runc]\n  runtime_type = "io.containerd.runc.v2"\n'
        f"{cri}.containerd.runtimes.runc.options]\n  SystemdCgroup = false\n"
        f'{cri}.cni]\n  bin_dir = "/usr/lib/cni"\n  conf_dir = "{cni_dir}"\n'
        f'{cri}.registry]\n  config_path = "{hosts}"\n'
    )
    return config


def _cni(cni_dir: Path) -> None:
    cni_dir.mkdir(parents=True)
    network = {
        "cniVersion": "1.0.0",
        "name": "crbench",
        "plugins": [
            {
                "type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": SUBNET}]],
                         "dataDir": str(ROOT / "cni-ipam")},
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }  # fmt: skip
    (cni_dir / "10-crbench.conflist").write_text(json.dumps(network))


@contextmanager
def containerd(work: Path, crictl: Path) -> Iterator[str]:
    """containerd on private dirs, stopped and cleaned up afterwards (its bridge too)."""
    socket = STATE / "containerd.sock"
    _cni(work / "cni")
    config = _containerd_config(work, work / "cni", socket)
    log = (work / "containerd.log").open("wb")
    process = subprocess.Popen(["containerd", "--config", str(config)], stdout=log, stderr=log)
    try:
        for _ in range(200):
            if socket.exists() or process.poll() is not None:
                break
            time.sleep(0.1)
        if not socket.exists():
            raise RuntimeError(f"containerd did not start (log: {work / 'containerd.log'})")
        yield f"unix://{socket}"
    finally:
        _remove_pods(crictl, socket)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        _unmount_under(ROOT, STATE)
        shutil.rmtree(STATE, ignore_errors=True)
        shutil.rmtree(ROOT, ignore_errors=True)


def _remove_pods(crictl: Path, socket: Path) -> None:
    argv = [str(crictl), "-r", f"unix://{socket}"]
    listed = subprocess.run([*argv, "pods", "-q"], capture_output=True, text=True)
    for pod in listed.stdout.split():
        subprocess.run([*argv, "stopp", pod], capture_output=True)
        subprocess.run([*argv, "rmp", pod], capture_output=True)


def _unmount_under(*dirs: Path) -> None:
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for point in sorted(points, key=len, reverse=True):
        if any(point == str(d) or point.startswith(f"{d}/") for d in dirs):
            subprocess.run(["umount", "-l", point], capture_output=True)


def compare(ours: dict[str, object], theirs: dict[str, object]) -> dict[str, object]:
    """Per operation: both p50 and p99 and the p50 ratio; then pod start and pull + remove."""
    mine, peer = ours["operations_ms"], theirs["operations_ms"]
    assert isinstance(mine, dict) and isinstance(peer, dict)
    table: dict[str, object] = {}
    for group, operations in mine.items():
        for name, stats in operations.items():
            other = peer.get(group, {}).get(name)
            if other is None or "p50" not in stats:
                continue
            table[name] = {
                "crio_py_p50_ms": stats["p50"], "crio_py_p99_ms": stats["p99"],
                "containerd_p50_ms": other["p50"], "containerd_p99_ms": other["p99"],
                "ratio_p50": round(stats["p50"] / other["p50"], 3) if other["p50"] else None,
            }  # fmt: skip
    combined = {}
    for key, parts in (("pod_start", POD_START), ("pull_remove", PULL)):
        ours_ms = sum(_group(mine, g)[n]["p50"] for g, n in parts)
        theirs_ms = sum(_group(peer, g)[n]["p50"] for g, n in parts)
        ratio = round(ours_ms / theirs_ms, 3)
        combined[key] = {
            "crio_py_p50_ms": round(ours_ms, 2), "containerd_p50_ms": round(theirs_ms, 2),
            "ratio_p50": ratio, "max_ratio": TARGETS[key], "met": ratio <= TARGETS[key],
        }  # fmt: skip
    return {"operations": table, "targets": combined}


def _group(
    operations: dict[str, dict[str, dict[str, float]]], name: str
) -> dict[str, dict[str, float]]:
    """A benchmark group by its name ("pod" is reported as "pod (parallel 1)")."""
    return next(v for k, v in operations.items() if k.split(" (")[0] == name)


def median_of_rounds(rounds: list[dict[str, object]]) -> dict[str, object]:
    """One summary whose p50 and p99 per operation are the medians over the rounds (a round
    on this machine can be slowed as a whole by the disk writes of the suite's set-up)."""
    merged: dict[str, dict[str, dict[str, float]]] = {}
    first = rounds[0]["operations_ms"]
    assert isinstance(first, dict)
    for group, operations in first.items():
        merged[group] = {}
        for name in operations:
            samples = [r["operations_ms"][group][name] for r in rounds]  # type: ignore[index]
            merged[group][name] = {
                key: statistics.median(sample[key] for sample in samples) for key in ("p50", "p99")
            }
    return {"operations_ms": merged}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conformance-dir", type=Path, default=Path("../shared/conformance"))
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each")
    args = parser.parse_args()
    if shutil.which("containerd") is None or not (args.conformance_dir / "run.sh").exists():
        print(json.dumps({"error": "needs containerd and the conformance suite's run.sh"}))
        return 1
    ours, theirs = [], []
    crictl = args.conformance_dir / "bin" / "crictl"
    with tempfile.TemporaryDirectory(prefix="crio-py-bench-critest-") as temp:
        for index in range(args.rounds):
            work = Path(temp) / str(index)
            ours.append(run_benchmark(args.conformance_dir, work / "crio-py"))
            with containerd(work / "containerd", crictl) as endpoint:
                theirs.append(run_benchmark(args.conformance_dir, work / "run", endpoint))
    result = {
        "benchmark": "critest",
        "rounds": args.rounds,
        **compare(median_of_rounds(ours), median_of_rounds(theirs)),
    }
    print(json.dumps(result, indent=2))
    return 0 if all(t["met"] for t in result["targets"].values()) else 1  # type: ignore[union-attr]


if __name__ == "__main__":
    sys.exit(main())
