"""CDI: spec checks, qualified names, annotations, the registry's precedence and conflicts,
and the edits applied to an OCI spec."""

from __future__ import annotations

from typing import Any

import pytest

from crio_py.errors import InvalidArgumentError
from crio_py.ocispec import cdi
from crio_py.ocispec.request import HostDevice

ZERO = HostDevice(path="/dev/zero", type="c", major=1, minor=5, file_mode=0o666)


def spec_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "cdiVersion": "0.6.0",
        "kind": "example.com/device",
        "devices": [
            {
                "name": "zero",
                "containerEdits": {
                    "deviceNodes": [{"path": "/dev/vendor0", "hostPath": "/dev/zero"}],
                    "env": ["VENDOR_DEVICE=zero"],
                },
            }
        ],
        "containerEdits": {
            "env": ["VENDOR=example"],
            "mounts": [
                {"hostPath": "/opt/vendor", "containerPath": "/opt/vendor", "options": ["ro"]}
            ],
        },
    }
    data.update(overrides)
    return data


def stat(path: str) -> HostDevice | None:
    return ZERO if path == "/dev/zero" else None


def base_spec() -> dict[str, Any]:
    return {
        "process": {"env": ["PATH=/bin", "VENDOR=old"], "user": {"uid": 0, "gid": 0}},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"resources": {"devices": [{"allow": False, "access": "rwm"}]}},
    }


def registry(*specs: tuple[dict[str, Any], str, int]) -> cdi.Registry:
    found = cdi.Registry()
    for data, path, rank in specs:
        found.add(cdi.parse_spec(data, path, rank))
    return found


def test_a_device_gets_its_node_env_and_the_spec_mount() -> None:
    chosen = registry((spec_data(), "/etc/cdi/a.json", 0)).resolve(["example.com/device=zero"], [])
    spec = base_spec()
    cdi.apply(spec, chosen, stat)
    assert spec["process"]["env"] == ["PATH=/bin", "VENDOR=example", "VENDOR_DEVICE=zero"]
    assert spec["linux"]["devices"] == [
        {
            "path": "/dev/vendor0",
            "type": "c",
            "major": 1,
            "minor": 5,
            "fileMode": 0o666,
            "uid": 0,
            "gid": 0,
        }
    ]
    assert spec["linux"]["resources"]["devices"][-1] == {
        "allow": True,
        "type": "c",
        "major": 1,
        "minor": 5,
        "access": "rwm",
    }
    assert spec["mounts"][-1] == {
        "destination": "/opt/vendor",
        "type": "bind",
        "source": "/opt/vendor",
        "options": ["ro", "rbind"],
    }


def test_hooks_and_additional_gids() -> None:
    edits = {
        "hooks": [{"hookName": "createContainer", "path": "/usr/bin/hook", "args": ["hook", "x"]}],
        "additionalGids": [0, 44, 44],
        "deviceNodes": [{"path": "/dev/fake", "type": "c", "major": 10, "minor": 200}],
    }
    data = spec_data(
        cdiVersion="0.7.0", devices=[{"name": "gpu0", "containerEdits": edits}], containerEdits={}
    )
    chosen = registry((data, "/etc/cdi/a.json", 0)).resolve(["example.com/device=gpu0"], [])
    spec = base_spec()
    cdi.apply(spec, chosen, stat)  # major/minor given: the host node is not needed
    assert spec["hooks"] == {"createContainer": [{"path": "/usr/bin/hook", "args": ["hook", "x"]}]}
    assert spec["process"]["user"]["additionalGids"] == [44]
    assert spec["linux"]["devices"][0]["major"] == 10


def test_the_spec_edits_apply_once_for_two_devices_of_it() -> None:
    devices = [
        {"name": "a", "containerEdits": {"env": ["A=1"]}},
        {"name": "b", "containerEdits": {"env": ["B=1"]}},
    ]
    data = spec_data(devices=devices)
    names = ["example.com/device=a", "example.com/device=b", "example.com/device=a"]
    spec = base_spec()
    cdi.apply(spec, registry((data, "/etc/cdi/a.json", 0)).resolve(names, []), stat)
    assert spec["process"]["env"] == ["PATH=/bin", "VENDOR=example", "A=1", "B=1"]
    assert [m["destination"] for m in spec["mounts"]] == ["/proc", "/opt/vendor"]


def test_a_later_directory_overrides_an_earlier_one() -> None:
    later = spec_data(devices=[{"name": "zero", "containerEdits": {"env": ["FROM=run"]}}])
    found = registry((spec_data(), "/etc/cdi/a.json", 0), (later, "/var/run/cdi/a.json", 1))
    ((loaded, device),) = found.resolve(["example.com/device=zero"], [])
    assert (loaded.path, device.container_edits.env) == ("/var/run/cdi/a.json", ("FROM=run",))
    earlier_last = registry((later, "/var/run/cdi/a.json", 1), (spec_data(), "/etc/cdi/a.json", 0))
    assert earlier_last.resolve(["example.com/device=zero"], [])[0][0].path.startswith("/var")


