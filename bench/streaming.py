"""Streaming exec through crio-py and through containerd 1.6, in the same run.

Both daemons run on private roots and sockets with one CNI network, and run a busybox
container. Each measures, through the CRI Exec URL and a WebSocket client speaking
`v4.channel.k8s.io` (what both servers accept):

- exec_round_trip: Exec RPC + connect + run /bin/true + exit status, p50/p95 over --runs;
- stdout_throughput: MiB/s of `head -c <--mib>M /dev/zero` through exec stdout (median of 3).

Prints JSON with the figures and the ratios crio-py / containerd.

    .venv/bin/python -m bench.streaming [--runs 20] [--mib 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time

from cri_api.v1 import api_pb2

from bench.lifecycle import Cri, both_runtimes, containerd_missing, summary
from crio_py.ctl.stream import open_websocket
from crio_py.websocket import ConnectionClosed

PROTOCOLS = ("v4.channel.k8s.io",)


async def _exec(url: str) -> tuple[int, dict[str, object]]:
    """Run one exec session; the stdout bytes and the status."""
    ws, _ = await open_websocket(url, PROTOCOLS)
    received, status = 0, {}
    try:
        while True:
            _, message = await ws.receive()
            if message[:1] == b"\x01":
                received += len(message) - 1
            elif message[:1] == b"\x03" and len(message) > 1:
                status = json.loads(message[1:])
    except ConnectionClosed:
        pass
    await ws.close()
    return received, status


def _url(cri: Cri, container_id: str, command: list[str]) -> str:
    request = api_pb2.ExecRequest(container_id=container_id, cmd=command, stdout=True)
    return str(cri.runtime.Exec(request, timeout=30).url)


def measure(cri: Cri, runs: int, mib: int) -> dict[str, object]:
    cri.pull()
    pod_id, pod = cri.run_pod(f"{cri.name}-stream")
    container_id = cri.run_container(pod_id, pod, "target")
    round_trips = []
    for _ in range(runs):
        started = time.perf_counter()
        _, status = asyncio.run(_exec(_url(cri, container_id, ["/bin/true"])))
        round_trips.append(time.perf_counter() - started)
        if status.get("status") not in ("Success", None):
            raise RuntimeError(f"{cri.name}: /bin/true failed: {status}")
    rates = []
    command = ["/bin/sh", "-c", f"head -c {mib}m /dev/zero"]
    for _ in range(3):
        started = time.perf_counter()
        received, _ = asyncio.run(_exec(_url(cri, container_id, command)))
        elapsed = time.perf_counter() - started
        if received != mib * 1024 * 1024:
            raise RuntimeError(f"{cri.name}: received {received} bytes of {mib} MiB")
        rates.append(mib / elapsed)
    cri.remove_all()
    return {
        "exec_round_trip": summary(round_trips),
        "stdout_throughput_mib_s": round(statistics.median(rates), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--mib", type=int, default=100)
    args = parser.parse_args()
    if containerd_missing():
        return 1
    with both_runtimes() as (_, peer, ours_daemon):
        with peer() as cri:
            theirs = measure(cri, args.runs, args.mib)
        with ours_daemon() as cri:
            ours = measure(cri, args.runs, args.mib)
    ours_rt = ours["exec_round_trip"]
    theirs_rt = theirs["exec_round_trip"]
    assert isinstance(ours_rt, dict) and isinstance(theirs_rt, dict)
    ratios = {
        "exec_round_trip_p50": round(ours_rt["p50_ms"] / theirs_rt["p50_ms"], 3),
        "stdout_throughput": round(
            float(ours["stdout_throughput_mib_s"]) / float(theirs["stdout_throughput_mib_s"]), 3
        ),
    }
    print(json.dumps({
        "benchmark": "streaming",
        "runs": args.runs,
        "stdout_mib": args.mib,
        "crio_py": ours,
        "containerd_1_6": theirs,
        "ratio_crio_py_to_containerd": ratios,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
