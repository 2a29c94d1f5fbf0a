"""The container RPCs: CreateContainer, StartContainer, StopContainer, RemoveContainer,
ContainerStatus, ListContainers, ExecSync, ReopenContainerLog and UpdateContainerResources.

- `layout.py`: where a container's files are; the OCI runtime and conmon options of a handler;
- `host.py`: host facts the spec needs (features, device nodes, bind-mount sources);
- `exits.py`: conmon's exit and oom files → the container's final status;
- `query.py`: records → CRI messages, and ListContainers filters (pure);
- `service.py`: `ContainerService`, the RPCs, the exit watcher and recovery at start.
"""

from crio_py.cri.container.service import ContainerService, ImageSource

__all__ = ["ContainerService", "ImageSource"]
