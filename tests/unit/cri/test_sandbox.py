"""The pod sandbox RPCs against a fake network plugin and fake namespace functions (which
record calls and fail on demand)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from cri_api.v1 import api_pb2

from crio_py.backends.netns import IdMap, IdMaps
from crio_py.config.model import RuntimeHandler
from crio_py.cri.sandbox import SandboxRecords, SandboxService
from crio_py.cri.sandbox import lifecycle as sandbox_lifecycle
from crio_py.cri.sandbox import run as sandbox_run
from crio_py.cri.sandbox import status as sandbox_status
from crio_py.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
    UnimplementedError,
)
from tests.fakes.sandboxes import (
    World,
    settings_in,
)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def config(
    name: str = "web",
    *,
    uid: str = "uid-1",
    attempt: int = 0,
    host_network: bool = False,
    labels: dict[str, str] | None = None,
    hostname: str | None = None,
) -> api_pb2.PodSandboxConfig:
    options = api_pb2.NamespaceOption(
        pid=api_pb2.CONTAINER, network=api_pb2.NODE if host_network else api_pb2.POD
    )
    return api_pb2.PodSandboxConfig(
        metadata=api_pb2.PodSandboxMetadata(name=name, namespace="ns", uid=uid, attempt=attempt),
        hostname=name if hostname is None else hostname,
        labels=labels or {"app": name},
        annotations={"note": "x"},
        port_mappings=[
            api_pb2.PortMapping(protocol=api_pb2.UDP, container_port=53, host_port=5353)
        ],
        dns_config=api_pb2.DNSConfig(
            servers=["1.1.1.1"], searches=["svc.local"], options=["ndots:5"]
        ),
        linux=api_pb2.LinuxPodSandboxConfig(
            security_context=api_pb2.LinuxSandboxSecurityContext(namespace_options=options)
        ),
    )


async def run(
    service: SandboxService, cfg: api_pb2.PodSandboxConfig | None = None, handler: str = ""
) -> str:
    request = api_pb2.RunPodSandboxRequest(config=cfg or config(), runtime_handler=handler)
    return (await sandbox_run.run_pod_sandbox(service, request)).pod_sandbox_id


async def status(
    service: SandboxService, sandbox_id: str, verbose: bool = False
) -> api_pb2.PodSandboxStatusResponse:
    return await sandbox_status.pod_sandbox_status(
        service, api_pb2.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=verbose)
    )


async def listed(service: SandboxService, **filters: object) -> list[str]:
    request = api_pb2.ListPodSandboxRequest(filter=api_pb2.PodSandboxFilter(**filters))  # type: ignore[arg-type]
    return [item.id for item in (await sandbox_status.list_pod_sandbox(service, request)).items]


def nothing_left(w: World) -> None:
    assert w.ns.pinned == set()
    assert w.network.added == {}
    assert w.network.loopback == set()
    assert not any((w.settings.root_dir / "sandboxes").glob("*/*"))
    assert w.service.records.names.holder("web_ns_uid-1_0") is None


async def test_run_pins_attaches_and_writes_files(world: World) -> None:
    sandbox_id = await run(world.service)
    assert len(sandbox_id) == 64
    assert world.ns.kinds[sandbox_id] == ["net", "uts", "ipc"]
    assert world.ns.hostnames[sandbox_id] == "web"
    cni = world.network.added[sandbox_id]
    assert world.network.loopback == {sandbox_id}
    assert (cni.pod_name, cni.pod_namespace, cni.pod_uid) == ("web", "ns", "uid-1")
    assert cni.netns_path == str(world.settings.state_dir / "ns" / "netns" / sandbox_id)
    (mapping,) = cni.port_mappings
    assert (mapping.protocol, mapping.host_port, mapping.container_port) == ("udp", 5353, 53)
    directory = world.settings.root_dir / "sandboxes" / sandbox_id
    assert "10.99.0.2\tweb" in (directory / "hosts").read_text()
    assert (directory / "resolv.conf").read_text() == (
        "nameserver 1.1.1.1\nsearch svc.local\noptions ndots:5\n"
    )
    assert (directory / "hostname").read_text() == "web\n"
    assert world.service.records.names.holder("web_ns_uid-1_0") == sandbox_id


async def test_no_hostname_means_the_nodes(world: World) -> None:
    """containerd and CRI-O: a pod without a hostname gets the node's, whatever its name;
    critest sends no hostname and pod names of 70 characters with upper case."""
    long_name = "create-PodSandbox-for-container-" + "A" * 40
    sandbox_id = await run(world.service, config(long_name, hostname=""))
    assert world.ns.hostnames[sandbox_id] == socket.gethostname()
    directory = world.settings.root_dir / "sandboxes" / sandbox_id
    assert (directory / "hostname").read_text() == socket.gethostname() + "\n"


def _userns(mode: int = api_pb2.POD, *mappings: api_pb2.IDMapping) -> api_pb2.PodSandboxConfig:
    pod = config()
    userns = pod.linux.security_context.namespace_options.userns_options
    userns.mode = mode  # type: ignore[assignment]
    userns.uids.extend(mappings)
    userns.gids.extend(mappings)
    return pod


MAPPING = api_pb2.IDMapping(container_id=0, host_id=1000, length=100000)


async def test_a_pod_user_namespace_owns_the_pod_namespaces(world: World) -> None:
    sandbox_id = await run(world.service, _userns(api_pb2.POD, MAPPING))
    assert world.ns.kinds[sandbox_id] == ["user", "net", "uts", "ipc"]
    assert world.ns.id_maps[sandbox_id] == IdMaps(IdMap(0, 1000, 100000), IdMap(0, 1000, 100000))
    entry = world.service.records.get(sandbox_id)
    idmap = SandboxRecords.idmap(entry)
    assert idmap is not None and (idmap.root_uid, idmap.root_gid) == (1000, 1000)
    assert SandboxRecords.namespace_paths(entry)["user"] == str(idmap.userns_path)
    other = _userns(api_pb2.NODE)
    other.metadata.uid = "uid-2"
    node = await run(world.service, other)
    assert "user" not in world.ns.kinds[node]


@pytest.mark.parametrize(
    ("pod", "message"),
    [
        (_userns(api_pb2.POD, MAPPING, MAPPING), "exactly one mapping line"),
        (
            _userns(api_pb2.POD, api_pb2.IDMapping(container_id=1, host_id=1000, length=10)),
            "must start at container id 0",
        ),
        (_userns(api_pb2.POD), "exactly one mapping line"),
        (_userns(api_pb2.CONTAINER), "mode CONTAINER is not supported"),
        (_userns(api_pb2.TARGET), "mode TARGET is not supported"),
        (_userns(api_pb2.NODE, MAPPING), "takes no id mappings"),
    ],
)
async def test_bad_user_namespaces_are_refused_before_anything_is_made(
    world: World, pod: api_pb2.PodSandboxConfig, message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        await run(world.service, pod)
    nothing_left(world)


async def test_a_handler_without_user_namespaces_refuses_them(world: World) -> None:
    world.userns_handlers.clear()
    with pytest.raises(InvalidArgumentError, match="cannot run pods in user namespaces"):
        await run(world.service, _userns(api_pb2.POD, MAPPING))
    nothing_left(world)


async def test_status_fields(world: World) -> None:
    sandbox_id = await run(world.service)
    response = await status(world.service, sandbox_id[:12], verbose=True)
    s = response.status
    assert s.id == sandbox_id
    assert s.state == api_pb2.SANDBOX_READY
    assert s.created_at > 0
    assert s.network.ip == "10.99.0.2"
    assert [ip.ip for ip in s.network.additional_ips] == ["fd00::5"]
    assert s.linux.namespaces.options.pid == api_pb2.CONTAINER
    assert dict(s.labels) == {"app": "web"} and dict(s.annotations) == {"note": "x"}
    assert (s.metadata.name, s.metadata.namespace, s.metadata.uid) == ("web", "ns", "uid-1")
    assert s.runtime_handler == "runc"
    info = json.loads(response.info["info"])
    assert set(info["namespaces"]) == {"net", "ipc", "uts"}
    assert info["cniResult"] == {"pods": {"cniVersion": "1.0.0"}}
    assert "info" not in (await status(world.service, sandbox_id)).info


async def test_status_of_an_unknown_sandbox_is_not_found(world: World) -> None:
    with pytest.raises(NotFoundError):
        await status(world.service, "f" * 64)


async def test_a_name_clash_names_the_holder(world: World) -> None:
    first = await run(world.service)
    with pytest.raises(AlreadyExistsError, match=f"reserved for {first}"):
        await run(world.service)
    assert len(world.ns.kinds) == 1  # nothing was set up for the second


@pytest.mark.parametrize(
    ("cfg", "error", "message"),
    [
        (api_pb2.PodSandboxConfig(), InvalidArgumentError, "name, namespace, uid"),
    ],
)
async def test_invalid_requests(
    world: World, cfg: api_pb2.PodSandboxConfig, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await run(world.service, cfg)
    nothing_left(world)


async def test_an_infra_container_when_the_config_asks(tmp_path: Path) -> None:
    w = World(tmp_path, drop_infra_container=False)
    members = w.members
    sandbox_id = await run(w.service)
    assert members.calls == [("run_infra", sandbox_id)]
    entry = w.service.records.get(sandbox_id)
    assert entry.metadata.infra_container_id == sandbox_id
    await sandbox_lifecycle.remove_pod_sandbox(
        w.service, api_pb2.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id)
    )
    assert members.calls[1:] == [("stop_all", sandbox_id), ("remove_all", sandbox_id)]
    nothing_left(w)


async def test_a_failed_infra_container_undoes_the_sandbox(world: World) -> None:
    members = world.members
    members.fail_infra = True
    shared = config()
    shared.linux.security_context.namespace_options.pid = api_pb2.POD
    with pytest.raises(UnavailableError, match="pause image"):
        await run(world.service, shared)
    assert [c[0] for c in members.calls] == ["run_infra", "remove_all"]
    nothing_left(world)
    assert world.service.records.store.find(members.calls[0][1]) is None
    assert world.ns.shm == set()


async def test_runtime_handlers(tmp_path: Path) -> None:
    base = settings_in(tmp_path).runtimes["runc"]
    kata = RuntimeHandler(**{**base.model_dump(), "name": "kata", "kind": "vm"})
    w = World(tmp_path, runtimes={"runc": base, "kata": kata})
    with pytest.raises(NotFoundError, match="'nope'"):
        await run(w.service, handler="nope")
    with pytest.raises(UnimplementedError, match="kata"):
        await run(w.service, handler="kata")
    sandbox_id = await run(w.service, handler="runc")
    assert (await status(w.service, sandbox_id)).status.runtime_handler == "runc"


async def test_undo_when_namespaces_fail(world: World) -> None:
    world.ns.fail_create = True
    with pytest.raises(UnavailableError, match="unshare failed"):
        await run(world.service)
    nothing_left(world)


async def test_undo_when_cni_add_fails(world: World) -> None:
    world.network.fail_add = True
    with pytest.raises(UnavailableError, match="CNI ADD failed"):
        await run(world.service)
    nothing_left(world)
    assert world.ns.removed  # the namespaces were made, then removed


async def test_undo_when_no_network_is_configured(world: World) -> None:
    world.network.network = None
    with pytest.raises(UnavailableError, match="no CNI network"):
        await run(world.service)
    nothing_left(world)


async def test_undo_when_the_records_cannot_be_written(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(world.service.records.store, "create", broken)
    with pytest.raises(OSError, match="disk full"):
        await run(world.service)
    nothing_left(world)
    assert [d.container_id for d in world.network.deleted]  # CNI DEL ran


async def test_a_failing_undo_step_keeps_the_original_error(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(world.service.records.store, "create", broken)
    world.network.fail_delete = True
    with pytest.raises(OSError, match="disk full"):
        await run(world.service)
    assert "Could not detach sandbox" in caplog.text
    assert world.ns.pinned == set()  # the later undo steps still ran


async def test_host_network_skips_cni_and_the_netns(world: World) -> None:
    sandbox_id = await run(world.service, config(host_network=True))
    assert world.ns.kinds[sandbox_id] == ["ipc"]
    assert world.ns.hostnames[sandbox_id] is None
    assert world.network.added == {}
    s = (await status(world.service, sandbox_id)).status
    assert s.network.ip == "" and s.linux.namespaces.options.network == api_pb2.NODE


async def test_stop_and_remove_are_idempotent(world: World) -> None:
    sandbox_id = await run(world.service)
    stop = api_pb2.StopPodSandboxRequest(pod_sandbox_id=sandbox_id)
    await sandbox_lifecycle.stop_pod_sandbox(world.service, stop)
    s = (await status(world.service, sandbox_id)).status
    assert s.state == api_pb2.SANDBOX_NOTREADY
    assert world.service.records.store.get(sandbox_id).status.stopped_at > 0
    assert world.ns.pinned == set() and world.network.added == {}
    await sandbox_lifecycle.stop_pod_sandbox(world.service, stop)
    remove = api_pb2.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id)
    await sandbox_lifecycle.remove_pod_sandbox(world.service, remove)
    await sandbox_lifecycle.remove_pod_sandbox(world.service, remove)
    nothing_left(world)
    with pytest.raises(NotFoundError):
        await status(world.service, sandbox_id)
    await sandbox_lifecycle.stop_pod_sandbox(world.service, stop)  # unknown: OK per CRI


async def test_remove_stops_a_ready_sandbox(world: World) -> None:
    sandbox_id = await run(world.service)
    request = api_pb2.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id)
    await sandbox_lifecycle.remove_pod_sandbox(world.service, request)
    nothing_left(world)
    assert await listed(world.service) == []
    await run(world.service)  # the name is free again


async def test_a_failed_stop_during_remove_keeps_the_sandbox(world: World) -> None:
    sandbox_id = await run(world.service)
    world.network.fail_delete = True
    with pytest.raises(UnavailableError):
        await sandbox_lifecycle.remove_pod_sandbox(
            world.service, api_pb2.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id)
        )
    assert world.service.records.store.get(sandbox_id).status.removing is False
    assert await listed(world.service) == [sandbox_id]


async def test_unknown_ids_stop_and_remove_ok_on_a_fresh_service(world: World) -> None:
    await sandbox_lifecycle.stop_pod_sandbox(
        world.service, api_pb2.StopPodSandboxRequest(pod_sandbox_id="abc")
    )
    await sandbox_lifecycle.remove_pod_sandbox(
        world.service, api_pb2.RemovePodSandboxRequest(pod_sandbox_id="abc")
    )
    assert await listed(world.service) == []


async def test_list_filters(world: World) -> None:
    web = await run(world.service, config("web", labels={"app": "web", "tier": "front"}))
    db = await run(world.service, config("db", uid="uid-2", labels={"app": "db"}))
    await sandbox_lifecycle.stop_pod_sandbox(
        world.service, api_pb2.StopPodSandboxRequest(pod_sandbox_id=db)
    )
    assert await listed(world.service) == [web, db]
    assert await listed(world.service, id=web[:8]) == [web]
    assert await listed(world.service, id="zzz") == []
    ready = api_pb2.PodSandboxStateValue(state=api_pb2.SANDBOX_READY)
    not_ready = api_pb2.PodSandboxStateValue(state=api_pb2.SANDBOX_NOTREADY)
    assert await listed(world.service, state=ready) == [web]
    assert await listed(world.service, state=not_ready) == [db]
    assert await listed(world.service, label_selector={"tier": "front"}) == [web]
    assert await listed(world.service, label_selector={"app": "db", "tier": "x"}) == []
    item = (
        await sandbox_status.list_pod_sandbox(world.service, api_pb2.ListPodSandboxRequest())
    ).items[0]
    assert (item.metadata.name, dict(item.annotations)) == ("web", {"note": "x"})
    assert item.runtime_handler == "runc"


async def test_load_reserves_names_and_marks_lost_namespaces_not_ready(world: World) -> None:
    kept = await run(world.service, config("web"))
    lost = await run(world.service, config("db", uid="uid-2"))
    for path in list(world.ns.pinned):
        if lost in str(path):
            world.ns.pinned.discard(path)  # as after a reboot
    service = world.restarted()
    await service.load()
    assert await listed(service) == [kept, lost]
    assert (await status(service, kept)).status.state == api_pb2.SANDBOX_READY
    assert (await status(service, lost)).status.state == api_pb2.SANDBOX_NOTREADY
    with pytest.raises(AlreadyExistsError, match=kept):
        await run(service, config("web"))
    record = world.settings.root_dir / "sandboxes" / lost / "status.json"
    assert json.loads(record.read_text())["ready"] is False


async def test_open_on_a_fresh_root_creates_nothing(tmp_path: Path) -> None:
    world = World(tmp_path)
    settings = world.settings
    service = world.restarted()
    await service.load()
    assert await listed(service) == []
    assert not (settings.root_dir / "sandboxes").exists()
