"""`crio-py ctl`: every verb's output and exit code against a real grpc server with the fake
image service (the client is synchronous, so it runs in a thread beside the server's loop)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from cri_api.v1 import api_pb2

from crio_py import cli
from crio_py.ctl import client as client_module
from crio_py.errors import NotFoundError, UnavailableError
from tests.unit.cri.fakes import (
    BUSYBOX_ID,
    PAUSE_ID,
    UNTAGGED_ID,
    FakeServer,
    image,
    serve_fake,
    short_tmp_dir,
)


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with serve_fake() as running:
        yield running


class Ctl:
    """Runs `crio-py ctl -r <server> ARGS…` and captures what it printed."""

    def __init__(self, server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
        self.server = server
        self.capsys = capsys

    async def __call__(self, *args: str, endpoint: bool = True) -> Result:
        prefix = ["ctl", "-r", self.server.endpoint] if endpoint else ["ctl"]
        code = await asyncio.to_thread(cli.main, [*prefix, *args])
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err
        return Result(code, out, err)


@pytest.fixture
def ctl(server: FakeServer, capsys: pytest.CaptureFixture[str]) -> Ctl:
    return Ctl(server, capsys)


def row(*cells: str, widths: tuple[int, ...]) -> str:
    return "".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)) + cells[-1] + "\n"


# version


async def test_version(ctl: Ctl) -> None:
    result = await ctl("version")
    assert result.code == 0
    assert result.out == (
        "Version:  0.1.0\nRuntimeName:  crio-py\nRuntimeVersion:  0.1.0\nRuntimeApiVersion:  v1\n"
    )


async def test_the_endpoint_comes_from_the_environment(
    ctl: Ctl, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTAINER_RUNTIME_ENDPOINT", server.endpoint)
    result = await ctl("version", endpoint=False)
    assert result.code == 0
    assert "RuntimeName:  crio-py" in result.out


async def test_a_missing_socket_is_unavailable(capsys: pytest.CaptureFixture[str]) -> None:
    with short_tmp_dir() as tmp:
        code = await asyncio.to_thread(
            cli.main, ["ctl", "-r", f"unix://{tmp}/none.sock", "-t", "1s", "version"]
        )
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.startswith("crio-py: UNAVAILABLE: ")
    assert err.count("\n") == 1


async def test_an_unsupported_endpoint(ctl: Ctl) -> None:
    result = await ctl("-r", "tcp://127.0.0.1:1", "version", endpoint=False)
    assert result.code == 1
    assert "unsupported endpoint 'tcp://127.0.0.1:1'" in result.err


async def test_a_daemon_that_is_starting(capsys: pytest.CaptureFixture[str]) -> None:
    async with serve_fake(ready=False) as starting:
        result = await Ctl(starting, capsys)("images")
    assert (result.code, result.err) == (1, "crio-py: UNAVAILABLE: crio-py is starting\n")


def test_an_invalid_timeout_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["ctl", "-t", "soon", "version"])
    assert exited.value.code == 2
    assert "invalid duration 'soon'" in capsys.readouterr().err


# images

WIDTHS = (28, 20, 20)


async def test_images_table(ctl: Ctl) -> None:
    result = await ctl("images")
    assert result.code == 0
    assert result.out == (
        row("IMAGE", "TAG", "IMAGE ID", "SIZE", widths=WIDTHS)
        + row("docker.io/library/busybox", "latest", "b" * 13, "2.16MB", widths=WIDTHS)
        + row("docker.io/library/busybox", "1.36", "b" * 13, "2.16MB", widths=WIDTHS)
        + row("registry.k8s.io/pause", "3.10", "a" * 13, "320kB", widths=WIDTHS)
        + row("quay.io/app/web", "<none>", "c" * 13, "51.2MB", widths=WIDTHS)
    )


async def test_images_with_digests_untruncated(ctl: Ctl) -> None:
    result = await ctl("images", "--digests", "--no-trunc", "registry.k8s.io/pause:3.10")
    widths = (24, 20, 74, 74)
    assert result.out == (
        row("IMAGE", "TAG", "DIGEST", "IMAGE ID", "SIZE", widths=widths)
        + row(
            "registry.k8s.io/pause",
            "3.10",
            "sha256:" + "2" * 64,
            PAUSE_ID,
            "320kB",
            widths=widths,
        )
    )


async def test_images_quiet_and_filtered(ctl: Ctl) -> None:
    assert (await ctl("images", "-q")).out == f"{BUSYBOX_ID}\n{PAUSE_ID}\n{UNTAGGED_ID}\n"
    assert (await ctl("img", "-q", "busybox")).out == f"{BUSYBOX_ID}\n"
    empty = await ctl("images", "nothing:here")
    assert empty.out == "IMAGE               TAG                 IMAGE ID            SIZE\n"


async def test_images_json(ctl: Ctl) -> None:
    result = await ctl("images", "-o", "json", "busybox")
    data = json.loads(result.out)
    assert list(data["images"][0]) == [
        "id",
        "repoTags",
        "repoDigests",
        "size",
        "username",
        "pinned",
    ]
    assert data["images"][0]["size"] == "2155576"  # protojson: int64 as a string
    assert result.out.startswith('{\n  "images": [\n    {\n      "id": "sha256:bbbb')


async def test_images_yaml(ctl: Ctl) -> None:
    result = await ctl("images", "-o", "yaml", "registry.k8s.io/pause:3.10")
    assert result.out == (
        "images:\n"
        f"- id: {PAUSE_ID}\n"
        "  pinned: true\n"
        "  repoDigests:\n"
        f"  - registry.k8s.io/pause@sha256:{'2' * 64}\n"
        "  repoTags:\n"
        "  - registry.k8s.io/pause:3.10\n"
        '  size: "320368"\n'
        '  username: ""\n'
        "\n"
    )


async def test_images_verbose(ctl: Ctl) -> None:
    result = await ctl("images", "-v", "registry.k8s.io/pause:3.10")
    assert result.out == (
        f"ID: {PAUSE_ID}\n"
        "RepoTags: registry.k8s.io/pause:3.10\n"
        f"RepoDigests: registry.k8s.io/pause@sha256:{'2' * 64}\n"
        "Size: 320368\n"
        "Pinned: true\n"
        "\n"
    )


# inspecti


async def test_inspecti_prints_the_status_and_info_as_json(ctl: Ctl) -> None:
    result = await ctl("inspecti", "busybox")
    assert result.code == 0
    data = json.loads(result.out)
    assert list(data) == ["info", "status"]  # crictl re-marshals through Go maps: sorted
    assert data["info"] == {"chainID": "sha256:" + "d" * 64, "imageSpec": {}}
    assert data["status"]["id"] == BUSYBOX_ID
    assert data["status"]["repoTags"] == [
        "docker.io/library/busybox:latest",
        "docker.io/library/busybox:1.36",
    ]
    assert list(data["status"]) == sorted(data["status"])
    assert result.out.startswith('{\n  "info": {\n    "chainID": ')


async def test_inspecti_of_several_images_is_a_list(ctl: Ctl) -> None:
    result = await ctl("inspecti", "-q", "busybox", PAUSE_ID[7:19])
    data = json.loads(result.out)
    assert [d["status"]["id"] for d in data] == [BUSYBOX_ID, PAUSE_ID]
    assert all(list(d) == ["status"] for d in data)


async def test_inspecti_table(ctl: Ctl) -> None:
    result = await ctl("inspecti", "-o", "table", "-q", PAUSE_ID)
    assert result.out == (
        f"ID: {PAUSE_ID}\n"
        "Tag: registry.k8s.io/pause:3.10\n"
        f"Digest: registry.k8s.io/pause@sha256:{'2' * 64}\n"
        "Size: 320kB\n"
    )


async def test_inspecti_of_a_missing_image_exits_1(ctl: Ctl) -> None:
    result = await ctl("inspecti", "nothing:here")
    assert (result.code, result.out) == (1, "")
    assert result.err == "crio-py: no such image 'nothing:here' present\n"


# pull


async def test_pull_prints_the_image_ref(ctl: Ctl, server: FakeServer) -> None:
    server.images.pullable["alpine:3.20"] = image("sha256:" + "f" * 64, ["alpine:3.20"])
    result = await ctl("pull", "alpine:3.20")
    assert (result.code, result.out) == (0, f"Image is up to date for sha256:{'f' * 64}\n")
    _, request = server.images.calls[-1]
    assert isinstance(request, api_pb2.PullImageRequest)
    assert not request.HasField("auth")


async def test_pull_with_creds_and_auth(ctl: Ctl, server: FakeServer) -> None:
    server.images.pullable["private/app:1"] = image("sha256:" + "9" * 64, ["private/app:1"])
    assert (await ctl("pull", "--creds", "bob:s3:cret", "private/app:1")).code == 0
    request = server.images.calls[-1][1]
    assert isinstance(request, api_pb2.PullImageRequest)
    assert (request.auth.username, request.auth.password) == ("bob", "s3:cret")
    assert (await ctl("pull", "--auth", "Ym9iOnMzY3JldA==", "private/app:1")).code == 0
    request = server.images.calls[-1][1]
    assert isinstance(request, api_pb2.PullImageRequest)
    assert request.auth.auth == "Ym9iOnMzY3JldA=="


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--creds", "bob", "--auth", "eA=="], "both `--creds` and `--auth` are specified"),
        (["--creds", ":pw"], "username can't be empty"),
    ],
)
async def test_pull_refuses_bad_credentials(ctl: Ctl, flags: list[str], message: str) -> None:
    result = await ctl("pull", *flags, "busybox")
    assert (result.code, result.err) == (1, f"crio-py: {message}\n")


async def test_a_failed_pull_prints_the_code_and_message(ctl: Ctl, server: FakeServer) -> None:
    server.images.errors["pull_image"] = NotFoundError(
        "docker.io/library/nothing:latest: manifest unknown"
    )
    result = await ctl("pull", "nothing")
    assert result.code == 1
    assert result.err == "crio-py: NOT_FOUND: docker.io/library/nothing:latest: manifest unknown\n"


@pytest.mark.parametrize(
    ("flags", "deadline"),
    [([], None), (["-t", "5s"], 5.0), (["-t", "5s", "--pull-timeout", "1m"], 60.0)],
)
def test_pulls_have_no_deadline_unless_asked(
    flags: list[str],
    deadline: float | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: list[float | None] = []

    def pull_image(
        self: client_module.Client, image: str, auth: object, *, timeout_s: float | None
    ) -> api_pb2.PullImageResponse:
        seen.append(timeout_s)
        return api_pb2.PullImageResponse(image_ref="sha256:x")

    monkeypatch.setattr(client_module.Client, "pull_image", pull_image)
    timeout_flags = [f for f in flags if f != "--pull-timeout" and f != "1m"]
    pull_flags = flags[len(timeout_flags) :]
    argv = ["ctl", "-r", "unix:///nonexistent.sock", *timeout_flags, "pull", *pull_flags, "x"]
    assert cli.main(argv) == 0
    assert seen == [deadline]
    assert capsys.readouterr().out == "Image is up to date for sha256:x\n"


# rmi


async def test_rmi_by_name_prints_each_tag(ctl: Ctl, server: FakeServer) -> None:
    result = await ctl("rmi", "busybox")
    assert result.code == 0
    assert result.out == (
        "Deleted: docker.io/library/busybox:latest\nDeleted: docker.io/library/busybox:1.36\n"
    )
    assert BUSYBOX_ID not in server.images.images


async def test_rmi_of_a_digest_only_image_prints_its_digest(ctl: Ctl) -> None:
    result = await ctl("rmi", UNTAGGED_ID)
    assert result.out == f"Deleted: quay.io/app/web@sha256:{'3' * 64}\n"


async def test_rmi_of_a_missing_image_exits_1(ctl: Ctl, server: FakeServer) -> None:
    result = await ctl("rmi", "nothing:here", PAUSE_ID)
    assert result.code == 1
    assert result.out == "Deleted: registry.k8s.io/pause:3.10\n"
    assert result.err == (
        "crio-py: no such image nothing:here\ncrio-py: unable to remove the image(s)\n"
    )


async def test_rmi_reports_a_failed_removal(ctl: Ctl, server: FakeServer) -> None:
    server.images.errors["remove_image"] = UnavailableError("the image is being pulled")
    result = await ctl("rmi", "registry.k8s.io/pause:3.10")
    assert result.code == 1
    assert result.err == (
        "crio-py: error of removing image 'registry.k8s.io/pause:3.10': "
        "UNAVAILABLE: the image is being pulled\n"
        "crio-py: unable to remove the image(s)\n"
    )


async def test_rmi_all(ctl: Ctl, server: FakeServer) -> None:
    result = await ctl("rmi", "--all")
    assert result.code == 0
    assert result.out.count("Deleted: ") == 4
    assert server.images.images == {}
    again = await ctl("rmi", "-a")
    assert (again.code, again.out, again.err) == (0, "", "No images to remove\n")


async def test_rmi_prune_keeps_pinned_images(ctl: Ctl, server: FakeServer) -> None:
    # ListContainers is UNIMPLEMENTED for now, which counts as "no containers".
    result = await ctl("rmi", "--prune")
    assert result.code == 0
    assert set(server.images.images) == {PAUSE_ID}
    assert "registry.k8s.io/pause" not in result.out


async def test_rmi_without_images_or_flags_exits_1(ctl: Ctl) -> None:
    result = await ctl("rmi")
    assert (result.code, result.err) == (
        1,
        "crio-py: rmi: give at least one IMAGE, or --all or --prune\n",
    )


# imagefsinfo


async def test_imagefsinfo_json(ctl: Ctl) -> None:
    result = await ctl("imagefsinfo")
    assert result.code == 0
    assert json.loads(result.out) == {
        "status": {
            "containerFilesystems": [],
            "imageFilesystems": [
                {
                    "fsId": {"mountpoint": "/var/lib/crio-py/snapshots"},
                    "inodesUsed": {"value": "1234"},
                    "timestamp": "1700000000000000000",
                    "usedBytes": {"value": "53709944"},
                }
            ],
        }
    }


async def test_imagefsinfo_table(ctl: Ctl) -> None:
    result = await ctl("imagefsinfo", "-o", "table")
    assert result.out == (
        "Container Filesystem \n"
        "Image Filesystem \n"
        "TimeStamp[0]: 1700000000000000000\n"
        "Disk[0]: 53.71MB\n"
        "Inodes[0]: 1234\n"
        "Mountpoint[0]: /var/lib/crio-py/snapshots\n"
    )
