"""Run one `crio-py ctl` verb: connect, dispatch, and turn failures into one stderr line.

A gRPC failure prints `crio-py: <CODE>: <message>` and exits 1, never a traceback, as do the
verbs' own errors (`CtlError`); Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import grpc  # type: ignore[import-untyped,unused-ignore]

from crio_py.ctl.client import Client, describe_rpc_error
from crio_py.ctl.containers import (
    run_attach,
    run_create,
    run_exec,
    run_info,
    run_inspect,
    run_port_forward,
    run_ps,
    run_rm,
    run_start,
    run_stats,
    run_stop,
)
from crio_py.ctl.endpoints import DEFAULT_TIMEOUT_S, CtlError, resolve_endpoints
from crio_py.ctl.events import run_events
from crio_py.ctl.images import run_imagefsinfo, run_images, run_inspecti
from crio_py.ctl.logs import run_logs
from crio_py.ctl.pods import run_inspectp, run_pods, run_rmp, run_runp, run_stopp
from crio_py.ctl.pull import run_pull
from crio_py.ctl.rmi import run_rmi
from crio_py.ctl.version import run_version

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130

Verb = Callable[[Client, argparse.Namespace], int]
VERBS: dict[str, Verb] = {
    "version": run_version,
    "pull": run_pull,
    "images": run_images,
    "image": run_images,
    "img": run_images,
    "inspecti": run_inspecti,
    "rmi": run_rmi,
    "imagefsinfo": run_imagefsinfo,
    "runp": run_runp,
    "stopp": run_stopp,
    "rmp": run_rmp,
    "inspectp": run_inspectp,
    "pods": run_pods,
    "info": run_info,
    "create": run_create,
    "start": run_start,
    "stop": run_stop,
    "rm": run_rm,
    "ps": run_ps,
    "inspect": run_inspect,
    "logs": run_logs,
    "exec": run_exec,
    "attach": run_attach,
    "port-forward": run_port_forward,
    "stats": run_stats,
    "events": run_events,
}


def run(args: argparse.Namespace) -> int:
    """Run the verb `args.verb`; return the exit status."""
    try:
        runtime_endpoint, image_endpoint = resolve_endpoints(
            args.runtime_endpoint, args.image_endpoint
        )
        timeout_s = args.timeout if args.timeout is not None else DEFAULT_TIMEOUT_S
        with Client(runtime_endpoint, image_endpoint, timeout_s=timeout_s) as client:
            return VERBS[args.verb](client, args)
    except grpc.RpcError as exc:
        print(f"crio-py: {describe_rpc_error(exc)}", file=sys.stderr)
    except CtlError as exc:
        print(f"crio-py: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_FAILED
