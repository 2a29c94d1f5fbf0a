"""The containerd input of a conversion to CRI-O: validated, and its CRI settings found in
config version 2 or 3."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crio_py.config.containerd.cri import (
    CriImagesV3,
    CriRuntimeV3,
    CriServerV3,
    CriV2,
)
from crio_py.config.containerd.models import ContainerdConfigV2, ContainerdConfigV3
from crio_py.config.containerd.view import CriView, config_version, cri_view
from crio_py.config.diagnostics import Severity
from crio_py.config.lint.containerd import lint_containerd
from crio_py.config.migrate.convert._common import (
    IMG,
    RT,
    SRV,
    Key,
    refuse_errors,
)
from crio_py.config.rules import newest
from crio_py.config.source import Source
from crio_py.errors import ConfigReadError

ContainerdInput = ContainerdConfigV2 | ContainerdConfigV3


@dataclass(frozen=True)
class Parts:
    """The CRI settings of a version 2 or 3 config, and where they live."""

    version: int
    runtime: CriV2 | CriRuntimeV3
    images: CriV2 | CriImagesV3
    server: CriV2 | CriServerV3
    view: CriView

    def loc(self, path: Key) -> Key:
        """Where a version 3 key lives in this config version."""
        if self.version == 3:
            return path
        rest = path[2:]
        if path[:2] == IMG:
            if rest == ("pinned_images", "sandbox"):
                return (*SRV, "sandbox_image")
            if rest[0] in (
                "snapshotter",
                "disable_snapshot_annotations",
                "discard_unpacked_layers",
            ):
                return (*SRV, "containerd", *rest)
            return (*SRV, *rest)
        return (*SRV, *rest) if path[:2] == RT else path


def cri_parts(config: ContainerdInput) -> Parts:
    view = cri_view(config, legacy=config.version == 2)
    if isinstance(config, ContainerdConfigV3):
        plugins = config.plugins
        return Parts(
            3,
            plugins.cri_runtime or CriRuntimeV3(),
            plugins.cri_images or CriImagesV3(),
            plugins.cri_server or CriServerV3(),
            view,
        )
    cri = config.plugins.cri or CriV2()
    return Parts(2, cri, cri, cri, view)


def validated_containerd(sources: Sequence[Source], *, force: bool = False) -> ContainerdInput:
    if not sources:
        raise ConfigReadError("no containerd configuration to convert")
    version = config_version(sources[0].data)
    if version not in (2, 3):
        hint = {
            1: "; migrate it to version 2 or 3 first (crio-py config migrate)",
            4: "; containerd 2.3's version 4 is not supported by the CRI-O conversion yet",
        }.get(version, "")
        shown = "1 (no version key)" if version == 1 else str(version)
        raise ConfigReadError(
            f"{sources[0].path}: containerd config version {shown} cannot be converted to "
            f"CRI-O; only versions 2 and 3 can{hint}"
        )
    diagnostics, config = lint_containerd(sources, newest("containerd"))
    if not isinstance(config, ContainerdConfigV2 | ContainerdConfigV3):
        errors = [d for d in diagnostics if d.severity is Severity.ERROR]
        raise ConfigReadError(f"{sources[0].path}: not a usable containerd configuration", errors)
    # Runtimes that disagree on SystemdCgroup: CRI-O gets the default runtime's driver.
    refuse_errors(sources, diagnostics, frozenset({"cgroup-driver-mismatch"}), force=force)
    return config

