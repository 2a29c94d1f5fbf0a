"""The container RPCs: CreateContainer, StartContainer, StopContainer, RemoveContainer,
ContainerStatus, ListContainers, ExecSync, ReopenContainerLog, UpdateContainerResources, the
streaming URLs and the container stats.

- `seams.py`: the OCI runtime factory, conmon and the clock the context is given (fakes in tests);
- `layout.py`: where a container's files are; the OCI runtime and conmon options of a handler;
- `host.py`: host facts the spec needs (features, device nodes, bind-mount sources);
- `exits.py`: an exit `backends/conmon.py` read → the container's final status;
- `query.py`: records → CRI messages, and ListContainers filters (pure);
- `bundle.py`: the OCI bundle (config.json) from the spec builders;
- `context.py`: what the RPCs share: records, lookups, exit recording and waiting (woken
  by `backends/exit_monitor.py`);
- `create.py`, `lifecycle.py`, `status.py`, `exec_sync.py`, `reopen_log.py`,
  `update_resources.py`, `streams.py`, `stats.py`: the RPCs, one group per module;
- `recover.py`: loading the records at start, and the exit watcher (the exit monitor's task);
- `service.py`: the RPC table, and what the sandbox service and the daemon ask of containers.
"""

from crio_py.cri.container.context import ContainerContext, ImageSource
from crio_py.cri.container.seams import ContainerOps
from crio_py.cri.container.service import PodContainers, images_in_use, rpc_table

__all__ = [
    "ContainerContext",
    "ContainerOps",
    "ImageSource",
    "PodContainers",
    "images_in_use",
    "rpc_table",
]
