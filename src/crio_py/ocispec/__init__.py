"""OCI runtime specs from CRI requests: pure functions (CRI config + image config + runtime
handler → config.json as a dict). May import cri_api, crio_py.config.model and the
foundation only; its only I/O is reading the image's /etc/passwd and /etc/group and seccomp
profile files.

Modules: builder (the two entry points), request (their inputs), process, users, mounts,
namespaces, resources, security, seccomp (+ seccomp_default.json), defaults.
"""

from __future__ import annotations

from crio_py.ocispec.builder import container_spec, sandbox_spec
from crio_py.ocispec.process import parse_signal, stop_signal
from crio_py.ocispec.request import HostDevice, HostFeatures, SandboxSpecRequest, SpecRequest

__all__ = [
    "HostDevice",
    "HostFeatures",
    "SandboxSpecRequest",
    "SpecRequest",
    "container_spec",
    "parse_signal",
    "sandbox_spec",
    "stop_signal",
]
