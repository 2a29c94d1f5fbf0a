"""`crio-py ctl runp | stopp | rmp | inspectp | pods`: the pod sandbox verbs, as crictl prints
them (cri-tools `cmd/crictl/sandbox.go`).

Pod ids go to the runtime as given: crio-py (like CRI-O) resolves a unique short id itself.
`runp` reads the PodSandboxConfig as JSON (proto or camelCase field names); YAML is not read,
except YAML that is also JSON.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import grpc  # type: ignore[import-untyped,unused-ignore]
from cri_api.v1 import api_pb2

from crio_py.ctl.client import Client, describe_rpc_error
from crio_py.ctl.endpoints import CtlError
from crio_py.ctl.output import (
    Json,
    load_message,
    message_to_json,
    status_data,
    truncate_id,
    write_data,
    write_listing,
)

_STATE_NAMES: dict[int, str] = {
    api_pb2.SANDBOX_READY: "Ready",
    api_pb2.SANDBOX_NOTREADY: "NotReady",
}
_STATE_FILTERS = {"ready": api_pb2.SANDBOX_READY, "notready": api_pb2.SANDBOX_NOTREADY}
_DEFAULT_HANDLER = "(default)"


def _error(message: str) -> None:
    print(f"crio-py: {message}", file=sys.stderr)


# formatting


def human_duration(seconds: float) -> str:
    """go-units `HumanDuration`: 5.2 → "5 seconds", 90 → "About a minute"."""
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def _local_time(nanoseconds: int) -> tuple[datetime, str]:
    """The local time of a Unix nanosecond timestamp, and its fraction as Go prints it."""
    seconds, fraction = divmod(nanoseconds, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).astimezone()
    digits = f"{fraction:09d}".rstrip("0")
    return moment, f".{digits}" if digits else ""


def go_time(nanoseconds: int) -> str:
    """Go `time.Unix(0, ns).String()`: "2023-11-14 22:13:20.5 +0000 UTC"."""
    moment, fraction = _local_time(nanoseconds)
    return f"{moment:%Y-%m-%d %H:%M:%S}{fraction} {moment:%z} {moment.tzname()}"


def rfc3339_nano(nanoseconds: int) -> str:
    """Go `time.Unix(0, ns).Format(time.RFC3339Nano)`: "2023-11-14T22:13:20.5Z"."""
    moment, fraction = _local_time(nanoseconds)
    zone = moment.isoformat()[-6:] if moment.utcoffset() else "Z"
    return f"{moment:%Y-%m-%dT%H:%M:%S}{fraction}{zone}"


def state_name(state: int) -> str:
    """crictl `convertPodState`: "Ready" or "NotReady"."""
    return _STATE_NAMES.get(state, str(state))


def runtime_handler(sandbox: api_pb2.PodSandbox) -> str:
    """The handler, or "(default)"."""
    return sandbox.runtime_handler or _DEFAULT_HANDLER


# runp


def load_pod_config(path: str) -> api_pb2.PodSandboxConfig:
    """A PodSandboxConfig from a JSON file."""
    return load_message(path, api_pb2.PodSandboxConfig(), "podSandboxConfig")


def run_runp(client: Client, args: argparse.Namespace) -> int:
    """RunPodSandbox with the config file; print the new sandbox's id."""
    config = load_pod_config(args.config)
    request = api_pb2.RunPodSandboxRequest(config=config, runtime_handler=args.runtime)
    timeout_s = args.cancel_timeout if args.cancel_timeout else client.timeout_s
    response: api_pb2.RunPodSandboxResponse = client.runtime.RunPodSandbox(
        request, timeout=timeout_s
    )
    print(response.pod_sandbox_id)
    return 0


# stopp / rmp


def _stop(client: Client, pod_id: str) -> None:
    request = api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod_id)
    client.runtime.StopPodSandbox(request, timeout=client.timeout_s)
    print(f"Stopped sandbox {pod_id}")


def run_stopp(client: Client, args: argparse.Namespace) -> int:
    """Stop each pod in turn; the first failure ends the verb."""
    for pod_id in args.pods:
        _stop(client, pod_id)
    return 0


