"""The container RPCs: CreateContainer, StartContainer, StopContainer, RemoveContainer,
ContainerStatus, ListContainers, ExecSync, ReopenContainerLog and UpdateContainerResources.

- `layout.py`: where a container's files are; the OCI runtime and conmon options of a handler;
- `host.py`: host facts the spec needs (features, device nodes, bind-mount sources);
- `exits.py`: an exit `backends/conmon.py` read → the container's final status;
- `query.py`: records → CRI messages, and ListContainers filters (pure);
- `bundle.py`: the OCI bundle (config.json) from the spec builders;
- `context.py`: what the RPCs share: records, lookups, exit recording and waiting (woken
  by `backends/exit_monitor.py`);
- `create.py`, `lifecycle.py`, `status.py`, `exec_sync.py`: the RPCs;
- `recover.py`: loading the records at start, and the exit watcher (the exit monitor's task);
- `service.py`: `ContainerService`, which hands each RPC to its module.
"""

from crio_py.cri.container.context import ImageSource
from crio_py.cri.container.service import ContainerService

__all__ = ["ContainerService", "ImageSource"]
