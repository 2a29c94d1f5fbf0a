"""Runtime-wide RPCs: Version, Status (RuntimeReady, and NetworkReady from the CNI
configuration) and RuntimeConfig (the cgroup driver the kubelet must use)."""

from __future__ import annotations

from cri_api.v1 import api_pb2

from crio_py import __version__
from crio_py.backends.cni import CniExecPlugin
from crio_py.config.model import RuntimeSettings
from crio_py.config.redact import settings_json
from crio_py.cri.container.host import handler_features
from crio_py.cri.rpcs import Handler
from crio_py.ocispec import HostFeatures

RUNTIME_NAME = "crio-py"
RUNTIME_API_VERSION = "v1"
KUBELET_API_VERSION = "0.1.0"
"""`VersionResponse.version`: the version of the kubelet runtime API, "0.1.0" for every runtime."""


async def version(request: api_pb2.VersionRequest) -> api_pb2.VersionResponse:
    """Version: the same for every request."""
    return api_pb2.VersionResponse(
        version=KUBELET_API_VERSION,
        runtime_name=RUNTIME_NAME,
        runtime_version=__version__,
        runtime_api_version=RUNTIME_API_VERSION,
    )


class RuntimeInfo:
    """Answers the runtime-wide RPCs from the settings and the network plugin."""

    def __init__(
        self,
        settings: RuntimeSettings,
        network: CniExecPlugin,
        host_features: HostFeatures | None = None,
    ) -> None:
        self.settings = settings
        self.network = network
        self.host = host_features or HostFeatures()

    @classmethod
    def open(cls, settings: RuntimeSettings) -> RuntimeInfo:
        cache = settings.root_dir / "cni-cache"
        return cls(settings, CniExecPlugin.from_settings(settings.cni, cache))

    def rpcs(self) -> dict[str, Handler]:
        """The runtime-wide RPCs."""
        return {"Version": version, "Status": self.status, "RuntimeConfig": self.runtime_config}

    def _handlers(self) -> list[api_pb2.RuntimeHandler]:
        """Each handler with what it can do, then the default again under the name "" (as
        containerd lists it: the kubelet and critest look the default up by that name)."""
        runtimes = self.settings.runtimes
        names = [*sorted(runtimes), ""]
        found = []
        for name in names:
            handler = runtimes.get(name or self.settings.default_runtime)
            if handler is None:
                continue
            features = handler_features(handler, self.host)
            found.append(
                api_pb2.RuntimeHandler(
                    name=name,
                    features=api_pb2.RuntimeHandlerFeatures(
                        recursive_read_only_mounts=features.recursive_read_only_mounts,
                        user_namespaces=features.user_namespaces,
                    ),
                )
            )
        return found

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
        response.runtime_handlers.extend(self._handlers())
        response.features.supplemental_groups_policy = True
        if request.verbose:
            response.info["config"] = settings_json(self.settings)
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
