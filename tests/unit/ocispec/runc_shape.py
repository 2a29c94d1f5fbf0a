"""What runc (1.1, runtime-spec 1.0.2-dev) accepts as config.json, as a JSON Schema plus the
checks of runc's libcontainer/configs/validate that depend on more than one field.

The schema follows the Go types of runtime-spec's specs-go that runc decodes into: a value of
the wrong type or out of its integer range fails json.Unmarshal there. It is stricter than runc
in one way on purpose: unknown keys are rejected, because runc would silently ignore a
misspelt one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema

U32 = {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
U64 = {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}
I64 = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
STR = {"type": "string"}
ABS = {"type": "string", "pattern": "^/"}
BOOL = {"type": "boolean"}
STRS = {"type": "array", "items": STR}
STR_MAP = {"type": "object", "additionalProperties": STR}
CAPS = {
    "type": "array",
    "items": {"type": "string", "pattern": "^CAP_[A-Z_]+$"},
    "uniqueItems": True,
}


def obj(required: list[str] | None = None, **properties: Any) -> dict[str, Any]:
    """A closed object schema."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def array(items: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


SECCOMP_ACTIONS = [
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
]
SECCOMP_OPS = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
]
SECCOMP = obj(
    ["defaultAction"],
    defaultAction={"enum": SECCOMP_ACTIONS},
    defaultErrnoRet=U32,
    architectures=array({"type": "string", "pattern": "^SCMP_ARCH_[A-Z0-9_]+$"}),
    flags=STRS,
    listenerPath=STR,
    listenerMetadata=STR,
    syscalls=array(
        obj(
            ["names", "action"],
            names={"type": "array", "items": STR, "minItems": 1},
            action={"enum": SECCOMP_ACTIONS},
            errnoRet=U32,
            args=array(
                obj(
                    ["index", "value", "op"],
                    index=U32,
                    value=U64,
                    valueTwo=U64,
                    op={"enum": SECCOMP_OPS},
                )
            ),
        )
    ),
)

RESOURCES = obj(
    devices=array(
        obj(
            ["allow"],
            allow=BOOL,
            type={"enum": ["a", "b", "c"]},
            major={"type": ["integer", "null"]},
            minor={"type": ["integer", "null"]},
            access={"type": "string", "pattern": "^[rwm]{0,3}$"},
        )
    ),
    memory=obj(
        limit=I64,
        reservation=I64,
        swap=I64,
        kernel=I64,
        kernelTCP=I64,
        swappiness=U64,
        disableOOMKiller=BOOL,
        useHierarchy=BOOL,
    ),
    cpu=obj(
        shares=U64,
        quota=I64,
        period=U64,
        realtimeRuntime=I64,
        realtimePeriod=U64,
        cpus=STR,
        mems=STR,
        idle=I64,
    ),
    pids=obj(["limit"], limit=I64),
    hugepageLimits=array(obj(["pageSize", "limit"], pageSize=STR, limit=U64)),
    unified=STR_MAP,
)

NAMESPACE_TYPES = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup"]
RUNC_SPEC_SCHEMA = obj(
    ["ociVersion", "root"],
    ociVersion={"type": "string", "pattern": r"^1\.0\.\d+(-dev)?$"},
    hostname=STR,
    root=obj(["path"], path=STR, readonly=BOOL),
    annotations=STR_MAP,
    mounts=array(obj(["destination"], destination=ABS, type=STR, source=STR, options=STRS)),
    process=obj(
        ["cwd", "user", "args"],
        terminal=BOOL,
        user=obj(["uid", "gid"], uid=U32, gid=U32, umask=U32, additionalGids=array(U32)),
        args={"type": "array", "items": STR, "minItems": 1},
        env=array({"type": "string", "pattern": "^[^=]+="}),
        cwd=ABS,
        capabilities=obj(
            bounding=CAPS, effective=CAPS, inheritable=CAPS, permitted=CAPS, ambient=CAPS
        ),
        rlimits=array(
            obj(["type", "hard", "soft"], type={"pattern": "^RLIMIT_[A-Z]+$"}, hard=U64, soft=U64)
        ),
        noNewPrivileges=BOOL,
        apparmorProfile=STR,
        oomScoreAdj={"type": "integer", "minimum": -1000, "maximum": 1000},
        selinuxLabel=STR,
    ),
    linux=obj(
        namespaces=array(obj(["type"], type={"enum": NAMESPACE_TYPES}, path=ABS)),
        devices=array(
            obj(
                ["path", "type"],
                path=ABS,
                type={"enum": ["c", "b", "u", "p"]},
                major=I64,
                minor=I64,
                fileMode=U32,
                uid=U32,
                gid=U32,
            )
        ),
        cgroupsPath=STR,
        resources=RESOURCES,
        sysctl=STR_MAP,
        seccomp=SECCOMP,
        rootfsPropagation={
            "enum": [
                "private",
                "rprivate",
                "slave",
                "rslave",
                "shared",
                "rshared",
                "unbindable",
                "runbindable",
            ]
        },
        maskedPaths=array(ABS),
        readonlyPaths=array(ABS),
        mountLabel=STR,
    ),
)


def runc_problems(spec: Mapping[str, Any]) -> list[str]:
    """Every reason runc would refuse `spec` (empty when it would accept it)."""
    validator = jsonschema.Draft7Validator(RUNC_SPEC_SCHEMA)
    problems = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(spec)
    ]
    if problems:
        return problems
    linux = spec.get("linux", {})
    namespaces = {ns["type"]: ns.get("path", "") for ns in linux.get("namespaces", [])}
    if len(namespaces) != len(linux.get("namespaces", [])):
        problems.append("a namespace type is listed twice")
    if spec.get("hostname") and namespaces.get("uts") != "":
        problems.append("hostname without a private UTS namespace")
    if "mount" not in namespaces:
        problems.append("no mount namespace")
    for key in linux.get("sysctl", {}):
        if key.startswith("net.") and "network" not in namespaces:
            problems.append(f"sysctl {key} in the host network namespace")
    user = spec.get("process", {}).get("user", {})
    for value in (user.get("uid", 0), user.get("gid", 0), *user.get("additionalGids", [])):
        if value > 2**31 - 1:
            problems.append(f"id {value} above MaxInt32")
    path = linux.get("cgroupsPath", "")
    if ":" in path and (path.count(":") != 2 or not path.split(":")[0].endswith(".slice")):
        problems.append(f"cgroupsPath {path!r} is not slice:prefix:name")
    if path and ":" not in path and not path.startswith("/"):
        problems.append(f"cgroupsPath {path!r} is neither absolute nor slice:prefix:name")
    return problems
