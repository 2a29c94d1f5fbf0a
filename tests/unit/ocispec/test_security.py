"""Capabilities, AppArmor, seccomp and masked paths (ocispec/security.py, seccomp.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from cri_api.v1 import api_pb2 as pb

from crio_py.config.model import RuntimeSettings
from crio_py.errors import InvalidArgumentError
from crio_py.ocispec import seccomp
from crio_py.ocispec.defaults import ALL_CAPABILITIES, DEFAULT_CAPABILITIES
from crio_py.ocispec.security import (
    Capabilities,
    apparmor_profile,
    capabilities,
    masked_paths,
    normalize_capability,
    seccomp_section,
)
from tests.unit.ocispec.helpers import with_security

RD = pb.SecurityProfile.RuntimeDefault
UNCONFINED = pb.SecurityProfile.Unconfined
LOCALHOST = pb.SecurityProfile.Localhost


def caps(
    add: Sequence[str] = (), drop: Sequence[str] = (), ambient: Sequence[str] = ()
) -> pb.Capability:
    return pb.Capability(
        add_capabilities=add, drop_capabilities=drop, add_ambient_capabilities=ambient
    )


def test_default_set_is_containerds() -> None:
    result = capabilities(None, None, privileged=False)
    assert result == Capabilities(DEFAULT_CAPABILITIES)
    assert result.to_json() == {
        "bounding": list(DEFAULT_CAPABILITIES),
        "effective": list(DEFAULT_CAPABILITIES),
        "permitted": list(DEFAULT_CAPABILITIES),
        "inheritable": [],
        "ambient": [],
    }


def test_configured_default_set_is_normalised() -> None:
    result = capabilities(None, ["chown", "CAP_KILL", " net_bind_service "], privileged=False)
    assert result.bounding == ("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE")


def test_add_and_drop() -> None:
    result = capabilities(
        caps(add=["NET_ADMIN", "sys_time", "CHOWN"], drop=["MKNOD", "kill"]), None, privileged=False
    )
    expected = [c for c in DEFAULT_CAPABILITIES if c not in ("CAP_MKNOD", "CAP_KILL")]
    assert list(result.bounding) == [*expected, "CAP_NET_ADMIN", "CAP_SYS_TIME"]


def test_drop_all_then_add() -> None:
    result = capabilities(caps(add=["NET_BIND_SERVICE"], drop=["ALL"]), None, privileged=False)
    assert result.bounding == ("CAP_NET_BIND_SERVICE",)


def test_add_all_then_drop() -> None:
    result = capabilities(caps(add=["all"], drop=["SYS_ADMIN"]), ("CHOWN",), privileged=False)
    assert result.bounding == tuple(c for c in ALL_CAPABILITIES if c != "CAP_SYS_ADMIN")


def test_ambient_capabilities_are_inheritable_and_bounding() -> None:
    result = capabilities(caps(drop=["ALL"], ambient=["NET_BIND_SERVICE"]), None, privileged=False)
    assert result.to_json() == {
        "bounding": ["CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    }


def test_privileged_gets_every_capability() -> None:
    result = capabilities(caps(drop=["ALL"]), ("CHOWN",), privileged=True)
    assert result.bounding == ALL_CAPABILITIES
    assert len(ALL_CAPABILITIES) == 41


def test_all_means_all_the_daemon_holds() -> None:
    held = ("CAP_KILL", "CAP_CHOWN", "CAP_SYS_ADMIN")
    assert capabilities(None, None, privileged=True, available=held).bounding == (
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_SYS_ADMIN",
    )
    added = capabilities(caps(add=["ALL"], drop=["KILL"]), None, privileged=False, available=held)
    assert added.bounding == ("CAP_CHOWN", "CAP_SYS_ADMIN")


@pytest.mark.parametrize("name", ["NET_FLY", "CAP_", ""])
def test_unknown_capability_is_invalid(name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="unknown capability"):
        normalize_capability(name)
    with pytest.raises(InvalidArgumentError, match="unknown capability"):
        capabilities(caps(add=[name]), None, privileged=False)


def test_masked_paths_default_and_override() -> None:
    masked, readonly = masked_paths(None)
    assert "/proc/kcore" in masked and "/sys/firmware" in masked
    assert readonly == ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    sc = pb.LinuxContainerSecurityContext(masked_paths=["/proc/x"], readonly_paths=["/proc/y"])
    assert masked_paths(sc) == (["/proc/x"], ["/proc/y"])


def ctx(**fields: object) -> pb.LinuxContainerSecurityContext:
    return pb.LinuxContainerSecurityContext(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sc", "privileged", "expected"),
    [
        (ctx(), False, "cri-containerd.apparmor.d"),  # nothing asked: the runtime default
        (ctx(apparmor=pb.SecurityProfile(profile_type=RD)), False, "cri-containerd.apparmor.d"),
        (ctx(apparmor=pb.SecurityProfile(profile_type=RD)), True, ""),  # privileged: none
        (ctx(apparmor=pb.SecurityProfile(profile_type=UNCONFINED)), False, ""),
        (
            ctx(apparmor=pb.SecurityProfile(profile_type=LOCALHOST, localhost_ref="localhost/p1")),
            True,
            "p1",
        ),
        (ctx(apparmor_profile="localhost/p2"), False, "p2"),  # deprecated string form
        (ctx(apparmor_profile="unconfined"), False, ""),
        (ctx(apparmor_profile="runtime/default"), False, "cri-containerd.apparmor.d"),
    ],
)
def test_apparmor_on_a_host_with_apparmor(
    settings: RuntimeSettings, sc: pb.LinuxContainerSecurityContext, privileged: bool, expected: str
) -> None:
    result = apparmor_profile(
        sc, privileged=privileged, security=settings.security, host_has_apparmor=True
    )
    assert result == expected


def test_apparmor_without_apparmor_on_the_host(settings: RuntimeSettings) -> None:
    runtime_default = ctx(apparmor=pb.SecurityProfile(profile_type=RD))
    args = {"privileged": False, "security": settings.security, "host_has_apparmor": False}
    assert apparmor_profile(runtime_default, **args) == ""  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="AppArmor is off"):
        apparmor_profile(ctx(apparmor_profile="localhost/p"), **args)  # type: ignore[arg-type]
    disabled = settings.security.model_copy(update={"apparmor_enabled": False})
    assert (
        apparmor_profile(ctx(), privileged=False, security=disabled, host_has_apparmor=True) == ""
    )


@pytest.mark.parametrize(
    ("sc", "message"),
    [
        (ctx(apparmor_profile="bogus"), "unknown profile 'bogus'"),
        (ctx(apparmor=pb.SecurityProfile(profile_type=RD, localhost_ref="x")), "only valid for"),
        (ctx(apparmor=pb.SecurityProfile(profile_type=LOCALHOST)), "without localhost_ref"),
    ],
)
def test_apparmor_invalid_requests(
    settings: RuntimeSettings, sc: pb.LinuxContainerSecurityContext, message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        apparmor_profile(sc, privileged=False, security=settings.security, host_has_apparmor=True)


def names(profile: dict[str, object]) -> set[str]:
    rules = profile.get("syscalls", [])
    assert isinstance(rules, list)
    return {
        n for r in rules if r["action"] == "SCMP_ACT_ALLOW" and "args" not in r for n in r["names"]
    }


def section(
    settings: RuntimeSettings, sc: pb.LinuxContainerSecurityContext, **kw: object
) -> dict[str, object] | None:
    args: dict[str, object] = {
        "privileged": False,
        "capabilities": DEFAULT_CAPABILITIES,
        "arch": "amd64",
    }
    args.update(kw)
    return seccomp_section(sc, settings=settings, **args)  # type: ignore[arg-type]


def test_runtime_default_renders_the_builtin_profile(settings: RuntimeSettings) -> None:
    profile = section(settings, ctx(seccomp=pb.SecurityProfile(profile_type=RD)))
    assert profile is not None
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["defaultErrnoRet"] == 1
    assert profile["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = names(profile)
    assert {"read", "write", "execve", "arch_prctl", "modify_ldt", "chroot"} <= allowed
    # Guarded by capabilities the default set lacks, or by other architectures:
    assert not {"mount", "bpf", "reboot", "ptrace_", "set_tls", "s390_runtime_instr"} & allowed
    syscalls = profile["syscalls"]
    assert isinstance(syscalls, list)
    # Without CAP_SYS_ADMIN: clone only without namespace flags, clone3 gets ENOSYS.
    assert {
        "names": ["clone"],
        "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
    } in syscalls
    assert {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38} in syscalls
    assert all(set(rule) <= {"names", "action", "errnoRet", "args"} for rule in syscalls)


def test_runtime_default_follows_the_capabilities(settings: RuntimeSettings) -> None:
    sc = ctx(seccomp=pb.SecurityProfile(profile_type=RD))
    profile = section(settings, sc, capabilities=("CAP_SYS_ADMIN", "CAP_SYS_PTRACE"), arch="arm64")
    assert profile is not None
    assert profile["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    allowed = names(profile)
    assert {"mount", "unshare", "clone", "clone3", "kcmp", "set_tls"} <= allowed
    assert not {"arch_prctl", "chroot"} & allowed
    assert all(
        r["names"] != ["clone3"] or r["action"] == "SCMP_ACT_ALLOW" for r in profile["syscalls"]
    )  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "sc",
    [
        ctx(),  # nothing asked and no configured fallback: unconfined (CRI default)
        ctx(seccomp=pb.SecurityProfile(profile_type=UNCONFINED)),
        ctx(seccomp_profile_path="unconfined"),
    ],
)
def test_unconfined(settings: RuntimeSettings, sc: pb.LinuxContainerSecurityContext) -> None:
    assert section(settings, sc) is None


def test_privileged_has_no_seccomp(settings: RuntimeSettings) -> None:
    assert (
        section(settings, ctx(seccomp=pb.SecurityProfile(profile_type=RD)), privileged=True) is None
    )


def test_deprecated_path_forms(settings: RuntimeSettings) -> None:
    assert section(settings, ctx(seccomp_profile_path="runtime/default")) is not None
    assert section(settings, ctx(seccomp_profile_path="docker/default")) is not None
    with pytest.raises(InvalidArgumentError, match="unknown profile"):
        section(settings, ctx(seccomp_profile_path="strict"))


def test_localhost_profile_is_loaded(settings: RuntimeSettings, tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    path.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_LOG",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
            }
        )
    )
    sc = ctx(seccomp=pb.SecurityProfile(profile_type=LOCALHOST, localhost_ref=str(path)))
    assert section(settings, sc) == {
        "defaultAction": "SCMP_ACT_LOG",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }
    assert section(settings, ctx(seccomp_profile_path=f"localhost/{path}")) == section(settings, sc)


def test_localhost_profile_in_docker_format(settings: RuntimeSettings, tmp_path: Path) -> None:
    path = tmp_path / "docker.json"
    path.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "archMap": [
                    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}
                ],
                "syscalls": [
                    {"name": "read", "action": "SCMP_ACT_ALLOW"},
                    {
                        "names": ["mount"],
                        "action": "SCMP_ACT_ALLOW",
                        "includes": {"caps": ["CAP_SYS_ADMIN"]},
                    },
                    {
                        "names": ["getpid"],
                        "action": "SCMP_ACT_ALLOW",
                        "excludes": {"arches": ["amd64"]},
                    },
                    {
                        "names": ["uname"],
                        "action": "SCMP_ACT_ALLOW",
                        "comment": "x",
                        "includes": {"arches": ["amd64"]},
                    },
                ],
            }
        )
    )
    sc = ctx(seccomp=pb.SecurityProfile(profile_type=LOCALHOST, localhost_ref=str(path)))
    assert section(settings, sc) == {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["uname"], "action": "SCMP_ACT_ALLOW"},
        ],
    }


@pytest.mark.parametrize(
    ("ref", "content", "message"),
    [
        ("relative.json", None, "is not absolute"),
        ("/nonexistent/profile.json", None, "cannot read seccomp profile"),
        ("{tmp}/bad.json", "{not json", "is not valid JSON"),
        ("{tmp}/bad.json", '{"syscalls": []}', "has no defaultAction"),
        ("{tmp}/bad.json", '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {}}', "not a list"),
    ],
)
def test_bad_localhost_profiles(
    settings: RuntimeSettings, tmp_path: Path, ref: str, content: str | None, message: str
) -> None:
    ref = ref.format(tmp=tmp_path)
    if content is not None:
        Path(ref).write_text(content)
    sc = ctx(seccomp=pb.SecurityProfile(profile_type=LOCALHOST, localhost_ref=ref))
    with pytest.raises(InvalidArgumentError, match=message):
        section(settings, sc)


def test_containerd_unset_seccomp_profile_applies_when_nothing_is_asked(
    settings: RuntimeSettings,
) -> None:
    configured = with_security(settings, seccomp_profile="runtime/default")
    assert section(configured, ctx()) is not None
    assert section(configured, ctx(seccomp=pb.SecurityProfile(profile_type=UNCONFINED))) is None


def test_crio_seccomp_profile_replaces_the_builtin_default(
    settings: RuntimeSettings, tmp_path: Path
) -> None:
    path = tmp_path / "crio-default.json"
    path.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    crio = with_security(settings, seccomp_profile=str(path)).model_copy(
        update={"source_format": "crio"}
    )
    assert section(crio, ctx()) is None  # CRI-O: no request means unconfined
    rd = ctx(seccomp=pb.SecurityProfile(profile_type=RD))
    assert section(crio, rd) == {"defaultAction": "SCMP_ACT_ALLOW"}


def test_builtin_profile_file_is_documented_and_well_formed() -> None:
    raw = seccomp.builtin_profile()
    assert isinstance(raw["comment"], list) and raw["comment"]
    for arch in seccomp.SCMP_ARCH:
        rendered = seccomp.render(raw, capabilities=ALL_CAPABILITIES, arch=arch)
        assert rendered["defaultAction"] == "SCMP_ACT_ERRNO"
    assert seccomp.builtin_profile() is not seccomp.builtin_profile()  # callers may mutate it
