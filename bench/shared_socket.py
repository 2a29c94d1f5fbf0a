"""What sharing the CRI socket with CRI-O's inspect API costs a gRPC call: crio-py on a
containerd configuration (gRPC listens on the socket itself) against crio-py on the equivalent
CRI-O configuration (the socket is shared, gRPC connections relayed by splice), in one run,
the two daemons alternating over --rounds rounds.

Per daemon and round: Version (the floor of any unary RPC) and ImageStatus of an absent image,
--samples sequential calls each, on one connection; p50 and p99. Prints JSON with the medians
over the rounds and the ratio shared / direct.

    .venv/bin/python -m bench.shared_socket [--samples 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cri_api.v1 import api_pb2, api_pb2_grpc

from bench.load import percentile
from tests.fixtures.cninet import cni_network
from tests.fixtures.daemon import Daemon, crio_config, daemon_config

Call = Callable[[], object]


def _latencies_ms(call: Call, samples: int) -> list[float]:
    for _ in range(samples // 10):  # warm the connection and the daemon's caches
        call()
    found = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        found.append((time.perf_counter() - started) * 1000)
    return found


def _measure(daemon: Daemon, samples: int) -> dict[str, dict[str, float]]:
    with daemon.channel() as channel:
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        images = api_pb2_grpc.ImageServiceStub(channel)
        absent = api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image="absent:1"))
        calls: dict[str, Call] = {
            "Version": lambda: runtime.Version(api_pb2.VersionRequest()),
            "ImageStatus": lambda: images.ImageStatus(absent),
        }
        figures = {}
        for name, call in calls.items():
            found = _latencies_ms(call, samples)
            figures[name] = {"p50": percentile(found, 0.5), "p99": percentile(found, 0.99)}
        return figures


def _run(work: Path, kind: str, net_dir: Path, samples: int) -> dict[str, dict[str, float]]:
    daemon = Daemon(work / kind, log_level="info")
    make = crio_config if kind == "shared" else daemon_config
    daemon.config.write_text(make(daemon, net_dir, "127.0.0.1:1"), encoding="utf-8")
    with daemon:
        return _measure(daemon, samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds: dict[str, list[dict[str, dict[str, float]]]] = {"direct": [], "shared": []}
    with tempfile.TemporaryDirectory(prefix="crio-py-bench-") as temp, cni_network(
        Path(temp)
    ) as network:
        for index in range(args.rounds):
            for kind in ("direct", "shared"):
                work = Path(temp) / f"{kind}-{index}"
                rounds[kind].append(_run(work, kind, network.conf_dir, args.samples))
    result: dict[str, object] = {"benchmark": "shared CRI socket", "samples": args.samples}
    for rpc in ("Version", "ImageStatus"):
        row: dict[str, float] = {}
        for kind in ("direct", "shared"):
            for stat in ("p50", "p99"):
                row[f"{kind}_{stat}_ms"] = round(
                    statistics.median(r[rpc][stat] for r in rounds[kind]), 3
                )
        row["ratio_p50"] = round(row["shared_p50_ms"] / row["direct_p50_ms"], 3)
        result[rpc] = row
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