def _status(client: Client, pod_id: str, *, verbose: bool) -> api_pb2.PodSandboxStatusResponse:
    request = api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pod_id, verbose=verbose)
    response: api_pb2.PodSandboxStatusResponse = client.runtime.PodSandboxStatus(
        request, timeout=client.timeout_s
    )
    return response


def removal_targets(
    args: argparse.Namespace, given: list[str], every: Callable[[], list[str]], noun: str
) -> list[str]:
    id_name = "POD-ID" if noun == "pods" else "container ID"
    """The ids a remove verb works on: those given, or all of them (`every`) with --all.
    Naming none is an error; --all finding none is not."""
    ids = every() if args.all else list(given)
    if not ids and not args.all:
        raise CtlError(f"{args.verb}: give at least one {id_name}, or --all")
    if not ids:
        print(f"No {noun} to remove", file=sys.stderr)
    return ids


def run_rmp(client: Client, args: argparse.Namespace) -> int:
    """Remove the pods (every pod with --all); a ready pod needs --force, which stops it first."""
    every = api_pb2.PodSandboxFilter()
    pod_ids = removal_targets(
        args, args.pods, lambda: [pod.id for pod in list_pods(client, every)], "pods"
    )
    if not pod_ids:
        return 0
    failed = False
    for pod_id in pod_ids:
        if not _remove_one(client, pod_id, force=args.force):
            failed = True
    if failed:
        raise CtlError("unable to remove the pod(s)")
    return 0


def _remove_one(client: Client, pod_id: str, *, force: bool) -> bool:
    try:
        status = _status(client, pod_id, verbose=False)
    except grpc.RpcError as exc:
        _error(f"getting sandbox status of pod {pod_id!r}: {describe_rpc_error(exc)}")
        return False
    try:
        if status.status.state == api_pb2.SANDBOX_READY:
            if not force:
                _error(f"pod sandbox {pod_id!r} is running, please stop it first")
                return False
            _stop(client, pod_id)
        request = api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id)
        client.runtime.RemovePodSandbox(request, timeout=client.timeout_s)
    except grpc.RpcError as exc:
        _error(f"removing the pod sandbox {pod_id!r}: {describe_rpc_error(exc)}")
        return False
    print(f"Removed sandbox {pod_id}")
    return True


# pods / inspectp


def parse_labels(pairs: list[str]) -> dict[str, str]:
    """--label KEY=VALUE options as a label selector."""
    labels = {}
    for label in pairs:
        pair = label.split("=")
        if len(pair) != 2:
            raise CtlError(f"incorrectly specified label: {label}")
        labels[pair[0]] = pair[1]
    return labels


def pod_filter(args: argparse.Namespace) -> api_pb2.PodSandboxFilter:
    """The ListPodSandbox filter of --id, --state and --label."""
    sandbox_filter = api_pb2.PodSandboxFilter(
        id=getattr(args, "id", "") or "", label_selector=parse_labels(args.label)
    )
    if args.state:
        sandbox_filter.state.state = _STATE_FILTERS[args.state]
    return sandbox_filter


def list_pods(client: Client, sandbox_filter: api_pb2.PodSandboxFilter) -> list[api_pb2.PodSandbox]:
    """ListPodSandbox."""
    request = api_pb2.ListPodSandboxRequest(filter=sandbox_filter)
    response: api_pb2.ListPodSandboxResponse = client.runtime.ListPodSandbox(
        request, timeout=client.timeout_s
    )
    return list(response.items)


def select_pods(
    pods: list[api_pb2.PodSandbox], args: argparse.Namespace
) -> list[api_pb2.PodSandbox]:
    """crictl `getSandboxesList`: name/namespace regexps, newest first, --latest, --last N."""
    try:
        name, namespace = re.compile(args.name), re.compile(args.namespace)
    except re.error as exc:
        raise CtlError(f"invalid regular expression: {exc}") from None
    selected = [
        pod
        for pod in pods
        if name.search(pod.metadata.name) and namespace.search(pod.metadata.namespace)
    ]
    selected.sort(key=lambda pod: pod.created_at, reverse=True)
    count = len(selected)
    if args.latest:
        count = 1
    if args.last > 0:
        count = args.last
    return selected[:count]


