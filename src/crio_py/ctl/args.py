"""The `crio-py ctl` argument parser: crictl's global flags, image and pod sandbox verbs (no grpc
here, so that building the `crio-py` parser stays cheap)."""

from __future__ import annotations

import argparse
import os

from crio_py.ctl.endpoints import DEFAULT_ENDPOINT, parse_duration

OUTPUTS = ("json", "yaml", "table")
POD_STATES = ("ready", "notready")


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_ctl_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ctl` and its verbs to the `crio-py` sub-commands."""
    ctl = commands.add_parser(
        "ctl",
        help="a CRI client with crictl's verbs and flags",
        description="Talk CRI to crio-py (or any CRI runtime) the way crictl does.",
    )
    ctl.add_argument(
        "-r",
        "--runtime-endpoint",
        metavar="ENDPOINT",
        help=f"CRI endpoint (default: $CONTAINER_RUNTIME_ENDPOINT, else {DEFAULT_ENDPOINT})",
    )
    ctl.add_argument(
        "-i",
        "--image-endpoint",
        metavar="ENDPOINT",
        help="image service endpoint (default: $IMAGE_SERVICE_ENDPOINT, else the runtime one)",
    )
    ctl.add_argument(
        "-t",
        "--timeout",
        type=_duration,
        metavar="DURATION",
        help="deadline of each call, e.g. 2s (default 2s; pulls have none unless given)",
    )
    verbs = ctl.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs.add_parser("version", help="display runtime version information")
    _add_pull(verbs)
    _add_images(verbs)
    inspecti = verbs.add_parser("inspecti", help="return the status of one or more images")
    inspecti.add_argument("images", nargs="+", metavar="IMAGE")
    inspecti.add_argument("-o", "--output", choices=OUTPUTS, default="json")
    inspecti.add_argument("-q", "--quiet", action="store_true", help="no verbose information")
    rmi = verbs.add_parser("rmi", help="remove one or more images")
    rmi.add_argument("images", nargs="*", metavar="IMAGE")
    rmi.add_argument("-a", "--all", action="store_true", help="remove all images")
    rmi.add_argument("-q", "--prune", action="store_true", help="remove all unused images")
    fsinfo = verbs.add_parser("imagefsinfo", help="return image filesystem info")
    fsinfo.add_argument("-o", "--output", choices=OUTPUTS, default="json")
    _add_pod_verbs(verbs)
    _add_container_verbs(verbs)


def _add_pull(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pull = verbs.add_parser("pull", help="pull an image from a registry")
    pull.add_argument("image", metavar="NAME[:TAG|@DIGEST]")
    pull.add_argument(
        "--creds",
        default=os.environ.get("CRICTL_CREDS"),
        metavar="USERNAME[:PASSWORD]",
        help="credentials for the registry ($CRICTL_CREDS)",
    )
    pull.add_argument(
        "--auth",
        default=os.environ.get("CRICTL_AUTH"),
        metavar="AUTH_STRING",
        help="base64 of USERNAME[:PASSWORD] ($CRICTL_AUTH)",
    )
    pull.add_argument("-u", "--username", help="registry user; the password is prompted for")
    pull.add_argument(
        "--pull-timeout",
        type=_duration,
        metavar="DURATION",
        help="deadline of the pull (default: none; 0s disables)",
    )


def _add_images(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    images = verbs.add_parser("images", aliases=["image", "img"], help="list images")
    images.add_argument("image", nargs="?", metavar="REPOSITORY[:TAG]")
    images.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    images.add_argument("-v", "--verbose", action="store_true", help="show verbose info")
    images.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    images.add_argument("--digests", action="store_true", help="show digests")
    images.add_argument("--no-trunc", action="store_true", help="do not truncate the IDs")
    images.add_argument("--pinned", action="store_true", help="show whether images are pinned")


def _pod_state(text: str) -> str:
    state = text.lower()
    if state not in POD_STATES:
        raise argparse.ArgumentTypeError("--state should be ready or notready")
    return state


def _add_pod_filters(parser: argparse.ArgumentParser) -> None:
    """crictl's pod filters, shared by `pods` and `inspectp`."""
    parser.add_argument("--name", default="", help="filter by pod name regular expression")
    parser.add_argument(
        "--namespace", default="", help="filter by pod namespace regular expression"
    )
    parser.add_argument(
        "-s", "--state", type=_pod_state, metavar="ready|notready", help="filter by pod state"
    )
    parser.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="filter by label"
    )
    parser.add_argument(
        "-l", "--latest", action="store_true", help="show the most recently created pod"
    )
    parser.add_argument(
        "-n",
        "--last",
        type=int,
        default=0,
        metavar="N",
        help="show the last N recently created pods (0: all)",
    )


def _add_cancel_timeout(parser: argparse.ArgumentParser, rpc: str) -> None:
    parser.add_argument(
        "-T",
        "--cancel-timeout",
        type=_duration,
        metavar="DURATION",
        help=f"deadline of the {rpc} call (default: the --timeout one)",
    )


def _add_pod_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runp = verbs.add_parser("runp", help="run a new pod")
    runp.add_argument("config", metavar="POD_CONFIG.json")
    runp.add_argument("-r", "--runtime", default="", metavar="HANDLER", help="runtime handler")
    _add_cancel_timeout(runp, "RunPodSandbox")
    stopp = verbs.add_parser("stopp", help="stop one or more running pods")
    stopp.add_argument("pods", nargs="+", metavar="POD-ID")
    rmp = verbs.add_parser("rmp", help="remove one or more pods")
    rmp.add_argument("pods", nargs="*", metavar="POD-ID")
    rmp.add_argument("-f", "--force", action="store_true", help="stop a ready pod first")
    rmp.add_argument("-a", "--all", action="store_true", help="remove all pods")
    inspectp = verbs.add_parser("inspectp", help="display the status of one or more pods")
    inspectp.add_argument("pods", nargs="*", metavar="POD-ID")
    inspectp.add_argument("-o", "--output", choices=OUTPUTS, default="json")
    inspectp.add_argument("-q", "--quiet", action="store_true", help="no verbose information")
    _add_pod_filters(inspectp)
    pods = verbs.add_parser("pods", help="list pods")
    pods.add_argument("--id", default="", help="filter by pod id (a prefix is enough)")
    pods.add_argument("-q", "--quiet", action="store_true", help="only show pod IDs")
    pods.add_argument("-v", "--verbose", action="store_true", help="show verbose info")
    pods.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    pods.add_argument("--no-trunc", action="store_true", help="do not truncate the IDs")
    _add_pod_filters(pods)


CONTAINER_STATES = ("created", "running", "exited", "unknown")


def _container_state(text: str) -> str:
    state = text.lower()
    if state not in CONTAINER_STATES:
        raise argparse.ArgumentTypeError("--state should be created, running, exited or unknown")
    return state


def _add_container_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    info = verbs.add_parser("info", help="display information of the container runtime")
    info.add_argument("-o", "--output", choices=("json", "yaml"), default="json")
    info.add_argument("-q", "--quiet", action="store_true", help="no verbose information")
    create = verbs.add_parser("create", help="create a new container in a pod")
    create.add_argument("pod", metavar="POD")
    create.add_argument("container_config", metavar="CONTAINER_CONFIG.json")
    create.add_argument("pod_config", metavar="POD_CONFIG.json")
    create.add_argument("--with-pull", action="store_true", help="pull the image first")
    create.add_argument("--no-pull", action="store_true", help="never pull the image")
    _add_cancel_timeout(create, "CreateContainer")
    start = verbs.add_parser("start", help="start one or more created containers")
    start.add_argument("containers", nargs="+", metavar="CONTAINER-ID")
    stop = verbs.add_parser("stop", help="stop one or more running containers")
    stop.add_argument("containers", nargs="+", metavar="CONTAINER-ID")
    stop.add_argument(
        "-t",
        "--timeout",
        dest="stop_timeout",
        type=int,
        default=0,
        metavar="SECONDS",
        help="seconds to wait before killing the container (default 0)",
    )
    rm = verbs.add_parser("rm", help="remove one or more containers")
    rm.add_argument("containers", nargs="*", metavar="CONTAINER-ID")
    rm.add_argument("-f", "--force", action="store_true", help="stop a running container first")
    rm.add_argument("-a", "--all", action="store_true", help="remove all containers")
    _add_ps(verbs)
    inspect = verbs.add_parser("inspect", help="display the status of one or more containers")
    inspect.add_argument("containers", nargs="+", metavar="CONTAINER-ID")
    inspect.add_argument("-o", "--output", choices=OUTPUTS, default="json")
    inspect.add_argument("-q", "--quiet", action="store_true", help="no verbose information")
    _add_logs(verbs)
    _add_exec(verbs)
    attach = verbs.add_parser("attach", help="attach to a running container")
    attach.add_argument("container", metavar="CONTAINER-ID")
    attach.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
    attach.add_argument("-t", "--tty", action="store_true", help="the container has a terminal")
    stats = verbs.add_parser("stats", help="resource usage of containers")
    stats.add_argument("--id", default="", help="filter by container id (a prefix is enough)")
    stats.add_argument("-p", "--pod", default="", help="filter by pod id")
    stats.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="filter by label"
    )
    stats.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    stats.add_argument(
        "-s", "--seconds", type=float, default=1.0, help="sample CPU over this many seconds"
    )
    events = verbs.add_parser("events", help="stream the events of containers")
    events.add_argument("-o", "--output", choices=("json", "yaml"), default="json")
    forward = verbs.add_parser("port-forward", help="forward local ports to a pod")
    forward.add_argument("pod", metavar="POD-ID")
    forward.add_argument("ports", nargs="+", metavar="[LOCAL_PORT:]REMOTE_PORT")
    forward.add_argument("--address", default="127.0.0.1", help="the local address to listen on")


def _add_ps(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ps = verbs.add_parser("ps", help="list containers")
    ps.add_argument("-a", "--all", action="store_true", help="show all containers")
    ps.add_argument("--id", default="", help="filter by container id (a prefix is enough)")
    ps.add_argument("-p", "--pod", default="", help="filter by pod id")
    ps.add_argument("--name", default="", help="filter by container name regular expression")
    ps.add_argument("--image", default="", help="filter by container image")
    ps.add_argument("-s", "--state", type=_container_state, metavar="STATE", help="filter by state")
    ps.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="filter by label"
    )
    ps.add_argument("-q", "--quiet", action="store_true", help="only show container IDs")
    ps.add_argument("-v", "--verbose", action="store_true", help="show verbose info")
    ps.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    ps.add_argument("--no-trunc", action="store_true", help="do not truncate the IDs")
    ps.add_argument("-l", "--latest", action="store_true", help="show the newest container")
    ps.add_argument("-n", "--last", type=int, default=0, metavar="N", help="the N newest")


def _add_logs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = verbs.add_parser("logs", help="fetch the logs of a container")
    logs.add_argument("container", metavar="CONTAINER-ID")
    logs.add_argument("-f", "--follow", action="store_true", help="follow the log")
    logs.add_argument("--tail", type=int, default=-1, metavar="N", help="the last N lines")
    logs.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    logs.add_argument(
        "--since", type=_duration, metavar="DURATION", help="only lines newer than, e.g. 5s"
    )
    logs.add_argument("--limit-bytes", type=int, default=-1, metavar="N", help="stop after N bytes")


def _add_exec(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    exec_ = verbs.add_parser("exec", help="run a command in a running container")
    exec_.add_argument("-s", "--sync", action="store_true", help="run the command synchronously")
    exec_.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
    exec_.add_argument("-t", "--tty", action="store_true", help="allocate a terminal")
    exec_.add_argument(
        "--timeout",
        dest="exec_timeout",
        type=int,
        default=0,
        metavar="SECONDS",
        help="seconds the command may run (-s only; 0: no limit)",
    )
    exec_.add_argument("container", metavar="CONTAINER-ID")
    exec_.add_argument("exec_command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")
