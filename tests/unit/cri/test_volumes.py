"""What CreateContainer refuses of image volumes and recursive read-only mounts before it makes
anything (cri/container/volumes.py); the mounts themselves are made in the e2e tests."""

from __future__ import annotations

import pytest
from cri_api.v1 import api_pb2 as pb

from crio_py.cri.container import volumes
from crio_py.errors import InvalidArgumentError

IMAGE = pb.ImageSpec(image="busybox")


def test_good_mounts_pass() -> None:
    volumes.check(
        [
            pb.Mount(container_path="/r", host_path="/r", readonly=True, recursive_read_only=True),
            pb.Mount(container_path="/i", readonly=True, image=IMAGE, image_sub_path="etc"),
            pb.Mount(container_path="/d", host_path="/d"),
        ],
        rro_supported=True,
    )


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        (pb.Mount(container_path="/i", image=IMAGE), "image volume /i must be read-only"),
        (
            pb.Mount(container_path="/r", host_path="/r", recursive_read_only=True),
            "must be read-only",
        ),
        (
            pb.Mount(
                container_path="/r",
                host_path="/r",
                readonly=True,
                recursive_read_only=True,
                propagation=pb.PROPAGATION_HOST_TO_CONTAINER,
            ),
            "needs private propagation",
        ),
        (
            pb.Mount(
                container_path="/r",
                host_path="/r",
                readonly=True,
                recursive_read_only=True,
                propagation=pb.PROPAGATION_BIDIRECTIONAL,
            ),
            "needs private propagation",
        ),
    ],
)
def test_bad_mounts_are_refused(mount: pb.Mount, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        volumes.check([mount], rro_supported=True)


def test_a_handler_without_recursive_read_only_refuses_it() -> None:
    rro = pb.Mount(container_path="/r", host_path="/r", readonly=True, recursive_read_only=True)
    with pytest.raises(InvalidArgumentError, match="cannot make recursive read-only"):
        volumes.check([rro], rro_supported=False)


def test_image_volumes_bind_no_host_path() -> None:
    image = pb.Mount(container_path="/i", readonly=True, image=IMAGE)
    data = pb.Mount(container_path="/d", host_path="/d")
    assert volumes.host_mounts([image, data]) == [data]
