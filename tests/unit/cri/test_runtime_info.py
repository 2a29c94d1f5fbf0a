"""Status and RuntimeConfig from the settings and the CNI configuration."""

from __future__ import annotations

import json
from pathlib import Path

from cri_api.v1 import api_pb2

from crio_py.backends.cni import CniExecPlugin
from crio_py.config.load import load_settings
from crio_py.config.model import CniSettings
from crio_py.cri.runtime_info import RuntimeInfo

CONFLIST = {
    "cniVersion": "1.0.0",
    "name": "pods",
    "plugins": [{"type": "bridge"}, {"type": "loopback"}],
}


def _info(tmp_path: Path) -> RuntimeInfo:
    settings, _ = load_settings(None)
    cni = CniSettings(bin_dirs=(tmp_path / "bin",), conf_dir=tmp_path / "net.d")
    settings = settings.model_copy(update={"cni": cni})
    return RuntimeInfo(settings, CniExecPlugin.from_settings(cni, tmp_path / "cache"))


def _network(response: api_pb2.StatusResponse) -> api_pb2.RuntimeCondition:
    return next(c for c in response.status.conditions if c.type == "NetworkReady")


async def test_network_becomes_ready_once_a_conflist_appears(tmp_path: Path) -> None:
    info = _info(tmp_path)
    not_ready = _network(await info.status(api_pb2.StatusRequest()))
    assert (not_ready.status, not_ready.reason) == (False, "NetworkPluginNotReady")
    (tmp_path / "net.d").mkdir()
    (tmp_path / "bin").mkdir()
    for plugin in ("bridge", "loopback"):
        (tmp_path / "bin" / plugin).write_text("#!/bin/sh\n")
        (tmp_path / "bin" / plugin).chmod(0o755)
    (tmp_path / "net.d" / "10-pods.conflist").write_text(json.dumps(CONFLIST))
    response = await info.status(api_pb2.StatusRequest(verbose=True))
    assert _network(response).status is True
    runtime = next(c for c in response.status.conditions if c.type == "RuntimeReady")
    assert runtime.status is True
    assert [h.name for h in response.runtime_handlers] == ["runc"]
    assert json.loads(response.info["config"])["default_runtime"] == "runc"


async def test_runtime_config_reports_the_cgroup_driver(tmp_path: Path) -> None:
    response = await _info(tmp_path).runtime_config(api_pb2.RuntimeConfigRequest())
    assert response.linux.cgroup_driver == api_pb2.CgroupDriver.CGROUPFS
