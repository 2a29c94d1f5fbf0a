"""`crio-py ctl pull`: PullImage with crictl's credentials flags (cri-tools `image.go`)."""

from __future__ import annotations

import argparse
import getpass

from cri_api.v1 import api_pb2

from crio_py.ctl.client import Client
from crio_py.ctl.endpoints import CtlError


def parse_creds(creds: str) -> tuple[str, str]:
    """crictl `parseCreds`: `USER[:PASSWORD]`."""
    if not creds:
        raise CtlError("credentials can't be empty")
    username, colon, password = creds.partition(":")
    if colon and not username:
        raise CtlError("username can't be empty")
    return username, password


def auth_config(
    creds: str | None, auth: str | None, username: str | None
) -> api_pb2.AuthConfig | None:
    """crictl `getAuth`: --username prompts for a password; --creds excludes --auth."""
    if username:
        password = getpass.getpass("Enter Password:")
        return api_pb2.AuthConfig(username=username, password=password)
    if creds and auth:
        raise CtlError("both `--creds` and `--auth` are specified")
    if creds:
        user, password = parse_creds(creds)
        return api_pb2.AuthConfig(username=user, password=password)
    if auth:
        return api_pb2.AuthConfig(auth=auth)
    return None


def run_pull(client: Client, args: argparse.Namespace) -> int:
    """Pull one image and print its image ref."""
    if not args.image:
        raise CtlError("Image name cannot be empty")
    auth = auth_config(args.creds, args.auth, args.username)
    timeout_s = args.pull_timeout if args.pull_timeout is not None else args.timeout
    if timeout_s is not None and timeout_s <= 0:
        timeout_s = None  # crictl: "disabled if set to 0s"
    response = client.pull_image(args.image, auth, timeout_s=timeout_s)
    print(f"Image is up to date for {response.image_ref}")
    return 0
