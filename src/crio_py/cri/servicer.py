"""The grpc servicers: one dispatch from an RPC name to its handler in an `RpcTable`.

Only this module (with `instrument.py`) speaks grpc. Every servicer method is generated from
the service descriptor and wrapped by `@rpc`, which gates, logs and maps errors, so nothing
here catches anything or chooses a status code (ARCHITECTURE.md §6). The table itself
(`rpcs.py`, and the `rpcs()` of each service) knows nothing of grpc.

The daemon builds the table once every service is loaded (`Routes.serve`); until then `@rpc`
answers UNAVAILABLE. An RPC the table does not name answers UNIMPLEMENTED.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine
from types import MappingProxyType
from typing import Any

from cri_api.v1 import api_pb2, api_pb2_grpc

from crio_py.cri.instrument import Context, Readiness, rpc
from crio_py.cri.rpcs import Handler, RpcTable
from crio_py.errors import UnimplementedError


class Routes(Readiness):
    """The readiness gate and the table the servicers dispatch through (empty until served)."""

    def __init__(self) -> None:
        super().__init__()
        self._table: RpcTable = MappingProxyType({})

    def serve(self, table: RpcTable) -> None:
        """Answer RPCs from `table` from now on."""
        self._table = MappingProxyType(dict(table))
        self.mark_ready()

    def handler(self, name: str) -> Handler:
        """The handler of `name`; UnimplementedError when the table has none."""
        found = self._table.get(name)
        if found is None:
            raise UnimplementedError(f"{name} is not implemented by crio-py yet")
        return found


def _dispatching(
    owner: str, name: str, streaming: bool = False
) -> Callable[..., Coroutine[Any, Any, Any]]:
    async def method(self: _Servicer, request: object, context: Context) -> object:
        return await self.routes.handler(name)(request)

    async def streamed(self: _Servicer, request: object, context: Context) -> None:
        # A server-streaming handler answers an async iterator; its items are written here,
        # and it is closed when the client goes away.
        stream = await self.routes.handler(name)(request)
        async with contextlib.aclosing(stream):
            async for item in stream:
                await context.write(item)

    if streaming:
        method = streamed

    method.__name__ = name
    method.__qualname__ = f"{owner}.{name}"
    return rpc(method)


class _Servicer:
    def __init__(self, routes: Routes) -> None:
        self.routes = routes

    @property
    def readiness(self) -> Readiness:
        """The gate `@rpc` checks before each call."""
        return self.routes


def _servicer(service: str, base: type) -> type:
    owner = f"{service}Servicer"
    methods = {
        method.name: _dispatching(owner, method.name, method.server_streaming)
        for method in api_pb2.DESCRIPTOR.services_by_name[service].methods
    }
    return type(owner, (_Servicer, base), methods)


RuntimeServicer = _servicer("RuntimeService", api_pb2_grpc.RuntimeServiceServicer)
ImageServicer = _servicer("ImageService", api_pb2_grpc.ImageServiceServicer)


def add_to_server(server: Any, routes: Routes) -> None:
    """Register both CRI services, dispatching through `routes`, on a grpc.aio server."""
    api_pb2_grpc.add_RuntimeServiceServicer_to_server(RuntimeServicer(routes), server)  # type: ignore[no-untyped-call,unused-ignore]
    api_pb2_grpc.add_ImageServiceServicer_to_server(ImageServicer(routes), server)  # type: ignore[no-untyped-call,unused-ignore]
