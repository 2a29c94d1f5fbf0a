"""`crio-py ctl create | start | stop | rm | ps | inspect | exec -s | info`: the container
verbs, as crictl prints them (cri-tools `cmd/crictl/container.go`, `exec.go`, `info.go`).

Container ids go to the runtime as given: crio-py resolves a unique short id itself.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from typing import TypedDict

import grpc  # type: ignore[import-untyped,unused-ignore]
from cri_api.v1 import api_pb2

from crio_py.ctl import stream
from crio_py.ctl.client import Client, describe_rpc_error
from crio_py.ctl.endpoints import CtlError
from crio_py.ctl.output import (
    Json,
    human_size,
    load_message,
    message_to_json,
    status_data,
    table,
    truncate_id,
    write_data,
    write_listing,
)
from crio_py.ctl.pods import (
    go_time,
    human_duration,
    parse_labels,
    print_map,
    removal_targets,
    rfc3339_nano,
)

_STATE_FILTERS = {
    "created": api_pb2.CONTAINER_CREATED,
    "running": api_pb2.CONTAINER_RUNNING,
    "exited": api_pb2.CONTAINER_EXITED,
    "unknown": api_pb2.CONTAINER_UNKNOWN,
}


def _error(message: str) -> None:
    print(f"crio-py: {message}", file=sys.stderr)


# create / start / stop / rm


def run_create(client: Client, args: argparse.Namespace) -> int:
    """CreateContainer in a pod from a container and a pod config; print the new id."""
    config = load_message(args.container_config, api_pb2.ContainerConfig(), "containerConfig")
    pod_config = load_message(args.pod_config, api_pb2.PodSandboxConfig(), "podSandboxConfig")
    if args.with_pull and not args.no_pull:
        request = api_pb2.PullImageRequest(image=config.image, sandbox_config=pod_config)
        client.images.PullImage(request, timeout=None)
    create = api_pb2.CreateContainerRequest(
        pod_sandbox_id=args.pod, config=config, sandbox_config=pod_config
    )
    timeout_s = args.cancel_timeout if args.cancel_timeout else client.timeout_s
    response: api_pb2.CreateContainerResponse = client.runtime.CreateContainer(
        create, timeout=timeout_s
    )
    print(response.container_id)
    return 0


def _each(ids: list[str], what: str, call: object) -> int:
    """Run `call(id)` for each id, printing the id; report failures and carry on (crictl)."""
    assert callable(call)
    failed = False
    for container_id in ids:
        try:
            call(container_id)
        except grpc.RpcError as exc:
            _error(f"{what} container {container_id!r}: {describe_rpc_error(exc)}")
            failed = True
            continue
        print(container_id)
    if failed:
        raise CtlError(f"unable to {what} the container(s)")
    return 0


def run_start(client: Client, args: argparse.Namespace) -> int:
    def start(container_id: str) -> None:
        request = api_pb2.StartContainerRequest(container_id=container_id)
        client.runtime.StartContainer(request, timeout=client.timeout_s)

    return _each(args.containers, "start", start)


def _stop(client: Client, container_id: str, timeout_s: int) -> None:
    request = api_pb2.StopContainerRequest(container_id=container_id, timeout=timeout_s)
    client.runtime.StopContainer(request, timeout=(client.timeout_s or 0) + timeout_s)


def run_stop(client: Client, args: argparse.Namespace) -> int:
    return _each(args.containers, "stop", lambda cid: _stop(client, cid, args.stop_timeout))


def run_rm(client: Client, args: argparse.Namespace) -> int:
    """RemoveContainer; a running container needs --force, which stops it first."""
    every = api_pb2.ContainerFilter()
    ids = removal_targets(
        args, args.containers, lambda: [c.id for c in list_containers(client, every)], "containers"
    )
    if not ids:
        return 0

    def remove(container_id: str) -> None:
        status = container_status(client, container_id, verbose=False).status
        if status.state == api_pb2.CONTAINER_RUNNING:
            if not args.force:
                raise CtlError(
                    f"container {container_id!r} is running, please stop it first or use -f"
                )
            _stop(client, container_id, 0)
        request = api_pb2.RemoveContainerRequest(container_id=container_id)
        client.runtime.RemoveContainer(request, timeout=client.timeout_s)

    return _each(ids, "remove", remove)


# ps / inspect


def container_status(
    client: Client, container_id: str, *, verbose: bool
) -> api_pb2.ContainerStatusResponse:
    request = api_pb2.ContainerStatusRequest(container_id=container_id, verbose=verbose)
    response: api_pb2.ContainerStatusResponse = client.runtime.ContainerStatus(
        request, timeout=client.timeout_s
    )
    return response


def list_containers(
    client: Client, container_filter: api_pb2.ContainerFilter
) -> list[api_pb2.Container]:
    request = api_pb2.ListContainersRequest(filter=container_filter)
    response: api_pb2.ListContainersResponse = client.runtime.ListContainers(
        request, timeout=client.timeout_s
    )
    return list(response.containers)


def container_filter(args: argparse.Namespace) -> api_pb2.ContainerFilter:
    """--id, --pod, --state (running unless --all) and --label as a ContainerFilter."""
    result = api_pb2.ContainerFilter(
        id=args.id, pod_sandbox_id=args.pod, label_selector=parse_labels(args.label)
    )
    state = args.state or ("" if args.all else "running")
    if state:
        result.state.state = _STATE_FILTERS[state]
    return result


def select_containers(
    containers: list[api_pb2.Container], args: argparse.Namespace
) -> list[api_pb2.Container]:
    """crictl `getContainersList`: name and image matches, newest first, --latest, --last."""
    try:
        name = re.compile(args.name)
    except re.error as exc:
        raise CtlError(f"invalid regular expression: {exc}") from None
    selected = [
        c
        for c in containers
        if name.search(c.metadata.name) and (not args.image or args.image in c.image.image)
    ]
    selected.sort(key=lambda c: c.created_at, reverse=True)
    count = 1 if args.latest else len(selected)
    return selected[: args.last] if args.last > 0 else selected[:count]


def run_ps(client: Client, args: argparse.Namespace) -> int:
    """List containers: a table (default), ids only (-q), verbose, JSON or YAML."""
    containers = select_containers(list_containers(client, container_filter(args)), args)
    pod_names = {p.id: p.metadata.name for p in _pods(client)}
    return write_listing(
        args,
        message=api_pb2.ListContainersResponse(containers=containers),
        items=containers,
        verbose=_print_verbose,
        rows=lambda: _rows(containers, pod_names, args.no_trunc, time.time_ns()),
    )


def _pods(client: Client) -> list[api_pb2.PodSandbox]:
    request = api_pb2.ListPodSandboxRequest()
    response: api_pb2.ListPodSandboxResponse = client.runtime.ListPodSandbox(
        request, timeout=client.timeout_s
    )
    return list(response.items)


def state_name(state: int) -> str:
    """crictl `convertContainerState`: "Created", "Running", "Exited", "Unknown"."""
    name: str = api_pb2.ContainerState.Name(state)
    return name.removeprefix("CONTAINER_").capitalize()


def _rows(
    containers: list[api_pb2.Container], pod_names: dict[str, str], no_trunc: bool, now_ns: int
) -> list[list[str]]:
    rows = [["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD"]]
    for c in containers:
        image = (
            c.image.image
            if no_trunc or not c.image.image.startswith("sha256:")
            else (truncate_id(c.image.image))
        )
        rows.append(
            [
                c.id if no_trunc else truncate_id(c.id, ""),
                image,
                human_duration((now_ns - c.created_at) / 1e9) + " ago",
                state_name(c.state),
                c.metadata.name,
                str(c.metadata.attempt),
                c.pod_sandbox_id if no_trunc else truncate_id(c.pod_sandbox_id, ""),
                pod_names.get(c.pod_sandbox_id, "unknown"),
            ]
        )
    return rows


def _print_verbose(c: api_pb2.Container) -> None:
    print(f"ID: {c.id}")
    print(f"PodID: {c.pod_sandbox_id}")
    if c.HasField("metadata"):
        print(f"Name: {c.metadata.name}")
        print(f"Attempt: {c.metadata.attempt}")
    print(f"State: {api_pb2.ContainerState.Name(c.state)}")
    print(f"Image: {c.image.image}")
    print(f"Created: {go_time(c.created_at)}")
    print_map("Labels", dict(c.labels))
    print_map("Annotations", dict(c.annotations))
    print()


def status_json(status: api_pb2.ContainerStatus) -> Json:
    """crictl `marshalContainerStatus`: protojson, the three times as RFC 3339."""
    data = message_to_json(status)
    data["createdAt"] = rfc3339_nano(status.created_at)
    data["startedAt"] = rfc3339_nano(status.started_at)
    data["finishedAt"] = rfc3339_nano(status.finished_at)
    return data


def run_inspect(client: Client, args: argparse.Namespace) -> int:
    """The status of each container with its verbose info, as JSON (default), YAML or a table."""
    verbose = not args.quiet
    statuses = []
    for container_id in args.containers:
        response = container_status(client, container_id, verbose=verbose)
        if args.output == "table":
            _print_status_table(response.status)
        else:
            statuses.append((status_json(response.status), dict(response.info)))
    if statuses:
        write_data(status_data(statuses), args.output, sort_keys=True)
    return 0


def _print_status_table(status: api_pb2.ContainerStatus) -> None:
    print(f"ID: {status.id}")
    if status.HasField("metadata"):
        print(f"Name: {status.metadata.name}")
        print(f"Attempt: {status.metadata.attempt}")
    print(f"State: {api_pb2.ContainerState.Name(status.state)}")
    print(f"Created: {human_duration((time.time_ns() - status.created_at) / 1e9)} ago")
    if status.started_at:
        print(f"Started: {human_duration((time.time_ns() - status.started_at) / 1e9)} ago")
    if status.finished_at:
        print(f"Finished: {human_duration((time.time_ns() - status.finished_at) / 1e9)} ago")
        print(f"Exit Code: {status.exit_code}")
    print_map("Labels", dict(status.labels))
    print_map("Annotations", dict(status.annotations))


# exec -s / info


def run_exec(client: Client, args: argparse.Namespace) -> int:
    """Exec over the streaming server (with -i and -t as asked), or ExecSync with `-s`:
    relay the command's output and exit with its code."""
    if not args.exec_command:
        raise CtlError("exec: give a command to run")
    if not args.sync:
        streamed = api_pb2.ExecRequest(cmd=args.exec_command, **_stream_flags(args))
        url = client.runtime.Exec(streamed, timeout=client.timeout_s).url
        return asyncio.run(stream.run_command(url, stdin=args.interactive, tty=args.tty))
    request = api_pb2.ExecSyncRequest(
        container_id=args.container, cmd=args.exec_command, timeout=args.exec_timeout
    )
    wait_s = args.exec_timeout + client.timeout_s if args.exec_timeout else None
    response: api_pb2.ExecSyncResponse = client.runtime.ExecSync(request, timeout=wait_s)
    sys.stdout.buffer.write(response.stdout)
    sys.stdout.flush()
    sys.stderr.buffer.write(response.stderr)
    sys.stderr.flush()
    return response.exit_code if 0 <= response.exit_code < 256 else 1


