"""`crio-py ctl images | inspecti | imagefsinfo`: the read-only image verbs, as crictl prints them
(cri-tools `cmd/crictl/image.go`)."""

from __future__ import annotations

import argparse

from cri_api.v1 import api_pb2

from crio_py.ctl.client import Client
from crio_py.ctl.endpoints import CtlError
from crio_py.ctl.output import (
    human_size,
    message_to_json,
    status_data,
    truncate_id,
    write_data,
    write_listing,
)

NONE = "<none>"


def _sort_key(image: api_pb2.Image) -> tuple[int, str]:
    """crictl `imageByRef`: by first repo tag, else first repo digest, else id."""
    if image.repo_tags:
        return (0, image.repo_tags[0])
    if image.repo_digests:
        return (1, image.repo_digests[0])
    return (2, image.id)


def repo_digest_pair(repo_digests: list[str]) -> tuple[str, str]:
    """crictl `normalizeRepoDigest`: (name, digest) of the first repo digest."""
    if not repo_digests:
        return NONE, NONE
    parts = repo_digests[0].split("@")
    return (parts[0], parts[1]) if len(parts) == 2 else ("errorName", "errorRepoDigest")


def repo_tag_pairs(repo_tags: list[str], image_name: str) -> list[tuple[str, str]]:
    """crictl `normalizeRepoTagPair`: (repository, tag) per tag; `<none>` for an untagged image."""
    if not repo_tags:
        return [(image_name, NONE)]
    pairs = []
    for repo_tag in repo_tags:
        name, colon, tag = repo_tag.rpartition(":")
        if not colon:
            pairs.append(("errorRepoTag", "errorRepoTag"))
            continue
        pairs.append((image_name if name == NONE else name, tag))
    return pairs


def run_images(client: Client, args: argparse.Namespace) -> int:
    """List images: a table (default), ids only (-q), verbose, JSON or YAML."""
    images = sorted(client.list_images(args.image or ""), key=_sort_key)
    return write_listing(
        args,
        message=api_pb2.ListImagesResponse(images=images),
        items=images,
        verbose=_print_verbose,
        rows=lambda: _image_rows(images, args),
    )


def _image_rows(images: list[api_pb2.Image], args: argparse.Namespace) -> list[list[str]]:
    header = ["IMAGE", "TAG", *(["DIGEST"] if args.digests else []), "IMAGE ID", "SIZE"]
    rows = [header + (["PINNED"] if args.pinned else [])]
    for image in images:
        name, digest = repo_digest_pair(list(image.repo_digests))
        image_id = image.id
        if not args.no_trunc:
            image_id, digest = truncate_id(image_id), truncate_id(digest)
        size = human_size(image.size)
        for repo, tag in repo_tag_pairs(list(image.repo_tags), name):
            row = [repo, tag, *([digest] if args.digests else []), image_id, size]
            rows.append(row + ([str(image.pinned).lower()] if args.pinned else []))
    return rows


def _print_verbose(image: api_pb2.Image) -> None:
    print(f"ID: {image.id}")
    for tag in image.repo_tags:
        print(f"RepoTags: {tag}")
    for digest in image.repo_digests:
        print(f"RepoDigests: {digest}")
    if image.size:
        print(f"Size: {image.size}")
    if image.HasField("uid"):
        print(f"Uid: value:{image.uid.value}")
    if image.username:
        print(f"Username: {image.username}")
    if image.pinned:
        print("Pinned: true")
    print()


def run_inspecti(client: Client, args: argparse.Namespace) -> int:
    """The status of each image with its verbose info, as JSON (default), YAML or a table."""
    statuses = []
    for name in args.images:
        response = client.image_status(name, verbose=not args.quiet)
        if not response.HasField("image"):
            raise CtlError(f"no such image {name!r} present")
        if args.output == "table":
            _print_status_table(response, verbose=not args.quiet)
        else:
            statuses.append((message_to_json(response.image), dict(response.info)))
    if statuses:
        data = status_data(statuses)
        write_data(data, args.output, sort_keys=True)
    return 0


def _print_status_table(response: api_pb2.ImageStatusResponse, *, verbose: bool) -> None:
    print(f"ID: {response.image.id}")
    for tag in response.image.repo_tags:
        print(f"Tag: {tag}")
    for digest in response.image.repo_digests:
        print(f"Digest: {digest}")
    print(f"Size: {human_size(response.image.size)}")
    if verbose:
        info = " ".join(f"{k}:{v}" for k, v in sorted(response.info.items()))
        print(f"Info: map[{info}]")


def run_imagefsinfo(client: Client, args: argparse.Namespace) -> int:
    """The image filesystem usage, as JSON (default), YAML or a table."""
    response = client.image_fs_info()
    if args.output == "table":
        _print_filesystems("Container", list(response.container_filesystems))
        _print_filesystems("Image", list(response.image_filesystems))
        return 0
    data = status_data([(message_to_json(response), {})])
    write_data(data, args.output, sort_keys=True)
    return 0


def _print_filesystems(label: str, filesystems: list[api_pb2.FilesystemUsage]) -> None:
    print(f"{label} Filesystem ")
    for i, usage in enumerate(filesystems):
        print(f"TimeStamp[{i}]: {usage.timestamp}")
        print(f"Disk[{i}]: {human_size(usage.used_bytes.value, precision=4)}")
        print(f"Inodes[{i}]: {usage.inodes_used.value}")
        print(f"Mountpoint[{i}]: {usage.fs_id.mountpoint}")
