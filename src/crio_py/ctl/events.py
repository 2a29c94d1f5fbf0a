"""`crio-py ctl events`: stream GetContainerEvents and print each event as crictl does (one
JSON document per event by default, or YAML), until the runtime ends the stream."""

from __future__ import annotations

import argparse
import sys

from cri_api.v1 import api_pb2

from crio_py.ctl.client import Client
from crio_py.ctl.output import message_to_json, write_data


def run_events(client: Client, args: argparse.Namespace) -> int:
    """Print events as they come; a stream the runtime closes is a failure (crictl's too)."""
    for event in client.runtime.GetContainerEvents(api_pb2.GetEventsRequest()):
        write_data(message_to_json(event), args.output)
        sys.stdout.flush()
    return 0