def test_two_specs_of_one_directory_defining_a_device_conflict() -> None:
    found = registry((spec_data(), "/etc/cdi/a.json", 0), (spec_data(), "/etc/cdi/b.json", 0))
    with pytest.raises(
        InvalidArgumentError, match=r"conflicting specs: /etc/cdi/a\.json, /etc/cdi/b"
    ):
        found.resolve(["example.com/device=zero"], [])
    found.add(cdi.parse_spec(spec_data(), "/var/run/cdi/c.json", 1))
    assert found.resolve(["example.com/device=zero"], [])[0][0].path == "/var/run/cdi/c.json"


def test_an_unknown_device_names_the_directories_and_the_broken_files() -> None:
    found = registry((spec_data(), "/etc/cdi/a.json", 0))
    found.broken.append("/etc/cdi/bad.json: not JSON")
    with pytest.raises(InvalidArgumentError) as caught:
        found.resolve(["example.com/device=one"], ["/etc/cdi", "/var/run/cdi"])
    message = str(caught.value)
    assert "not defined by any spec in /etc/cdi, /var/run/cdi" in message
    assert "/etc/cdi/bad.json: not JSON" in message


@pytest.mark.parametrize(
    "name", ["zero", "example.com/device", "example.com=zero", "-x.com/device=zero", "a.com/b=-z"]
)
def test_a_malformed_qualified_name_is_invalid(name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="not a qualified name"):
        registry((spec_data(), "/etc/cdi/a.json", 0)).resolve([name], [])


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"cdiVersion": "9.9.9"}, "not a known CDI version"),
        ({"kind": "example.com"}, "not vendor/class"),
        ({"kind": "example.com/"}, "not vendor/class"),
        ({"devices": []}, "defines no devices"),
        ({"devices": [{"name": "bad name", "containerEdits": {}}]}, "not a valid CDI device"),
        ({"devices": [{"name": "a", "containerEdits": {}}] * 2}, "defined twice"),
        ({"devices": [{"name": "a", "containerEdits": {"env": ["NOEQUALS"]}}]}, "KEY=VALUE"),
        (
            {"devices": [{"name": "a", "containerEdits": {"deviceNodes": [{"path": "dev/x"}]}}]},
            "not absolute",
        ),
        (
            {"containerEdits": {"hooks": [{"hookName": "onBoot", "path": "/bin/true"}]}},
            "not an OCI hook",
        ),
        ({"kind": 3}, "kind"),
        ({"devices": [{"name": "a"}]}, "containerEdits"),
    ],
)
def test_a_bad_spec_is_refused_with_the_reason(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        cdi.parse_spec(spec_data(**overrides), "/etc/cdi/a.json", 0)


def test_a_node_missing_on_the_host_is_invalid() -> None:
    devices = [{"name": "zero", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0"}]}}]
    found = registry((spec_data(devices=devices), "/etc/cdi/a.json", 0))
    with pytest.raises(InvalidArgumentError, match="'/dev/nvidia0' is not a device on the host"):
        cdi.apply(base_spec(), found.resolve(["example.com/device=zero"], []), stat)


def test_net_devices_are_refused_not_ignored() -> None:
    devices = [{"name": "zero", "containerEdits": {"netDevices": [{"hostInterfaceName": "e"}]}}]
    found = registry((spec_data(cdiVersion="1.1.0", devices=devices), "/etc/cdi/a.json", 0))
    with pytest.raises(InvalidArgumentError, match="not supported"):
        cdi.apply(base_spec(), found.resolve(["example.com/device=zero"], []), stat)


def test_requested_names_come_from_the_field_then_the_annotations() -> None:
    annotations = {
        "cdi.k8s.io/vendor": "example.com/device=a, example.com/device=b",
        "other/key": "example.com/device=c",
    }
    names = cdi.requested_names(["example.com/device=z"], annotations)
    assert names == ["example.com/device=z", "example.com/device=a", "example.com/device=b"]


def test_an_annotation_without_a_key_is_invalid() -> None:
    with pytest.raises(InvalidArgumentError, match="no name after the prefix"):
        cdi.requested_names([], {"cdi.k8s.io/": "example.com/device=a"})


@pytest.mark.parametrize(
    ("version", "edits", "needed"),
    [
        ("0.3.0", {"mounts": [{"hostPath": "/a", "containerPath": "/a", "type": "bind"}]}, "0.4.0"),
        ("0.4.0", {"deviceNodes": [{"path": "/dev/a", "hostPath": "/dev/zero"}]}, "0.5.0"),
        ("0.6.0", {"additionalGids": [5]}, "0.7.0"),
        ("1.0.0", {"netDevices": [{"hostInterfaceName": "eth1", "name": "eth1"}]}, "1.1.0"),
    ],
)
def test_a_spec_must_declare_the_version_of_the_features_it_uses(
    version: str, edits: dict[str, Any], needed: str
) -> None:
    data = spec_data(cdiVersion=version, devices=[{"name": "a", "containerEdits": edits}])
    data["containerEdits"] = {}
    with pytest.raises(ValueError, match=f"uses CDI {needed} features"):
        cdi.parse_spec(data, "/etc/cdi/a.json", 0)
    data["cdiVersion"] = needed
    assert cdi.parse_spec(data, "/etc/cdi/a.json", 0).spec.cdi_version == needed
