"""The container RPCs: CreateContainer, StartContainer, StopContainer, RemoveContainer,
ContainerStatus, ListContainers, ExecSync, ReopenContainerLog and UpdateContainerResources.

- `layout.py`: where a container's files are; the OCI runtime and conmon options of a handler;
- `host.py`: host facts the spec needs (features, device nodes, bind-mount sources);
- `exits.py`: conmon's exit and oom files → the container's final status;
- `query.py`: records → CRI messages, and ListContainers filters (pure);
- `bundle.py`: the OCI bundle (config.json) from the spec builders;
- `context.py`: what the RPCs share: records, lookups, exit recording;
- `create.py`, `lifecycle.py`, `status.py`, `exec_sync.py`: the RPCs;
- `recover.py`: loading the records at start, and the exit watcher;
- `service.py`: `ContainerService`, which hands each RPC to its module.
"""

from crio_py.cri.container.context import ImageSource
from crio_py.cri.container.service import ContainerService

__all__ = ["ContainerService", "ImageSource"]
