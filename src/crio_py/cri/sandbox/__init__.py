"""The pod sandbox RPCs: RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus and
ListPodSandbox and UpdateRuntimeConfig. A sandbox is a set of namespaces pinned on bind mounts,
with an infra container (run by the container service) only when the pod shares its PID
namespace or the configuration asks for one (CRI-O's `drop_infra_ctr = false`).

- `seams.py`: the network plugin and namespace functions the service is given (fakes in tests);
- `files.py`: the hosts, resolv.conf and hostname files containers bind-mount later;
- `network.py`: CNI ADD and DEL with port mappings and the pod CIDR;
- `query.py`: records → CRI messages, and ListPodSandbox filters (pure);
- `recover.py`: loading the records at start and undoing half-made sandboxes;
- `records.py`: `SandboxRecords`, the records and what the container RPCs read of a sandbox;
- `run.py`, `lifecycle.py`, `status.py`, `runtime_config.py`: the RPCs, one group per module;
- `service.py`: `SandboxService`, what the RPCs share, and their table.
"""

from crio_py.cri.sandbox.records import SandboxRecords
from crio_py.cri.sandbox.seams import NamespaceOps, NetworkPlugin
from crio_py.cri.sandbox.service import PodMembers, SandboxService

__all__ = ["NamespaceOps", "NetworkPlugin", "PodMembers", "SandboxRecords", "SandboxService"]
