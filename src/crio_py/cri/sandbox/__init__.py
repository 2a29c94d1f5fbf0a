"""The pod sandbox RPCs: RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus and
ListPodSandbox, for sandboxes realised as pinned namespaces without an infra container (CRI-O's
`drop_infra_ctr = true`).

- `seams.py`: the network plugin and namespace functions the service is given (fakes in tests);
- `files.py`: the hosts, resolv.conf and hostname files containers bind-mount later;
- `query.py`: records → CRI messages, and ListPodSandbox filters (pure);
- `service.py`: `SandboxService`, the five RPCs and the load at daemon start.
"""

from crio_py.cri.sandbox.seams import NamespaceOps, NetworkPlugin
from crio_py.cri.sandbox.service import SandboxService

__all__ = ["NamespaceOps", "NetworkPlugin", "SandboxService"]
