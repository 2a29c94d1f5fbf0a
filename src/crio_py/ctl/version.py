"""`crio-py ctl version`: crictl's four lines."""

from __future__ import annotations

import argparse

from crio_py.ctl.client import Client


def run_version(client: Client, args: argparse.Namespace) -> int:
    """Print the runtime's Version answer as crictl does (Go `Println("Version: ", v)`)."""
    response = client.version()
    print("Version: ", response.version)
    print("RuntimeName: ", response.runtime_name)
    print("RuntimeVersion: ", response.runtime_version)
    print("RuntimeApiVersion: ", response.runtime_api_version)
    return 0
