"""Where a containerd config keeps its CRI settings, whatever its config version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crio_py.config.containerd import rules as cr
from crio_py.config.containerd.cri import (
    RUNC_SHIM,
    CriImagesV3,
    CriRuntimeV3,
    CriV2,
    Registry,
    Runtime,
)
from crio_py.config.containerd.models import ContainerdConfig
from crio_py.config.rules import Target
from crio_py.config.source import KeyPath


def max_config_version(target: Target) -> int:
    """The newest config version a containerd release reads."""
    if target.version < (2, 0):
        return 2
    return 4 if target.version >= (2, 3) else 3


def config_version(data: dict[str, Any]) -> int:
    """The file's config version; no `version` key means 1."""
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        return -1
    return 1 if version == 0 else version  # containerd reads version 0 as version 1


@dataclass(frozen=True)
class CriView:
    """The CRI settings of any config version, with the key paths where they live."""

    runtimes: dict[str, Runtime]
    default_runtime_name: str
    containerd_path: KeyPath
    registry: Registry
    registry_path: KeyPath
    cni_path: KeyPath


def cri_view(config: ContainerdConfig, *, legacy: bool = False) -> CriView:
    """Where the runtimes, registry and CNI settings live in this config version.

    With `legacy` (containerd 1.x), the deprecated `default_runtime` and
    `untrusted_workload_runtime` tables become runtimes "default" and "untrusted", and a
    `default_runtime` with a runtime_type becomes the default, as 1.x does.
    """
    builtin = {"runc": Runtime(runtime_type=RUNC_SHIM)}
    plugins: Any = config.plugins
    if config.version in (3, 4):
        runtime: CriRuntimeV3 = plugins.cri_runtime or CriRuntimeV3()
        images: CriImagesV3 = plugins.cri_images or CriImagesV3()
        return CriView(
            runtimes={**builtin, **runtime.containerd.runtimes},
            default_runtime_name=runtime.containerd.default_runtime_name,
            containerd_path=("plugins", cr.CRI_RUNTIME, "containerd"),
            registry=images.registry,
            registry_path=("plugins", cr.CRI_IMAGES, "registry"),
            cni_path=("plugins", cr.CRI_RUNTIME, "cni"),
        )
    cri: CriV2 = plugins.cri or CriV2()
    base: KeyPath = ("plugins", cr.CRI_V1 if config.version in (0, 1) else cr.CRI_V2)
    runtimes = {**builtin, **cri.containerd.runtimes}
    default_name = cri.containerd.default_runtime_name
    legacy_default = cri.containerd.default_runtime
    legacy_untrusted = cri.containerd.untrusted_workload_runtime
    if legacy and legacy_untrusted is not None and legacy_untrusted.runtime_type:
        runtimes.setdefault("untrusted", legacy_untrusted)
    if legacy and legacy_default is not None and legacy_default.runtime_type:
        runtimes["default"] = legacy_default
        default_name = "default"
    return CriView(
        runtimes=runtimes,
        default_runtime_name=default_name,
        containerd_path=(*base, "containerd"),
        registry=cri.registry,
        registry_path=(*base, "registry"),
        cni_path=(*base, "cni"),
    )
