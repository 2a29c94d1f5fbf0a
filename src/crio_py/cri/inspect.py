"""CRI-O's inspect API over HTTP/1.1 on the CRI socket: `/info`, `/config`, `/containers/<id>`,
`/pause/<id>` and `/unpause/<id>`, with CRI-O's JSON field names.

cAdvisor (inside the kubelet) asks `/info` for the storage root, from which it finds the image
filesystem, and `/containers/<id>` for each `crio-<id>` cgroup it finds: names, labels (pod
name, namespace), image, log path, IPs, and `root`, whose `…/merged` it maps to `…/diff` to
measure what the container wrote. Served only on a CRI-O configuration (see listener.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from pathlib import Path
from typing import Any

from cri_api.v1 import api_pb2

from crio_py.config.model import RuntimeSettings
from crio_py.config.render import settings_text
from crio_py.cri.container.context import ContainerContext, ContainerEntry
from crio_py.cri.sandbox.records import SandboxEntry, sandbox_config
from crio_py.errors import CrioPyError, FailedPreconditionError
from crio_py.streaming.http import BadRequest, Request, error_response, read_request

logger = logging.getLogger(__name__)

CRIO_ANNOTATION = "io.kubernetes.cri-o."
MAX_BODY = 64 * 1024
Answer = tuple[HTTPStatus, str, bytes]  # status, content type, body


class InspectApi:
    """The answers, from the daemon's records."""

    def __init__(self, settings: RuntimeSettings, containers: ContainerContext) -> None:
        self.settings = settings
        self.containers = containers

    async def answer(self, request: Request) -> Answer:
        if request.method != "GET":
            return _text(HTTPStatus.METHOD_NOT_ALLOWED, f"{request.method} is not served")
        path = request.path
        if path == "/info":
            return _json(self.info())
        if path == "/config":
            return HTTPStatus.OK, "application/toml", settings_text(self.settings, "toml").encode()
        for prefix, action in (("/containers/", None), ("/pause/", True), ("/unpause/", False)):
            if path.startswith(prefix) and len(path) > len(prefix):
                return await self._container(path[len(prefix) :], action)
        return _text(HTTPStatus.NOT_FOUND, f"{path} not found")

    def reload_settings(self, settings: RuntimeSettings) -> None:
        self.settings = settings

    def info(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "storage_driver": "overlay",
            "storage_image": "",
            "storage_root": str(settings.root_dir),
            "cgroup_driver": "systemd" if settings.cgroup_driver == "systemd" else "cgroupfs",
            "default_id_mappings": {"uids": None, "gids": None},
        }

    async def _container(self, container_id: str, pause: bool | None) -> Answer:
        found = self._find(container_id)
        if found is None:
            return _text(HTTPStatus.NOT_FOUND, f"container with id: {container_id} not found")
        entry, sandbox = found
        if pause is None:
            return _json(await asyncio.to_thread(self.container_info, entry, sandbox))
        try:
            await self._set_paused(entry, pause)
        except CrioPyError as exc:
            return _text(HTTPStatus.CONFLICT, str(exc))
        return HTTPStatus.OK, "text/plain; charset=utf-8", b""

    async def _set_paused(self, entry: ContainerEntry, pause: bool) -> None:
        async with entry.lock:
            status = entry.status
            if not status.started_at or status.finished_at:
                raise FailedPreconditionError(f"container {entry.metadata.id} is not running")
            runtime = self.containers.runtime(entry)
            await (runtime.pause if pause else runtime.resume)(entry.metadata.id)
        logger.info("%s container %s", "Paused" if pause else "Resumed", entry.metadata.id)

    def _find(self, object_id: str) -> tuple[ContainerEntry, SandboxEntry] | None:
        """A container by its id, or a pod by its id (its infra container, as CRI-O's
        sandbox id is its infra container's id)."""
        ctx = self.containers
        sandbox = ctx.sandboxes.find(object_id)
        entry = ctx.store.find(sandbox.metadata.infra_container_id) if sandbox else None
        if entry is None:
            entry = ctx.store.find(object_id)
        if entry is None:
            return None
        sandbox = sandbox or ctx.sandboxes.find(entry.metadata.sandbox_id)
        return (entry, sandbox) if sandbox is not None else None

    def container_info(self, entry: ContainerEntry, sandbox: SandboxEntry) -> dict[str, Any]:
        metadata, status = entry.metadata, entry.status
        pod = sandbox_config(sandbox)
        if metadata.infra:
            name = f"k8s_POD_{sandbox.metadata.name}"
            labels = {**pod.labels, "io.kubernetes.container.name": "POD"}
            annotations = dict(pod.annotations)
        else:
            config = self.containers.config(entry)
            name = f"k8s_{metadata.name}"
            labels, annotations = dict(config.labels), dict(config.annotations)
        root = _root(self.containers.layout.bundle(metadata.id))
        running = status.started_at and not status.finished_at
        host_network = pod.linux.security_context.namespace_options.network == api_pb2.NODE
        return {
            "name": name,
            "pid": status.pid if running else 0,
            "image": metadata.image_ref,
            "image_ref": metadata.image_id,
            "created_time": metadata.created_at,
            "labels": labels,
            "annotations": annotations,
            "crio_annotations": _crio_annotations(entry, sandbox, name),
            "log_path": metadata.log_path,
            "root": root,
            "sandbox": sandbox.metadata.id,
            "ip_addresses": list(sandbox.status.ips),
            "host_network": host_network,
        }


