"""`crio-py ctl rmi`: remove images by name or id, `--all`, or `--prune` the unused ones
(cri-tools `image.go` `removeImageCommand`)."""

from __future__ import annotations

import argparse
import sys

import grpc  # type: ignore[import-untyped,unused-ignore]

from crio_py.ctl.client import Client, describe_rpc_error
from crio_py.ctl.endpoints import CtlError


def _error(message: str) -> None:
    print(f"crio-py: {message}", file=sys.stderr)


def images_to_remove(client: Client, args: argparse.Namespace) -> dict[str, bool]:
    """Image → whether to remove it: the arguments, every image (--all), or those unused (--prune).

    Pinned images are kept on prune, and so is every image a container uses. ListContainers
    answers UNIMPLEMENTED while crio-py has no runtime service, which counts as no containers.
    """
    selected = dict.fromkeys(args.images, True)
    if args.all or args.prune:
        for image in client.list_images():
            if not (args.prune and image.pinned):
                selected[image.id] = True
    if args.prune:
        for container in client.list_containers():
            try:
                status = client.image_status(container.image.image)
            except grpc.RpcError as exc:
                _error(
                    f"image status request for {container.image.image!r} failed: "
                    f"{describe_rpc_error(exc)}"
                )
                continue
            selected[status.image.id] = False
    return selected


def run_rmi(client: Client, args: argparse.Namespace) -> int:
    """Remove the selected images; print `Deleted: <tag>` for each; exit 1 if one failed."""
    selected = images_to_remove(client, args)
    if not selected:
        if args.all or args.prune:
            print("No images to remove", file=sys.stderr)
            return 0
        raise CtlError("rmi: give at least one IMAGE, or --all or --prune")
    failed = False
    for image, remove in selected.items():
        if remove and not _remove_one(client, image, prune=args.prune):
            failed = True
    if failed:
        raise CtlError("unable to remove the image(s)")
    return 0


def _remove_one(client: Client, image: str, *, prune: bool) -> bool:
    try:
        status = client.image_status(image)
    except grpc.RpcError as exc:
        _error(f"image status request for {image!r} failed: {describe_rpc_error(exc)}")
        return False
    if not status.HasField("image"):
        _error(f"no such image {image}")
        return False
    try:
        client.remove_image(image)
    except grpc.RpcError as exc:
        if prune:  # crictl: another client may have removed it first
            return True
        _error(f"error of removing image {image!r}: {describe_rpc_error(exc)}")
        return False
    for name in status.image.repo_tags or status.image.repo_digests:
        print(f"Deleted: {name}")
    return True