def run_pods(client: Client, args: argparse.Namespace) -> int:
    """List pods: a table (default), ids only (-q), verbose, JSON or YAML."""
    pods = select_pods(list_pods(client, pod_filter(args)), args)
    return write_listing(
        args,
        message=api_pb2.ListPodSandboxResponse(items=pods),
        items=pods,
        verbose=_print_verbose,
        rows=lambda: _pod_rows(pods, no_trunc=args.no_trunc, now_ns=time.time_ns()),
    )


def _pod_rows(pods: list[api_pb2.PodSandbox], *, no_trunc: bool, now_ns: int) -> list[list[str]]:
    rows = [["POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME"]]
    for pod in pods:
        created = human_duration((now_ns - pod.created_at) / 1e9) + " ago"
        rows.append(
            [
                pod.id if no_trunc else truncate_id(pod.id, ""),
                created,
                state_name(pod.state),
                pod.metadata.name,
                pod.metadata.namespace,
                str(pod.metadata.attempt),
                runtime_handler(pod),
            ]
        )
    return rows


def _print_verbose(pod: api_pb2.PodSandbox) -> None:
    print(f"ID: {pod.id}")
    if pod.HasField("metadata"):
        _print_metadata(pod.metadata, always_attempt=False)
    print(f"Status: {state_name(pod.state)}")
    print(f"Created: {go_time(pod.created_at)}")
    print_map("Labels", dict(pod.labels))
    print_map("Annotations", dict(pod.annotations))
    print(f"Runtime: {runtime_handler(pod)}")
    print()


def _print_metadata(metadata: api_pb2.PodSandboxMetadata, *, always_attempt: bool) -> None:
    """crictl prints attempt 0 in `inspectp -o table` but not in `pods -v`."""
    for title, value in (
        ("Name", metadata.name),
        ("UID", metadata.uid),
        ("Namespace", metadata.namespace),
    ):
        if value:
            print(f"{title}: {value}")
    if metadata.attempt or always_attempt:
        print(f"Attempt: {metadata.attempt}")


def print_map(title: str, values: dict[str, str]) -> None:
    """A Go map that came over the wire is nil when empty, so crictl prints nothing then."""
    if values:
        print(f"{title}:")
        for key in sorted(values):
            print(f"\t{key} -> {values[key]}")


def status_json(status: api_pb2.PodSandboxStatus) -> Json:
    """crictl `marshalPodSandboxStatus`: protojson, with createdAt as an RFC 3339 time."""
    data = message_to_json(status)
    data["createdAt"] = rfc3339_nano(status.created_at)
    return data


def run_inspectp(client: Client, args: argparse.Namespace) -> int:
    """The status of each pod (those the filters select when none is named) with its verbose
    info, as JSON (default), YAML or a table."""
    pod_ids = list(args.pods)
    if not pod_ids:
        pod_ids = [pod.id for pod in select_pods(list_pods(client, pod_filter(args)), args)]
    if not pod_ids:
        raise CtlError("no IDs provided or nothing found per filter")
    verbose = not args.quiet
    statuses = []
    for pod_id in pod_ids:
        response = _status(client, pod_id, verbose=verbose)
        if args.output == "table":
            _print_status_table(response, verbose=verbose)
        else:
            statuses.append((status_json(response.status), dict(response.info)))
    if statuses:
        data = status_data(statuses)
        write_data(data, args.output, sort_keys=True)
    return 0


def _print_status_table(response: api_pb2.PodSandboxStatusResponse, *, verbose: bool) -> None:
    status = response.status
    print(f"ID: {status.id}")
    if status.HasField("metadata"):
        _print_metadata(status.metadata, always_attempt=True)
    print(f"Status: {api_pb2.PodSandboxState.Name(status.state)}")
    print(f"Created: {go_time(status.created_at)}")
    if status.HasField("network"):
        print(f"IP Addresses: {status.network.ip}")
        for additional in status.network.additional_ips:
            print(f"Additional IP: {additional.ip}")
    print_map("Labels", dict(status.labels))
    print_map("Annotations", dict(status.annotations))
    if verbose:
        info = " ".join(f"{k}:{v}" for k, v in sorted(response.info.items()))
        print(f"Info: map[{info}]")
