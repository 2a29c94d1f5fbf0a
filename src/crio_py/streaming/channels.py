"""The Kubernetes channel framing over a WebSocket: each message is one channel's data,
prefixed by the channel number as a byte; the base64 protocols (`base64.channel.k8s.io`,
`v4.base64.channel.k8s.io`) send text messages instead, the channel as the digit '0'+n
followed by the data in base64."""

from __future__ import annotations

import base64
import binascii

from crio_py.websocket import Opcode, WebSocket, WebSocketError


class ChannelSocket:
    """Send and receive (channel, data) pairs in the framing of the chosen protocol."""

    def __init__(self, ws: WebSocket, protocol: str) -> None:
        self.ws = ws
        self.base64 = "base64" in protocol.split(".")

    async def send(self, channel: int, data: bytes) -> None:
        if self.base64:
            text = chr(ord("0") + channel) + base64.b64encode(data).decode("ascii")
            await self.ws.send(text.encode("ascii"), Opcode.TEXT)
        else:
            await self.ws.send(bytes([channel]) + data)

    async def receive(self) -> tuple[int, bytes] | None:
        """The next message's channel and data; None for an empty message."""
        _, message = await self.ws.receive()
        if not message:
            return None
        if not self.base64:
            return message[0], message[1:]
        try:
            return message[0] - ord("0"), base64.b64decode(message[1:], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WebSocketError(f"bad base64 channel message: {exc}") from None

    async def close(self) -> None:
        await self.ws.close()