class _StreamFlags(TypedDict):
    container_id: str
    stdin: bool
    tty: bool
    stdout: bool
    stderr: bool


def _stream_flags(args: argparse.Namespace) -> _StreamFlags:
    """The fields Exec and Attach share, from -i and -t (stderr rides on a terminal)."""
    return {
        "container_id": args.container,
        "stdin": args.interactive,
        "tty": args.tty,
        "stdout": True,
        "stderr": not args.tty,
    }


def run_attach(client: Client, args: argparse.Namespace) -> int:
    """Attach to the container's own stdio until it exits (or stdin ends)."""
    request = api_pb2.AttachRequest(**_stream_flags(args))
    url = client.runtime.Attach(request, timeout=client.timeout_s).url
    return asyncio.run(stream.run_command(url, stdin=args.interactive, tty=args.tty))


def run_port_forward(client: Client, args: argparse.Namespace) -> int:
    """Listen on local ports; each connection gets a URL of its own and is relayed."""
    pairs = [_port_pair(text) for text in args.ports]
    return asyncio.run(_forward(client, args.pod, args.address, pairs))


def _port_pair(text: str) -> tuple[int, int]:
    local, _, remote = text.rpartition(":")
    try:
        pair = (int(local or remote), int(remote))
    except ValueError:
        raise CtlError(f"bad port {text!r}: want [LOCAL_PORT:]REMOTE_PORT") from None
    if not all(0 <= p < 65536 for p in pair) or pair[1] == 0:
        raise CtlError(f"bad port {text!r}")
    return pair


