"""Pull + unpack time of a large image: crio-py against containerd 1.6, in the same run.

Both daemons run on private roots and sockets, pull the same image (random data in 4 layers)
from the same local registry through the CRI ImageService, and unpack it into overlay
snapshots. Each measurement starts from an empty root. Prints JSON with the times, their
medians and the ratio crio-py / containerd (target: at most 1.2).

    .venv/bin/python -m bench.pull [--size-mb 200] [--runs 3]
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
from pathlib import Path

import grpc
from cri_api.v1 import api_pb2, api_pb2_grpc

from tests.fixtures.daemon import Daemon, _dir
from tests.fixtures.images import large_image
from tests.fixtures.registry import Registry

TARGET_RATIO = 1.2


def _pull(socket: Path, image: str) -> float:
    with grpc.insecure_channel(f"unix://{socket}") as channel:
        stub = api_pb2_grpc.ImageServiceStub(channel)
        started = time.perf_counter()
        stub.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=image)),
                       timeout=600)
        return time.perf_counter() - started


def time_crio_py(workdir: Path, registry: Registry, image: str) -> float:
    with Daemon(workdir) as daemon:
        daemon.trust(registry.host, plain_http=True)
        return _pull(daemon.socket, image)


def time_containerd(workdir: Path, registry: Registry, image: str) -> float:
    certs = workdir / "certs.d" / _dir(registry.host)
    certs.mkdir(parents=True)
    (certs / "hosts.toml").write_text(f'server = "http://{registry.host}"\n')
    socket = workdir / "state" / "containerd.sock"
    config = workdir / "config.toml"
    config.write_text(
        f'version = 2\nroot = "{workdir / "root"}"\nstate = "{workdir / "state"}"\n'
        f'[grpc]\n  address = "{socket}"\n'
        '[plugins."io.containerd.grpc.v1.cri".registry]\n'
        f'  config_path = "{workdir / "certs.d"}"\n'
    )
    log = (workdir / "containerd.log").open("wb")
    process = subprocess.Popen(["containerd", "--config", str(config)], stdout=log, stderr=log)
    try:
        _wait_for(socket, process)
        return _pull(socket, image)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def _wait_for(socket: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        if socket.exists():
            with grpc.insecure_channel(f"unix://{socket}") as channel:
                try:
                    api_pb2_grpc.ImageServiceStub(channel).ListImages(
                        api_pb2.ListImagesRequest(), timeout=2)
                    return
                except grpc.RpcError:
                    pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("containerd did not start")
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("containerd") is None:
        print(json.dumps({"error": "containerd is not installed"}))
        return 1
    with tempfile.TemporaryDirectory(prefix="crio-py-bench-") as temp:
        base = Path(temp)
        built = large_image(base / "image", total_mb=args.size_mb)
        times: dict[str, list[float]] = {"crio_py": [], "containerd": []}
        with Registry() as registry:
            image = registry.push(built.layout, "large", built.tag)
            for run in range(args.runs):
                times["containerd"].append(time_containerd(base / f"containerd-{run}",
                                                           registry, image))
                times["crio_py"].append(time_crio_py(base / f"crio-{run}", registry, image))
                for name in (f"containerd-{run}", f"crio-{run}"):
                    shutil.rmtree(base / name, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["crio_py"] / medians["containerd"]
    print(json.dumps({
        "benchmark": "pull+unpack",
        "image_mb": args.size_mb,
        "layers": 4,
        "runs": args.runs,
        "crio_py_s": [round(t, 3) for t in times["crio_py"]],
        "containerd_s": [round(t, 3) for t in times["containerd"]],
        "crio_py_median_s": round(medians["crio_py"], 3),
        "containerd_median_s": round(medians["containerd"], 3),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
