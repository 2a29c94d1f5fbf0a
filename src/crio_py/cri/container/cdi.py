"""CDI devices of a CreateContainer: read the spec files of `cdi_spec_dirs` and apply the
devices the container asks for (CRI `CDI_devices`, `cdi.k8s.io/*` annotations) to its spec.

The directories are read afresh for each container that asks for a device, so a spec a
device plugin has just written is seen (pkg/cdi watches them for the same reason). Spec files
are JSON; a `.yaml`/`.yml` file is read only when its text is JSON (JSON is a subset of
YAML), because no YAML parser is a dependency of crio-py; others are skipped with a warning.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from cri_api.v1 import api_pb2

from crio_py.cri.container import host
from crio_py.ocispec import cdi

logger = logging.getLogger(__name__)

SPEC_SUFFIXES = (".json", ".yaml", ".yml")
_warned: set[tuple[str, str]] = set()
"""(file, problem) pairs already logged: one warning per broken file, not one per container."""


def apply_devices(spec: cdi.Json, config: api_pb2.ContainerConfig, dirs: Sequence[Path]) -> None:
    """Inject the devices `config` asks for into `spec`; InvalidArgumentError for a device no
    spec defines, a malformed name, or a device in conflict."""
    names = cdi.requested_names([d.name for d in config.CDI_devices], config.annotations)
    if not names:
        return
    registry = load_registry(dirs)
    chosen = registry.resolve(names, [str(d) for d in dirs])
    cdi.apply(spec, chosen, host.host_device)
    logger.debug("Injected CDI devices %s", ", ".join(names))


def load_registry(dirs: Sequence[Path]) -> cdi.Registry:
    """Every readable spec of `dirs`; a later directory ranks above an earlier one."""
    registry = cdi.Registry()
    for rank, directory in enumerate(dirs):
        for path in _spec_files(directory):
            try:
                registry.add(cdi.parse_spec(_read(path), str(path), rank))
            except (OSError, ValueError) as exc:
                problem = str(exc)
                registry.broken.append(f"{path}: {problem}")
                _warn_once(path, problem)
    return registry


def _spec_files(directory: Path) -> list[Path]:
    try:
        entries = sorted(directory.iterdir())
    except FileNotFoundError:
        return []
    except OSError as exc:
        _warn_once(directory, str(exc))
        return []
    return [p for p in entries if p.suffix in SPEC_SUFFIXES and p.is_file()]


def _read(path: Path) -> object:
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if path.suffix == ".json":
            raise ValueError(f"not JSON: {exc}") from None
        raise ValueError(
            "a YAML spec file that is not JSON is not read by crio-py; write the spec as "
            "JSON (for example nvidia-ctk cdi generate --format=json)"
        ) from None


def _warn_once(path: Path, problem: str) -> None:
    if (str(path), problem) not in _warned:
        _warned.add((str(path), problem))
        logger.warning("CDI spec file %s is not used: %s", path, problem)


def report_specs(dirs: Sequence[Path]) -> None:
    """At start-up: log how many devices the spec directories define, and (once each) the
    spec files that are not used and why, YAML ones among them."""
    if not dirs:
        logger.info("CDI is off: no spec directories are configured")
        return
    registry = load_registry(dirs)
    where = ", ".join(str(d) for d in dirs)
    logger.info("CDI devices found in %s: %d", where, len(registry.devices))