async def _forward(client: Client, pod: str, address: str, pairs: list[tuple[int, int]]) -> int:
    servers = []
    for local, remote in pairs:

        async def serve(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, remote: int = remote
        ) -> None:
            request = api_pb2.PortForwardRequest(pod_sandbox_id=pod, port=[remote])
            url = (
                await asyncio.to_thread(
                    client.runtime.PortForward, request, timeout=client.timeout_s
                )
            ).url
            await stream.forward_connection(url, remote, reader, writer)

        server = await asyncio.start_server(serve, address, local)
        port = server.sockets[0].getsockname()[1]
        print(f"Forwarding from {address}:{port} -> {remote}", flush=True)
        servers.append(server)
    await asyncio.gather(*(server.serve_forever() for server in servers))
    return 0


def run_info(client: Client, args: argparse.Namespace) -> int:
    """Status with its verbose info: crictl `info`."""
    request = api_pb2.StatusRequest(verbose=not args.quiet)
    response: api_pb2.StatusResponse = client.runtime.Status(request, timeout=client.timeout_s)
    data = status_data([(message_to_json(response.status), dict(response.info))])
    write_data(data, args.output, sort_keys=True)
    return 0


# stats


def run_stats(client: Client, args: argparse.Namespace) -> int:
    """crictl `stats`: CPU % over `--seconds`, memory working set, writable layer, inodes."""
    wanted = api_pb2.ContainerStatsFilter(
        id=args.id, pod_sandbox_id=args.pod, label_selector=parse_labels(args.label)
    )
    first = _container_stats(client, wanted)
    if args.output in ("json", "yaml"):
        write_data(message_to_json(api_pb2.ListContainerStatsResponse(stats=first)), args.output)
        return 0
    time.sleep(args.seconds)
    second = {s.attributes.id: s for s in _container_stats(client, wanted)}
    rows = [["CONTAINER", "NAME", "CPU %", "MEM", "DISK", "INODES"]]
    for before in first:
        after = second.get(before.attributes.id)
        if after is None:
            continue
        rows.append(
            [
                truncate_id(after.attributes.id, ""),
                after.attributes.metadata.name,
                f"{_cpu_percent(before, after):.2f}",
                human_size(after.memory.working_set_bytes.value),
                human_size(after.writable_layer.used_bytes.value),
                str(after.writable_layer.inodes_used.value),
            ]
        )
    sys.stdout.write(table(rows))
    return 0


def _container_stats(
    client: Client, wanted: api_pb2.ContainerStatsFilter
) -> list[api_pb2.ContainerStats]:
    request = api_pb2.ListContainerStatsRequest(filter=wanted)
    response: api_pb2.ListContainerStatsResponse = client.runtime.ListContainerStats(
        request, timeout=client.timeout_s
    )
    return list(response.stats)


def _cpu_percent(before: api_pb2.ContainerStats, after: api_pb2.ContainerStats) -> float:
    elapsed = after.cpu.timestamp - before.cpu.timestamp
    used = after.cpu.usage_core_nano_seconds.value - before.cpu.usage_core_nano_seconds.value
    return 100.0 * used / elapsed if elapsed > 0 else 0.0
