"""Runtime-wide RPCs: Status (RuntimeReady, and NetworkReady from the CNI configuration) and
RuntimeConfig (the cgroup driver the kubelet must use)."""

from __future__ import annotations

import json

from cri_api.v1 import api_pb2

from crio_py.backends.cni import CniExecPlugin
from crio_py.config.model import RuntimeSettings


class RuntimeInfo:
    """Answers the runtime-wide RPCs from the settings and the network plugin."""

    def __init__(self, settings: RuntimeSettings, network: CniExecPlugin) -> None:
        self.settings = settings
        self.network = network

    @classmethod
    def open(cls, settings: RuntimeSettings) -> RuntimeInfo:
        cache = settings.root_dir / "cni-cache"
        return cls(settings, CniExecPlugin.from_settings(settings.cni, cache))

    async def status(self, request: api_pb2.StatusRequest) -> api_pb2.StatusResponse:
        # CRI: NetworkReady is false, with a reason, until a CNI network configuration exists.
        network = await self.network.status()
        conditions = [
            api_pb2.RuntimeCondition(type="RuntimeReady", status=True),
            api_pb2.RuntimeCondition(
                type="NetworkReady",
                status=network.ready,
                reason=network.reason,
                message=network.message,
            ),
        ]
        response = api_pb2.StatusResponse(status=api_pb2.RuntimeStatus(conditions=conditions))
        for name in sorted(self.settings.runtimes):
            # Neither recursive read-only mounts nor user namespaces are offered yet.
            response.runtime_handlers.add(name=name, features=api_pb2.RuntimeHandlerFeatures())
        response.features.supplemental_groups_policy = True
        if request.verbose:
            response.info["config"] = json.dumps(self.settings.model_dump(mode="json"))
        return response

    async def runtime_config(
        self, request: api_pb2.RuntimeConfigRequest
    ) -> api_pb2.RuntimeConfigResponse:
        driver = (
            api_pb2.CgroupDriver.SYSTEMD
            if self.settings.cgroup_driver == "systemd"
            else api_pb2.CgroupDriver.CGROUPFS
        )
        return api_pb2.RuntimeConfigResponse(
            linux=api_pb2.LinuxRuntimeConfiguration(cgroup_driver=driver)
        )
