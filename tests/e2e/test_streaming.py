"""Exec, Attach and PortForward end to end: the CRI RPCs hand out URLs of the daemon's
streaming server, and `crio-py ctl` (WebSocket) or the test's own clients use them against
real containers. No process or socket may be left behind."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cri_api.v1 import api_pb2

from crio_py.ctl.stream import COMMAND_PROTOCOLS, exit_code_of, open_websocket
from crio_py.websocket import ConnectionClosed
from tests.e2e.node import Node, container_config, node
from tests.e2e.test_network import _free_port
from tests.fixtures import spdy_client
from tests.fixtures.catalog import PushedImages

pytestmark = pytest.mark.e2e

SLEEPER = ("/bin/sleep", "1000")
HTTPD = (
    "mkdir -p /tmp/www && echo port-forwarded > /tmp/www/index.html && "
    "exec /bin/httpd -f -p 8080 -h /tmp/www"
)


def _ctl(cluster: Node, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    argv = [sys.executable, "-m", "crio_py", "ctl", "-r", f"unix://{cluster.daemon.socket}"]
    return subprocess.run([*argv, *args], input=stdin, capture_output=True, timeout=120)


def _daemon_sockets(cluster: Node) -> int:
    """How many sockets the daemon holds open."""
    assert cluster.daemon.process is not None
    fds = Path(f"/proc/{cluster.daemon.process.pid}/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            count += os.readlink(fd).startswith("socket:")
    return count


def _settled_sockets(cluster: Node, baseline: int) -> int:
    deadline = time.monotonic() + 5
    while (count := _daemon_sockets(cluster)) > baseline and time.monotonic() < deadline:
        time.sleep(0.1)
    return count


def _pod_with(cluster: Node, name: str, *args: str, **fields: object) -> tuple[str, str]:
    pod_id, pod = cluster.run_pod(name)
    config = container_config(name, cluster.busybox, *args, **fields)
    container_id = cluster.create(pod_id, pod, config)
    cluster.start(container_id)
    return pod_id, container_id


def _exec_url(cluster: Node, container_id: str, *cmd: str, **flags: bool) -> str:
    request = api_pb2.ExecRequest(container_id=container_id, cmd=list(cmd), **flags)
    return str(cluster.runtime.Exec(request).url)


def _stty_url(cluster: Node, container_id: str) -> str:
    """A terminal exec that prints its size once the client had time to resize it."""
    command = ("/bin/sh", "-c", "sleep 0.5; stty size")
    return _exec_url(cluster, container_id, *command, tty=True, stdin=True, stdout=True)


async def _session(url: str, send: list[bytes]) -> tuple[dict[int, bytes], dict[str, object]]:
    """Run one remotecommand session: send the messages, collect output by channel."""
    ws, _ = await open_websocket(url, COMMAND_PROTOCOLS)
    for message in send:
        await ws.send(message)
    output: dict[int, bytes] = {}
    status: dict[str, object] = {}
    try:
        while True:
            _, message = await ws.receive()
            if message[:1] == b"\x03":
                status = json.loads(message[1:])
            elif message:
                output[message[0]] = output.get(message[0], b"") + message[1:]
    except ConnectionClosed:
        pass
    await ws.close()
    return output, status


def test_exec_exit_codes_and_streams_through_ctl(cluster: Node) -> None:
    _, container_id = _pod_with(cluster, "exec", *SLEEPER)
    sockets = _daemon_sockets(cluster)
    done = _ctl(cluster, "exec", container_id, "/bin/sh", "-c", "echo out; echo err >&2; exit 3")
    assert (done.returncode, done.stdout, done.stderr) == (3, b"out\n", b"err\n")
    echoed = _ctl(cluster, "exec", "-i", container_id, "/bin/cat", stdin=b"hello stdin\n" * 1000)
    assert (echoed.returncode, echoed.stdout) == (0, b"hello stdin\n" * 1000)
    assert _settled_sockets(cluster, sockets) <= sockets


def test_exec_streams_100_mb_in_order(cluster: Node) -> None:
    _, container_id = _pod_with(cluster, "bulk", *SLEEPER)
    # 100 MiB of numbered lines: any loss or reordering changes the digest.
    script = "i=0; while [ $i -lt 1600 ]; do head -c 65536 /dev/zero | tr '\\0' x; i=$((i+1)); done"
    expected = hashlib.sha256(b"x" * (100 * 1024 * 1024)).hexdigest()
    done = _ctl(cluster, "exec", container_id, "/bin/sh", "-c", script)
    assert done.returncode == 0, done.stderr[-500:]
    assert len(done.stdout) == 100 * 1024 * 1024
    assert hashlib.sha256(done.stdout).hexdigest() == expected


def test_exec_with_a_terminal_follows_resizes(cluster: Node) -> None:
    _, container_id = _pod_with(cluster, "tty", *SLEEPER)
    url = _stty_url(cluster, container_id)
    resize = b"\x04" + json.dumps({"Width": 123, "Height": 45}).encode()
    output, status = asyncio.run(_session(url, [resize]))
    assert b"45 123" in output.get(1, b""), (output, status)
    assert status["status"] == "Success"


def test_exec_reports_non_zero_exit_as_status(cluster: Node) -> None:
    _, container_id = _pod_with(cluster, "status", *SLEEPER)
    url = _exec_url(cluster, container_id, "/bin/sh", "-c", "exit 7", stdout=True)
    _, status = asyncio.run(_session(url, []))
    assert status["reason"] == "NonZeroExitCode" and exit_code_of(status) == 7


def test_tokens_are_single_use(cluster: Node) -> None:
    _, container_id = _pod_with(cluster, "tokens", *SLEEPER)
    url = _exec_url(cluster, container_id, "/bin/true", stdout=True)
    asyncio.run(_session(url, []))
    with pytest.raises(Exception, match="404"):
        asyncio.run(_session(url, []))
    forged = url.rsplit("/", 1)[0] + "/" + secrets.token_urlsafe(24)
    with pytest.raises(Exception, match="404"):
        asyncio.run(_session(forged, []))
    with pytest.raises(urllib.error.HTTPError):  # not an upgrade
        urllib.request.urlopen(_exec_url(cluster, container_id, "/bin/true", stdout=True))


async def _stdout_until(url: str, needle: bytes, count: int = 1, send: bytes = b"") -> bytes:
    """Read stdout from a session until `needle` has been seen `count` times."""
    ws, _ = await open_websocket(url, COMMAND_PROTOCOLS)
    if send:
        await ws.send(b"\x00" + send)
    seen = b""
    while seen.count(needle) < count:
        _, message = await ws.receive()
        if message[:1] == b"\x01":
            seen += message[1:]
    await ws.close()
    return seen


def test_attach_to_a_running_container(cluster: Node) -> None:
    script = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"
    _, container_id = _pod_with(cluster, "ticker", "/bin/sh", "-c", script)
    request = api_pb2.AttachRequest(container_id=container_id, stdout=True, stderr=True)
    url = cluster.runtime.Attach(request).url
    seen = asyncio.run(asyncio.wait_for(_stdout_until(url, b"tick", 3), 20))
    assert seen.count(b"tick") >= 3


def test_attach_with_stdin(cluster: Node) -> None:
    _, container_id = _pod_with(cluster, "reader", "/bin/cat", stdin=True)
    done = _ctl(cluster, "attach", "-i", container_id, stdin=b"")
    assert done.returncode == 0, done.stderr
    request = api_pb2.AttachRequest(container_id=container_id, stdin=True, stdout=True)
    url = cluster.runtime.Attach(request).url
    line = b"ping through attach\n"
    assert line in asyncio.run(asyncio.wait_for(_stdout_until(url, line, send=line), 20))


@contextmanager
def _port_forward(cluster: Node, pod_id: str, port: int) -> Iterator[int]:
    local = _free_port()
    argv = [
        sys.executable,
        "-m",
        "crio_py",
        "ctl",
        "-r",
        f"unix://{cluster.daemon.socket}",
        "port-forward",
        pod_id,
        f"{local}:{port}",
    ]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        assert b"Forwarding from" in process.stdout.readline()
        yield local
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_port_forward_with_concurrent_connections(cluster: Node) -> None:
    pod_id, _ = _pod_with(cluster, "web", "/bin/sh", "-c", HTTPD)
    time.sleep(0.5)
    with _port_forward(cluster, pod_id, 8080) as local:

        async def fetch() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", local)
            writer.write(b"GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n")
            await writer.drain()
            data = await reader.read()
            writer.close()
            return data

        async def fetch_all() -> list[bytes]:
            return await asyncio.gather(*(fetch() for _ in range(10)))

        replies = asyncio.run(asyncio.wait_for(fetch_all(), 60))
    assert all(b"200 OK" in r and r.endswith(b"port-forwarded\n") for r in replies), replies
    closed = socket.socket()
    try:
        with pytest.raises(ConnectionRefusedError):
            closed.connect(("127.0.0.1", local))
    finally:
        closed.close()
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _is_forwarder(int(p), pod_id)]


def _is_forwarder(pid: int, pod_id: str) -> bool:
    try:
        line = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"nsenter" in line and pod_id.encode() in line


async def _spdy_exec(
    url: str, kinds: list[str], stdin: bytes, resize: bytes = b""
) -> tuple[str, dict[str, bytes], list[int]]:
    client, protocol = await spdy_client.connect(url, ["v5.channel.k8s.io", "v4.channel.k8s.io"])
    streams = {kind: await client.open_stream({"streamType": kind}) for kind in kinds}
    await client.ping(1)
    if "resize" in streams:
        await client.send(streams["resize"], resize)
    if "stdin" in streams:
        await client.send(streams["stdin"], stdin, fin=True)
    for kind in ("stdout", "stderr", "error"):
        if kind in streams:
            await asyncio.wait_for(streams[kind].finished.wait(), 30)
    await asyncio.wait_for(client.goaway.wait(), 10)
    await client.close()
    return protocol, {k: bytes(s.data) for k, s in streams.items()}, client.pongs


def test_exec_over_spdy(cluster: Node) -> None:
    _, container_id = _pod_with(cluster, "spdy", *SLEEPER)
    url = _exec_url(
        cluster,
        container_id,
        "/bin/sh",
        "-c",
        "cat; echo err >&2; exit 5",
        stdin=True,
        stdout=True,
        stderr=True,
    )
    kinds = ["error", "stdin", "stdout", "stderr"]
    protocol, data, pongs = asyncio.run(_spdy_exec(url, kinds, b"through spdy\n"))
    assert protocol == "v5.channel.k8s.io" and pongs == [1]
    assert (data["stdout"], data["stderr"]) == (b"through spdy\n", b"err\n")
    status = json.loads(data["error"])
    assert status["reason"] == "NonZeroExitCode" and exit_code_of(status) == 5


def test_exec_with_a_terminal_over_spdy(cluster: Node) -> None:
    _, container_id = _pod_with(cluster, "spdytty", *SLEEPER)
    url = _stty_url(cluster, container_id)
    resize = json.dumps({"Width": 99, "Height": 33}).encode()
    _, data, _ = asyncio.run(_spdy_exec(url, ["error", "stdin", "stdout", "resize"], b"", resize))
    assert b"33 99" in data["stdout"]
    assert json.loads(data["error"])["status"] == "Success"


def test_port_forward_over_spdy(cluster: Node) -> None:
    pod_id, _ = _pod_with(cluster, "spdyweb", "/bin/sh", "-c", HTTPD)
    time.sleep(0.5)
    request = api_pb2.PortForwardRequest(pod_sandbox_id=pod_id, port=[8080])
    url = cluster.runtime.PortForward(request).url

    async def fetch_all() -> list[bytes]:
        client, protocol = await spdy_client.connect(url, ["portforward.k8s.io"])
        assert protocol == "portforward.k8s.io"
        pairs = []
        for request_id in range(10):
            headers = {"port": "8080", "requestID": str(request_id)}
            error = await client.open_stream({**headers, "streamType": "error"})
            data = await client.open_stream({**headers, "streamType": "data"})
            pairs.append((error, data))
        for _, data in pairs:
            await client.send(data, b"GET /index.html HTTP/1.0\r\n\r\n")
        for _, data in pairs:
            await asyncio.wait_for(data.finished.wait(), 30)
        replies = [bytes(data.data) for _, data in pairs]
        await client.close()
        return replies

    sockets = _daemon_sockets(cluster)
    replies = asyncio.run(fetch_all())
    assert all(r.endswith(b"port-forwarded\n") for r in replies), replies
    assert _settled_sockets(cluster, sockets) <= sockets


@pytest.fixture
def tls_cluster(tmp_path: Path, pushed_images: PushedImages) -> Iterator[Node]:
    cert, key = tmp_path / "stream.crt", tmp_path / "stream.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    extra = (
        '[plugins."io.containerd.grpc.v1.cri"]\n  enable_tls_streaming = true\n'
        '[plugins."io.containerd.grpc.v1.cri".x509_key_pair_streaming]\n'
        f'  tls_cert_file = "{cert}"\n  tls_key_file = "{key}"\n'
    )
    with node(tmp_path, pushed_images.registries["plain"].host, extra) as current:
        current.busybox = current.pull(pushed_images.ref("plain", "busybox"))
        yield current
        current.remove_everything()
        assert current.leaks() == []


def test_streaming_over_tls(tls_cluster: Node) -> None:
    cluster = tls_cluster
    _, container_id = _pod_with(cluster, "secret", *SLEEPER)
    url = _exec_url(cluster, container_id, "/bin/true", stdout=True)
    assert url.startswith("https://127.0.0.1:")
    done = _ctl(cluster, "exec", container_id, "/bin/echo", "over tls")
    assert (done.returncode, done.stdout) == (0, b"over tls\n")