def _crio_annotations(entry: ContainerEntry, sandbox: SandboxEntry, name: str) -> dict[str, str]:
    metadata = entry.metadata
    return {
        f"{CRIO_ANNOTATION}ContainerID": metadata.id,
        f"{CRIO_ANNOTATION}ContainerType": "sandbox" if metadata.infra else "container",
        f"{CRIO_ANNOTATION}Name": name,
        f"{CRIO_ANNOTATION}SandboxID": sandbox.metadata.id,
        f"{CRIO_ANNOTATION}SandboxName": f"k8s_POD_{sandbox.metadata.name}",
        f"{CRIO_ANNOTATION}LogPath": metadata.log_path,
        f"{CRIO_ANNOTATION}ImageName": metadata.image_ref,
        f"{CRIO_ANNOTATION}ImageRef": metadata.image_id,
        f"{CRIO_ANNOTATION}IP.0": ",".join(sandbox.status.ips[:1]),
    }


def _root(bundle: Path) -> str:
    """The container's root as CRI-O reports it: `<dir>/merged`, beside `<dir>/diff` (what
    the container wrote), when the snapshot has that shape; else the bundle's root path."""
    try:
        spec = json.loads((bundle / "config.json").read_text(encoding="utf-8"))
        root = Path(str(spec["root"]["path"]))
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    merged = root.parent / "merged"
    return str(merged) if merged.exists() else str(root)


def _json(document: dict[str, Any]) -> Answer:
    return HTTPStatus.OK, "application/json", json.dumps(document).encode()


def _text(status: HTTPStatus, message: str) -> Answer:
    return status, "text/plain; charset=utf-8", (message + "\n").encode()


async def serve_inspect(
    api: InspectApi, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Answer HTTP/1.1 requests on one connection until the client closes it."""
    while True:
        try:
            request = await read_request(reader)
        except BadRequest as exc:
            if not reader.at_eof():
                writer.write(error_response(exc.status, str(exc)))
                await writer.drain()
            return
        length = request.headers.get("content-length", "0").strip() or "0"
        if not length.isdigit() or int(length) > MAX_BODY:
            writer.write(error_response(HTTPStatus.BAD_REQUEST, "bad or too big Content-Length"))
            await writer.drain()
            return
        await reader.readexactly(int(length))
        close = request.headers.get("connection", "").lower() == "close"
        writer.write(_response(*await api.answer(request), close=close))
        await writer.drain()
        if close:
            return


def _response(status: HTTPStatus, content_type: str, body: bytes, *, close: bool) -> bytes:
    lines = [
        f"HTTP/1.1 {status.value} {status.phrase}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        *(["Connection: close"] if close else []),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
