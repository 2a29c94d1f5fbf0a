"""The pydantic models and the JSON Schemas generated from them accept and reject the same data.

Each (format, version) of `ALL_SCHEMAS` has hand-written samples, valid and invalid, whose
verdict is written down: both `model_for(...).model_validate` and a Draft 2020-12 validator of
`schema_for(...)` must give that verdict. The samples use only checks that JSON Schema can
express (types, unknown keys, literal versions, nesting). The value checks that only pydantic
makes (durations, image references, ports, absolute paths, integers written as floats) are
documented separately, with the verdict each side gives. Last, every test data file and every
`config default` output validates against the schema of its format and version.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import tomlkit
from pydantic import ValidationError

from crio_py.config.defaults import default_text
from crio_py.config.diagnostics import Severity
from crio_py.config.load import LintOptions, lint_paths
from crio_py.config.schema import ALL_SCHEMAS, model_for, schema_for
from tests.conftest import CONFIGS

CRI_V2 = "io.containerd.grpc.v1.cri"
CRI_RUNTIME = "io.containerd.cri.v1.runtime"
CRI_IMAGES = "io.containerd.cri.v1.images"
FILE_NAME = {"containerd": "config.toml", "crio": "crio.conf", "hosts": "hosts.toml"}


@dataclass(frozen=True)
class Sample:
    """A document and whether it is valid for its format."""

    name: str
    data: dict[str, Any]
    valid: bool


def valid(name: str, data: dict[str, Any]) -> Sample:
    return Sample(name, data, True)


def invalid(name: str, data: dict[str, Any]) -> Sample:
    return Sample(name, data, False)


def runc(**options: Any) -> dict[str, Any]:
    return {"runtime_type": "io.containerd.runc.v2", "options": {"SystemdCgroup": True, **options}}


CONTAINERD_COMMON = [
    invalid("unknown top-level key", {"no_such_key": 1}),
    invalid("string for an integer", {"oom_score": "-999"}),
    invalid("boolean for an integer", {"oom_score": True}),
    invalid("fractional number for an integer", {"oom_score": 0.5}),
    invalid("integer for a string", {"temp": 1}),
    invalid("string for an array", {"disabled_plugins": "io.containerd.snapshotter.v1.zfs"}),
    invalid("integer in an array of strings", {"required_plugins": [1]}),
    invalid("array for a table", {"cgroup": [{"path": "/x"}]}),
    invalid("string for a table", {"cgroup": "/system.slice"}),
    invalid("unknown key in a nested table", {"cgroup": {"path": "", "bogus": 1}}),
    invalid("integer in a map of strings", {"timeouts": {"io.containerd.timeout.shim.load": 5}}),
    invalid("wrong type inside a map entry", {"proxy_plugins": {"stargz": {"type": 1}}}),
    invalid("string for a map of tables", {"proxy_plugins": "stargz"}),
    invalid("version as a string", {"version": "3"}),
    invalid("negative version", {"version": -1}),
    valid("third-party plugin kept as it is",
          {"plugins": {"io.example.plugin.v1.thing": {"any": ["thing", 1, True]}}}),
    valid("proxy plugin", {"proxy_plugins": {"stargz": {
        "type": "snapshot", "address": "/run/stargz.sock", "exports": {"root": "/var/lib/x"}}}}),
]

CONTAINERD_V1 = [
    valid("empty", {}),
    valid("version 1", {"version": 1}),
    valid("version 0 (read as 1)", {"version": 0}),
    valid("full", {
        "root": "/var/lib/containerd",
        "state": "/run/containerd",
        "oom_score": -999,
        "disabled_plugins": ["zfs"],
        "grpc": {"address": "/run/containerd/containerd.sock", "uid": 0, "gid": 0},
        "debug": {"level": "info"},
        "metrics": {"address": "127.0.0.1:1338", "grpc_histogram": False},
        "plugins": {
            "cri": {
                "sandbox_image": "registry.k8s.io/pause:3.8",
                "systemd_cgroup": False,
                "containerd": {"snapshotter": "overlayfs", "default_runtime_name": "runc",
                               "runtimes": {"runc": runc()}},
                "cni": {"bin_dir": "/opt/cni/bin", "conf_dir": "/etc/cni/net.d"},
                "registry": {"mirrors": {"docker.io": {"endpoint": ["https://mirror.gcr.io"]}}},
            },
            "scheduler": {"pause_threshold": 0.02, "deletion_threshold": 0},
            "linux": {"shim": "containerd-shim", "runtime": "runc"},
            "tasks-service": {"rdt_config_file": ""},
        },
    }),
    invalid("version 2 in a version 1 model", {"version": 2}),
    invalid("version true", {"version": True}),
    invalid("version false", {"version": False}),
    invalid("nested wrong type", {"plugins": {"cri": {"containerd": {
        "runtimes": {"runc": {"runtime_type": 2}}}}}}),
    invalid("unknown key in a modelled plugin", {"plugins": {"cri": {"no_such_key": True}}}),
    invalid("string for a plugin table", {"plugins": {"scheduler": "gc"}}),
    valid("a model field name is no plugin id: the table is kept as it is",
          {"plugins": {"tasks_service": {"anything": 1}}}),
]

CONTAINERD_V2 = [
    valid("empty", {}),
    valid("version 2", {"version": 2}),
    valid("full", {
        "version": 2,
        "root": "/var/lib/containerd",
        "state": "/run/containerd",
        "imports": ["/etc/containerd/conf.d/*.toml"],
        "grpc": {"address": "/run/containerd/containerd.sock",
                 "max_recv_message_size": 16777216},
        "ttrpc": {"address": ""},
        "debug": {"address": "/run/containerd/debug.sock", "level": "debug", "format": "json"},
        "metrics": {"address": "0.0.0.0:10257"},
        "timeouts": {"io.containerd.timeout.shim.cleanup": "5s"},
        "plugins": {
            CRI_V2: {
                "sandbox_image": "registry.k8s.io/pause:3.8",
                "stream_server_port": "10010",
                "enable_selinux": True,
                "max_container_log_line_size": -1,
                "containerd": {
                    "default_runtime_name": "nvidia",
                    "runtimes": {
                        "runc": runc(),
                        "nvidia": runc(BinaryName="/usr/bin/nvidia-container-runtime"),
                        "runsc": {"runtime_type": "io.containerd.runsc.v1",
                                  "options": {"TypeUrl": "io.containerd.runsc.v1.options",
                                              "ConfigPath": "/etc/containerd/runsc.toml"}},
                    },
                },
                "cni": {"bin_dir": "/opt/cni/bin", "max_conf_num": 1},
                "registry": {"config_path": "/etc/containerd/certs.d",
                             "headers": {"X-Meta": ["a", "b"]},
                             "configs": {"harbor.example.com": {
                                 "auth": {"username": "u", "password": "p"},
                                 "tls": {"insecure_skip_verify": True}}}},
            },
            "io.containerd.gc.v1.scheduler": {"pause_threshold": 0.02},
            "io.containerd.nri.v1.nri": {"disable": True},
            "io.containerd.transfer.v1.local": {"unpack_config": [
                {"platform": "linux/amd64", "snapshotter": "overlayfs"}]},
            "io.containerd.runtime.v1.linux": {"shim_debug": False},
        },
    }),
    invalid("version 3 in a version 2 model", {"version": 3}),
    invalid("version 1 in a version 2 model", {"version": 1}),
    invalid("version true", {"version": True}),
    invalid("fractional version", {"version": 2.5}),
    invalid("port as an integer", {"plugins": {CRI_V2: {"stream_server_port": 10010}}}),
    invalid("boolean as a string in a runtime", {"plugins": {CRI_V2: {"containerd": {
        "runtimes": {"runc": {"privileged_without_host_devices": "true"}}}}}}),
    invalid("string for an array of mirror endpoints", {"plugins": {CRI_V2: {"registry": {
        "mirrors": {"docker.io": {"endpoint": "https://mirror.gcr.io"}}}}}}),
    invalid("table for an array of tables", {"plugins": {"io.containerd.transfer.v1.local": {
        "unpack_config": {"platform": "linux/amd64"}}}}),
    invalid("unknown key in a runtime", {"plugins": {CRI_V2: {"containerd": {
        "runtimes": {"runc": {"SystemdCgroup": True}}}}}}),
    valid("a model field name is no plugin id: the table is kept as it is",
          {"version": 2, "plugins": {"scheduler": {"anything": 1}}}),
]

CONTAINERD_V3 = [
    valid("empty", {}),
    valid("version 3", {"version": 3}),
    valid("full", {
        "version": 3,
        "root": "/var/lib/containerd",
        "state": "/run/containerd",
        "grpc": {"address": "/run/containerd/containerd.sock", "tcp_tls_common_name": ""},
        "plugins": {
            CRI_RUNTIME: {
                "enable_cdi": True,
                "cdi_spec_dirs": ["/etc/cdi", "/var/run/cdi"],
                "enable_criu": False,
                "containerd": {"default_runtime_name": "runc", "runtimes": {
                    "runc": runc(),
                    "kata": {"runtime_type": "io.containerd.kata.v2",
                             "runtime_path": "/opt/kata/bin/containerd-shim-kata-v2",
                             "pod_annotations": ["io.katacontainers.*"],
                             "options": {"ConfigPath": "/opt/kata/configuration.toml"}}}},
                "cni": {"bin_dirs": ["/opt/cni/bin", "/usr/lib/cni"], "conf_dir": "/etc/cni/net.d"},
            },
            CRI_IMAGES: {
                "snapshotter": "overlayfs",
                "pinned_images": {"sandbox": "registry.k8s.io/pause:3.10"},
                "runtime_platforms": {"kata": {"platform": "linux/amd64"}},
                "registry": {"config_path": "/etc/containerd/certs.d"},
            },
            CRI_V2: {"stream_server_address": "127.0.0.1", "stream_server_port": "0",
                     "enable_tls_streaming": True,
                     "x509_key_pair_streaming": {"tls_cert_file": "/etc/c.pem",
                                                 "tls_key_file": "/etc/k.pem"}},
            "io.containerd.nri.v1.nri": {"disable": False, "default_validator": {
                "enable": True, "required_plugins": ["a"]}},
            "io.containerd.shim.v1.manager": {"env": ["A=b"]},
            "io.containerd.monitor.task.v1.cgroups": {"no_prometheus": False},
        },
    }),
    invalid("version 4 in a version 3 model", {"version": 4}),
    invalid("version 2 in a version 3 model", {"version": 2}),
    invalid("version true", {"version": True}),
    invalid("sandbox_image in the v3 streaming plugin", {"plugins": {CRI_V2: {
        "sandbox_image": "registry.k8s.io/pause:3.10"}}}),
    invalid("integer for a pinned image", {"plugins": {CRI_IMAGES: {"pinned_images": {
        "sandbox": 3}}}}),
    invalid("string for bin_dirs", {"plugins": {CRI_RUNTIME: {"cni": {
        "bin_dirs": "/opt/cni/bin"}}}}),
    invalid("string for an optional boolean", {"plugins": {CRI_RUNTIME: {"enable_criu": "yes"}}}),
    invalid("wrong type deep in a runtime", {"plugins": {CRI_RUNTIME: {"containerd": {
        "runtimes": {"runc": {"pod_annotations": [1]}}}}}}),
    invalid("wrong type in the NRI validator", {"plugins": {"io.containerd.nri.v1.nri": {
        "default_validator": {"enable": "yes"}}}}),
    valid("a model field name is no plugin id: the table is kept as it is",
          {"version": 3, "plugins": {"scheduler": {"anything": 1}}}),
]

CONTAINERD_V4 = [
    valid("empty", {}),
    valid("version 4", {"version": 4}),
    valid("full", {
        "version": 4,
        "root": "/var/lib/containerd",
        "debug": {"level": "info", "format": "json", "log_trace_id": True},
        "plugins": {
            "io.containerd.server.v1.grpc": {"address": "/run/containerd/containerd.sock",
                                             "uid": 0, "gid": 0},
            "io.containerd.server.v1.grpc-tcp": {"address": "0.0.0.0:8443",
                                                 "tls_cert": "/etc/c.pem"},
            "io.containerd.server.v1.ttrpc": {"address": "/run/containerd/ttrpc.sock"},
            "io.containerd.server.v1.debug": {"address": "/run/containerd/debug.sock"},
            "io.containerd.server.v1.metrics": {"address": "127.0.0.1:1338"},
            "io.containerd.metrics.v1.grpc-prometheus": {"grpc_histogram": True},
            CRI_RUNTIME: {"containerd": {"runtimes": {"runc": runc()}},
                          "stats_collect_period": "10s"},
            CRI_IMAGES: {"pinned_images": {"sandbox": "registry.k8s.io/pause:3.10.2"}},
        },
    }),
    invalid("version 3 in a version 4 model", {"version": 3}),
    invalid("version true", {"version": True}),
    invalid("top-level grpc table", {"version": 4, "grpc": {"address": "/run/x.sock"}}),
    invalid("top-level metrics table", {"version": 4, "metrics": {"address": "127.0.0.1:1"}}),
    invalid("debug socket address", {"version": 4, "debug": {"address": "/run/debug.sock"}}),
    invalid("string uid in a server plugin", {"plugins": {"io.containerd.server.v1.grpc": {
        "uid": "0"}}}),
    invalid("unknown key in a server plugin", {"plugins": {"io.containerd.server.v1.metrics": {
        "grpc_histogram": True}}}),
    valid("a model field name is no plugin id: the table is kept as it is",
          {"version": 4, "plugins": {"scheduler": {"anything": 1}}}),
]

CRIO = [
    valid("empty", {}),
    valid("empty crio table", {"crio": {}}),
    valid("full", {"crio": {
        "root": "/var/lib/containers/storage",
        "runroot": "/run/containers/storage",
        "storage_option": ["overlay.mountopt=nodev"],
        "api": {"listen": "/var/run/crio/crio.sock", "stream_port": "10010",
                "tls_cipher_suites": ["TLS_AES_128_GCM_SHA256"]},
        "runtime": {
            "default_runtime": "crun",
            "cgroup_manager": "systemd",
            "conmon_cgroup": "pod",
            "log_size_max": 52428800,
            "default_ulimits": ["nofile=1024:2048"],
            "runtimes": {
                "crun": {"runtime_path": "/usr/bin/crun", "runtime_root": "/run/crun",
                         "monitor_env": ["PATH=/usr/bin"], "default_annotations": {"a": "b"},
                         "platform_runtime_paths": {"linux/arm64": "/usr/bin/crun-arm64"}},
                "kata": {"runtime_type": "vm", "runtime_config_path": "/etc/kata.toml",
                         "privileged_without_host_devices": True},
            },
            "workloads": {"management": {"activation_annotation": "a", "annotation_prefix": "b",
                                         "resources": {"cpushares": 512, "cpuset": "0-1"}}},
        },
        "image": {"pause_image": "registry.k8s.io/pause:3.10", "pinned_images": ["a*"]},
        "network": {"network_dir": "/etc/cni/net.d/", "plugin_dirs": ["/opt/cni/bin/"]},
        "metrics": {"enable_metrics": True, "metrics_port": 9537},
        "tracing": {"tracing_sampling_rate_per_million": 100},
        "stats": {"collection_period": 10, "included_pod_metrics": ["cpu"]},
        "nri": {"enable_nri": True, "default_validator": {"nri_enable_default_validator": True}},
    }}),
    invalid("unknown top-level table", {"crio": {}, "containerd": {}}),
    invalid("integer for the crio table", {"crio": 1}),
    invalid("pause_image misplaced in [crio]", {"crio": {
        "pause_image": "registry.k8s.io/pause:3.10"}}),
    invalid("unknown key in [crio.runtime]", {"crio": {"runtime": {"no_such_key": ""}}}),
    invalid("port as an integer", {"crio": {"api": {"stream_port": 10010}}}),
    invalid("string for an array", {"crio": {"runtime": {"default_capabilities": "CHOWN"}}}),
    invalid("integer for a handler path", {"crio": {"runtime": {"runtimes": {
        "runc": {"runtime_path": 1}}}}}),
    invalid("unknown key in a handler", {"crio": {"runtime": {"runtimes": {
        "runc": {"runtime_engine": "/usr/bin/runc"}}}}}),
    invalid("string in workload resources", {"crio": {"runtime": {"workloads": {
        "w": {"resources": {"cpushares": "512"}}}}}}),
    invalid("boolean for an integer", {"crio": {"metrics": {"metrics_port": True}}}),
    invalid("integer in a string map", {"crio": {"runtime": {"runtimes": {
        "runc": {"default_annotations": {"a": 1}}}}}}),
]

HOSTS = [
    valid("empty", {}),
    valid("server only", {"server": "https://registry-1.docker.io"}),
    valid("full", {
        "server": "https://registry.example.com:5000",
        "capabilities": ["pull", "resolve"],
        "ca": ["/etc/certs/ca.crt", "extra.crt"],
        "skip_verify": False,
        "host": {
            "https://mirror.example.com": {
                "capabilities": ["pull"],
                "ca": "ca.crt",
                "client": [["client.cert", "client.key"]],
                "header": {"X-Single": "a", "X-List": ["b", "c"]},
                "override_path": True,
                "dial_timeout": "3s",
            },
            "http://cache.local": {"client": "client.pem", "skip_verify": True},
            "https://other.example.com": {"client": ["a.pem", "b.pem"]},
        },
    }),
    invalid("unknown key", {"mirrors": []}),
    invalid("string for capabilities", {"capabilities": "pull"}),
    invalid("string for a boolean in a host", {"host": {"https://m": {"skip_verify": "false"}}}),
    invalid("integer among client pairs", {"host": {"https://m": {"client": [["a", "b"], 1]}}}),
    invalid("array of arrays for ca", {"ca": [["a", "b"]]}),
    invalid("integer header", {"header": {"X-Count": 1}}),
    invalid("unknown key in a host", {"host": {"https://m": {"mirror": True}}}),
    invalid("string for the host table", {"host": "https://m"}),
]

SAMPLES: dict[tuple[str, int | None], list[Sample]] = {
    ("containerd", 1): CONTAINERD_COMMON + CONTAINERD_V1,
    ("containerd", 2): CONTAINERD_COMMON + CONTAINERD_V2,
    ("containerd", 3): CONTAINERD_COMMON + CONTAINERD_V3,
    ("containerd", 4): CONTAINERD_COMMON + CONTAINERD_V4,
    ("crio", None): CRIO,
    ("hosts", None): HOSTS,
}


def label(kind: str, version: int | None) -> str:
    return f"{kind}-v{version}" if version is not None else kind


def pydantic_accepts(kind: str, version: int | None, data: Any) -> bool:
    try:
        model_for(kind, version).model_validate(data)
    except ValidationError:
        return False
    return True


@functools.cache
def validator_for(kind: str, version: int | None) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema_for(kind, version))


def schema_errors(kind: str, version: int | None, data: Any) -> list[str]:
    return sorted(f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in validator_for(kind, version).iter_errors(data))


def schema_accepts(kind: str, version: int | None, data: Any) -> bool:
    return schema_errors(kind, version, data) == []


def test_every_schema_has_samples() -> None:
    assert sorted(SAMPLES, key=str) == sorted(ALL_SCHEMAS, key=str)


@pytest.mark.parametrize(("kind", "version"), ALL_SCHEMAS, ids=lambda v: str(v))
def test_the_schema_is_a_valid_draft_2020_12_schema(kind: str, version: int | None) -> None:
    schema = schema_for(kind, version)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize(
    ("kind", "version", "sample"),
    [(kind, version, sample) for (kind, version), samples in SAMPLES.items()
     for sample in samples],
    ids=lambda v: v.name if isinstance(v, Sample) else str(v),
)
def test_pydantic_and_json_schema_agree(kind: str, version: int | None, sample: Sample) -> None:
    verdicts = {"pydantic": pydantic_accepts(kind, version, sample.data),
                "json schema": schema_accepts(kind, version, sample.data)}
    assert verdicts == {"pydantic": sample.valid, "json schema": sample.valid}


# -- what only pydantic checks ------------------------------------------------------------------
# lint's value checks are pydantic validators (crio_py.config.types) that the generated schema
# cannot express: it types these values as plain strings. A JSON number has no separate integer
# type either, so the schema's "integer" matches 1.0 while the strict models (and TOML, which
# tells 1 from 1.0) reject a float where an integer belongs. For each, the schema accepts and
# the model rejects; lint reports it with the code given.
PYDANTIC_ONLY = [
    ("containerd", 3, "invalid-duration",
     {"timeouts": {"io.containerd.timeout.shim.cleanup": "5 seconds"}}),
    ("containerd", 2, "invalid-duration",
     {"plugins": {CRI_V2: {"stream_idle_timeout": "4 hours"}}}),
    ("containerd", 2, "invalid-image-ref", {"plugins": {CRI_V2: {"sandbox_image": "Pause:3.8"}}}),
    ("containerd", 3, "invalid-image-ref",
     {"plugins": {CRI_IMAGES: {"pinned_images": {"sandbox": "not an image"}}}}),
    ("containerd", 2, "invalid-port", {"plugins": {CRI_V2: {"stream_server_port": "70000"}}}),
    ("containerd", 3, "relative-path", {"root": "var/lib/containerd"}),
    ("containerd", 4, "relative-path",
     {"plugins": {"io.containerd.server.v1.grpc": {"address": "containerd.sock"}}}),
    ("containerd", 3, "invalid-type", {"oom_score": -999.0}),
    ("crio", None, "invalid-port", {"crio": {"api": {"stream_port": "http"}}}),
    ("crio", None, "invalid-image-ref", {"crio": {"image": {"pause_image": "pause:3.10"}}}),
    ("crio", None, "relative-path", {"crio": {"runtime": {"namespaces_dir": "run"}}}),
    ("crio", None, "invalid-duration", {"crio": {"nri": {"nri_plugin_request_timeout": "2 s"}}}),
    ("crio", None, "invalid-type", {"crio": {"metrics": {"metrics_port": 9090.0}}}),
    ("hosts", None, "invalid-duration", {"host": {"https://m": {"dial_timeout": "fast"}}}),
]


@pytest.mark.parametrize(("kind", "version", "code", "data"), PYDANTIC_ONLY,
                         ids=lambda v: v if isinstance(v, str) else None)
def test_value_checks_are_made_by_pydantic_and_lint_only(
    kind: str, version: int | None, code: str, data: dict[str, Any], tmp_path: Path
) -> None:
    assert schema_accepts(kind, version, data)
    assert not pydantic_accepts(kind, version, data)
    document = {"version": version, **data} if kind == "containerd" else data
    path = tmp_path / FILE_NAME[kind]
    path.write_text(tomlkit.dumps(document))
    result = lint_paths([path], LintOptions())
    assert [d.code for d in result.diagnostics if d.severity is Severity.ERROR] == [code]


# -- the test data and crio-py's defaults ---------------------------------------------------------
# Files whose data the models reject, on purpose, and the schema errors expected for them.
KNOWN_SCHEMA_ERRORS = {
    # `crio config --default` uncomments the keys the template prints after the runtime handler
    # table, so they land inside [crio.runtime.runtimes.crun] (TOML scoping; CRI-O ignores them
    # there). See tests/data/configs/crio/README.md.
    "crio/upstream/crio-1.36-default-active.conf": [
        "crio.runtime.runtimes.crun: Additional properties are not allowed "
        "('disable_hostport_mapping', 'hostnetwork_disable_selinux', 'timezone' were unexpected)"
    ],
}


def data_files() -> list[Path]:
    files = [p for group in ("corpus", "upstream") for fmt in ("containerd", "crio")
             for p in (CONFIGS / fmt / group).rglob("*") if p.is_file()]
    files += (CONFIGS / "containerd" / "certs.d").rglob("hosts.toml")
    return sorted(files)


def format_of(path: Path, data: dict[str, Any]) -> tuple[str, int | None]:
    relative = path.relative_to(CONFIGS)
    if relative.parts[:2] == ("containerd", "certs.d"):
        return "hosts", None
    if relative.parts[0] == "crio":
        return "crio", None
    return "containerd", data.get("version", 1)


def test_the_data_files_are_found() -> None:
    names = {str(p.relative_to(CONFIGS)) for p in data_files()}
    assert len(names) >= 90
    assert "crio/corpus/openshift-node/crio.conf.d/00-default" in names
    assert "containerd/corpus/conf.d/50-nvidia-runtime.toml" in names
    assert set(KNOWN_SCHEMA_ERRORS) <= names


@pytest.mark.parametrize("path", data_files(), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_data_files_validate_against_their_schema(path: Path) -> None:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    kind, version = format_of(path, data)
    expected = KNOWN_SCHEMA_ERRORS.get(str(path.relative_to(CONFIGS)), [])
    assert schema_errors(kind, version, data) == expected
    assert pydantic_accepts(kind, version, data) == (expected == [])


@pytest.mark.parametrize(("kind", "version"), [("containerd", 2), ("containerd", 3),
                                               ("containerd", 4), ("crio", None)])
def test_default_text_validates_against_its_schema(kind: str, version: int | None) -> None:
    text = default_text(kind, version) if version is not None else default_text(kind)
    data = tomllib.loads(text)
    if kind == "containerd":
        assert data["version"] == version
    assert schema_errors(kind, version, data) == []
    assert pydantic_accepts(kind, version, data)
