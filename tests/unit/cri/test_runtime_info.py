"""Status and RuntimeConfig from the settings and the CNI configuration."""

from __future__ import annotations

import json
from pathlib import Path

from cri_api.v1 import api_pb2

from crio_py.backends.cni import CniExecPlugin
from crio_py.config.load import load_settings
from crio_py.config.model import CniSettings, RegistryAuth
from crio_py.cri.runtime_info import RuntimeInfo
from crio_py.ocispec import HostFeatures

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
    # The default handler again under "" (containerd; critest looks it up by that name).
    assert [h.name for h in response.runtime_handlers] == ["runc", ""]
    assert json.loads(response.info["config"])["default_runtime"] == "runc"


async def test_handler_features_follow_the_host_and_the_runtime(tmp_path: Path) -> None:
    settings, _ = load_settings(None)
    runsc = settings.runtimes["runc"].model_copy(
        update={"name": "runsc", "binary": "runsc", "flavour": "runsc"}
    )
    settings = settings.model_copy(update={"runtimes": {**settings.runtimes, "runsc": runsc}})
    network = CniExecPlugin.from_settings(settings.cni, tmp_path / "cache")
    host = HostFeatures(recursive_read_only_mounts=True, user_namespaces=True)
    handlers = (await RuntimeInfo(settings, network, host).status(api_pb2.StatusRequest()))
    features = {h.name: h.features for h in handlers.runtime_handlers}
    both = api_pb2.RuntimeHandlerFeatures(recursive_read_only_mounts=True, user_namespaces=True)
    assert features == {"runc": both, "": both, "runsc": api_pb2.RuntimeHandlerFeatures()}
    plain = await RuntimeInfo(settings, network).status(api_pb2.StatusRequest())
    assert not any(h.features.user_namespaces for h in plain.runtime_handlers)


async def test_runtime_config_reports_the_cgroup_driver(tmp_path: Path) -> None:
    response = await _info(tmp_path).runtime_config(api_pb2.RuntimeConfigRequest())
    assert response.linux.cgroup_driver == api_pb2.CgroupDriver.CGROUPFS


async def test_verbose_status_carries_no_registry_credential(tmp_path: Path) -> None:
    auth = RegistryAuth(username="u5er-8a", password="s3cr3t-8b", identity_token="t0k-8c")
    info = _info(tmp_path)
    registry = info.settings.registry.model_copy(
        update={
            "auths": {"reg.example.com": auth, "b.example.com": RegistryAuth(auth="YTpzM2NyM3Q=")},
            "headers": {"Authorization": ("Bearer s3cr3t-8d",)},
        }
    )
    info.settings = info.settings.model_copy(update={"registry": registry})
    response = await info.status(api_pb2.StatusRequest(verbose=True))
    text = response.SerializeToString().decode("utf-8", "replace")
    secrets = ("u5er-8a", "s3cr3t-8b", "t0k-8c", "YTpzM2NyM3Q=", "s3cr3t-8d")
    assert [secret for secret in secrets if secret in text] == []
    shown = json.loads(response.info["config"])["registry"]
    assert shown["auths"]["reg.example.com"]["password"] == "<redacted>"
    assert shown["headers"] == {"Authorization": "<redacted>"}
