"""Port-forward sessions over WebSocket (`portforward.k8s.io`, channel framing as in
remotecommand). For the i-th port of the request, channel 2i carries the data and 2i+1 the
errors; the server first sends each channel's port as two little-endian bytes. One
connection forwards one TCP connection per port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct

from crio_py.streaming.channels import ChannelSocket
from crio_py.streaming.requests import Duplex, PortForwardRequest
from crio_py.websocket import ConnectionClosed, WebSocket, WebSocketError

logger = logging.getLogger(__name__)

PROTOCOLS = ("portforward.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io")


def requested_ports(query: dict[str, list[str]]) -> list[int]:
    """The `port` query values (repeated or comma-separated); ValueError when not ports."""
    ports = []
    for value in query.get("port", []) + query.get("ports", []):
        for part in value.split(","):
            port = int(part)
            if not 0 < port < 65536:
                raise ValueError(f"port {port} is out of range")
            ports.append(port)
    if not ports:
        raise ValueError("no port to forward")
    return ports


async def serve_ports(
    ws: WebSocket, protocol: str, request: PortForwardRequest, ports: list[int]
) -> None:
    """Connect to each port in the pod and relay until either side is done."""
    channels = ChannelSocket(ws, protocol)
    for index, port in enumerate(ports):
        for channel in (2 * index, 2 * index + 1):
            await channels.send(channel, struct.pack("<H", port))
    connections: list[Duplex | None] = []
    for index, port in enumerate(ports):
        try:
            connections.append(await request.connect(port))
        except Exception as exc:
            message = f"error forwarding port {port} to pod {request.sandbox_id}: {exc}"
            await channels.send(2 * index + 1, message.encode())
            connections.append(None)
    pumps = [
        asyncio.ensure_future(_from_pod(channels, index, connection))
        for index, connection in enumerate(connections)
        if connection is not None
    ]
    try:
        await _to_pod(channels, connections)
        if pumps:
            await asyncio.wait(pumps, timeout=5)
    finally:
        for pump in pumps:
            pump.cancel()
        for connection in connections:
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()
        await channels.close()


async def _from_pod(channels: ChannelSocket, index: int, connection: Duplex) -> None:
    with contextlib.suppress(ConnectionError, ConnectionClosed, RuntimeError):
        while data := await connection.read():
            await channels.send(2 * index, data)
    await channels.close()


async def _to_pod(channels: ChannelSocket, connections: list[Duplex | None]) -> None:
    try:
        while True:
            received = await channels.receive()
            if received is None or received[0] % 2:
                continue
            index, data = received[0] // 2, received[1]
            connection = connections[index] if index < len(connections) else None
            if connection is not None and data:
                await connection.write(data)
    except (ConnectionClosed, WebSocketError, ConnectionError):
        for connection in connections:
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close_write()
