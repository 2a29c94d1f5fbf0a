"""A sandbox's CNI attachment: the plugin calls RunPodSandbox and StopPodSandbox make, with the
pod's port mappings and the node's pod CIDRs (UpdateRuntimeConfig) as capability arguments."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
from collections.abc import Awaitable, Callable

from cri_api.v1 import api_pb2

from crio_py.backends.cni_types import (
    LOOPBACK_IFNAME,
    LOOPBACK_NETWORK,
    CniSandbox,
    IpRange,
    PortMapping,
)
from crio_py.cri.sandbox.seams import NetworkPlugin
from crio_py.errors import InvalidArgumentError, UnavailableError, quote

logger = logging.getLogger(__name__)

_PROTOCOLS = {api_pb2.TCP: "tcp", api_pb2.UDP: "udp", api_pb2.SCTP: "sctp"}
Detach = Callable[[], Awaitable[None]]


class PodNetwork:
    """CNI ADD and DEL for sandboxes, over one network plugin."""

    def __init__(self, plugin: NetworkPlugin) -> None:
        self.plugin = plugin
        self.pod_cidrs: tuple[str, ...] = ()

    def set_pod_cidr(self, text: str) -> None:
        """The node's pod CIDRs (comma-separated, one per IP family), for new sandboxes: CNI
        plugins that take the `ipRanges` capability (host-local IPAM) allocate from them."""
        cidrs = tuple(part.strip() for part in text.split(",") if part.strip())
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise InvalidArgumentError(
                    f"pod CIDR {quote(cidr)} is not a network: {exc}"
                ) from exc
        if cidrs != self.pod_cidrs:
            logger.info("Pod CIDRs are now %s", ", ".join(cidrs) or "unset")
        self.pod_cidrs = cidrs

    async def attach(
        self, sandbox_id: str, config: api_pb2.PodSandboxConfig, netns: str
    ) -> tuple[tuple[str, ...], Detach]:
        """ADD over the configured network: the pod's IPs, and how to undo the attachment."""
        network = await asyncio.to_thread(self.plugin.load)
        if network is None:
            raise UnavailableError("no CNI network is configured; cannot attach the sandbox")
        sandbox = cni_sandbox(sandbox_id, config, netns, self.pod_cidrs)
        loopback = dataclasses.replace(sandbox, ifname=LOOPBACK_IFNAME)
        # lo and the pod's interface are independent: both ADDs run at once.
        results = await asyncio.gather(
            self.plugin.add(LOOPBACK_NETWORK, loopback),
            self.plugin.add(network, sandbox),
            return_exceptions=True,
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            await self.plugin.delete(LOOPBACK_NETWORK, loopback)
            if not isinstance(results[1], BaseException):
                await self.plugin.delete(network, sandbox)
            raise failed[0]
        result = results[1]
        assert not isinstance(result, BaseException)

        async def detach() -> None:
            await self.plugin.delete(network, sandbox)
            await self.plugin.delete(LOOPBACK_NETWORK, loopback)

        return result.pod_ips(sandbox.ifname), detach

    async def detach_all(
        self, sandbox_id: str, config: api_pb2.PodSandboxConfig, netns: str
    ) -> None:
        """DEL of every attachment the CNI cache remembers, with its cached configuration."""
        await self.plugin.delete(None, cni_sandbox(sandbox_id, config, netns))

    async def detach_unrecorded(self, sandbox_id: str, netns: str) -> None:
        """DEL of a sandbox that a crash cut short: over the configured network and lo, with
        their cached results when there are any and without when not (an ADD killed before
        its result was cached may still hold an IP or a veth), then over any other network
        the cache remembers. Each attachment gets one DEL: a DEL drops its cache entry."""
        sandbox = cni_sandbox(sandbox_id, api_pb2.PodSandboxConfig(), netns)
        network = await asyncio.to_thread(self.plugin.load)
        if network is not None:
            await self.plugin.delete(network, sandbox)
        await self.plugin.delete(
            LOOPBACK_NETWORK, dataclasses.replace(sandbox, ifname=LOOPBACK_IFNAME)
        )
        await self.plugin.delete(None, sandbox)

    def cached_results(self, sandbox_id: str) -> dict[str, object]:
        """The CNI results of the sandbox's attachments, by network name."""
        return {a.network.name: dict(a.result) for a in self.plugin.cached_attachments(sandbox_id)}


def cni_sandbox(
    sandbox_id: str, config: api_pb2.PodSandboxConfig, netns: str, pod_cidrs: tuple[str, ...] = ()
) -> CniSandbox:
    """What the CNI plugins are told about a sandbox."""
    meta = config.metadata
    mappings = tuple(
        PortMapping(
            host_port=p.host_port,
            container_port=p.container_port,
            protocol=_PROTOCOLS.get(p.protocol, "tcp"),
            host_ip=p.host_ip,
        )
        for p in config.port_mappings
    )
    return CniSandbox(
        container_id=sandbox_id,
        netns_path=netns,
        pod_namespace=meta.namespace,
        pod_name=meta.name,
        pod_uid=meta.uid,
        port_mappings=mappings,
        ip_ranges=tuple((IpRange(subnet=cidr),) for cidr in pod_cidrs),
    )
