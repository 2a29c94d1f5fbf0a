"""CDI at CreateContainer: spec files read from the configured directories (JSON, YAML that is
JSON, broken files skipped and named), devices injected into config.json, and a container
asking for an unknown device refused with nothing left behind."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from cri_api.v1 import api_pb2

from crio_py.cri.container import cdi, create
from crio_py.errors import InvalidArgumentError
from tests.fakes.containers import SANDBOX_ID, ContainerWorld, container_config

SPEC: dict[str, Any] = {
    "cdiVersion": "0.6.0",
    "kind": "example.com/device",
    "devices": [
        {
            "name": "zero",
            "containerEdits": {
                "deviceNodes": [{"path": "/dev/zero"}],
                "env": ["EXAMPLE_DEVICE=zero"],
            },
        }
    ],
}


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_json_and_json_as_yaml_are_read_and_broken_files_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    etc, run = tmp_path / "etc", tmp_path / "run"
    write(etc, "a.json", json.dumps(SPEC))
    other = {**SPEC, "kind": "example.com/other"}
    write(run, "b.yaml", json.dumps(other))
    write(run, "c.yaml", "cdiVersion: 0.6.0\nkind: example.com/yaml\n")
    write(run, "d.json", "{")
    write(run, "notes.txt", "not a spec")
    with caplog.at_level(logging.WARNING):
        registry = cdi.load_registry([etc, run, tmp_path / "missing"])
    assert sorted(registry.devices) == ["example.com/device=zero", "example.com/other=zero"]
    broken = "\n".join(registry.broken)
    assert f"{run / 'c.yaml'}: a YAML spec file that is not JSON" in broken
    assert f"{run / 'd.json'}: not JSON" in broken
    assert "notes.txt" not in broken
    assert "CDI spec file" in caplog.text


@pytest.fixture
def world(tmp_path: Path) -> ContainerWorld:
    found = ContainerWorld(tmp_path)
    found.ctx.reload_settings(
        found.settings.model_copy(update={"cdi_spec_dirs": (tmp_path / "cdi",)})
    )
    write(tmp_path / "cdi", "vendor.json", json.dumps(SPEC))
    return found


async def create_with(world: ContainerWorld, config: api_pb2.ContainerConfig) -> str:
    request = api_pb2.CreateContainerRequest(pod_sandbox_id=SANDBOX_ID, config=config)
    return (await create.create_container(world.ctx, request)).container_id


async def test_a_cdi_device_reaches_the_bundle(world: ContainerWorld) -> None:
    config = container_config()
    config.CDI_devices.add(name="example.com/device=zero")
    container_id = await create_with(world, config)
    spec = json.loads((world.layout.bundle(container_id) / "config.json").read_text())
    assert "EXAMPLE_DEVICE=zero" in spec["process"]["env"]
    node = next(d for d in spec["linux"]["devices"] if d["path"] == "/dev/zero")
    assert (node["type"], node["major"], node["minor"]) == ("c", 1, 5)


async def test_an_annotation_asks_for_a_device_too(world: ContainerWorld) -> None:
    config = container_config()
    config.annotations["cdi.k8s.io/example"] = "example.com/device=zero"
    container_id = await create_with(world, config)
    spec = json.loads((world.layout.bundle(container_id) / "config.json").read_text())
    assert "EXAMPLE_DEVICE=zero" in spec["process"]["env"]


async def test_an_unknown_device_is_invalid_and_leaves_nothing(world: ContainerWorld) -> None:
    config = container_config()
    config.CDI_devices.add(name="example.com/device=none")
    with pytest.raises(InvalidArgumentError, match=r"'example\.com/device=none' is not defined"):
        await create_with(world, config)
    assert list(world.leftovers()) == []


def test_start_up_names_the_yaml_files_it_does_not_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "specs", "a.json", json.dumps(SPEC))
    write(tmp_path / "specs", "nvidia.yaml", "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\n")
    with caplog.at_level(logging.INFO):
        cdi.report_specs([tmp_path / "specs"])
        cdi.report_specs([])
    assert f"CDI devices found in {tmp_path / 'specs'}: 1" in caplog.text
    assert "nvidia.yaml is not used: a YAML spec file that is not JSON" in caplog.text
    assert "CDI is off" in caplog.text
