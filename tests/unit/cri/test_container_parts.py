"""The pure parts of the container service: exit files → status, records → CRI messages and
filters, conmon options of a handler, and host facts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from cri_api.v1 import api_pb2

from crio_py.backends import conmon
from crio_py.config.load import load_settings
from crio_py.config.model import RuntimeSettings
from crio_py.cri.container import exits, host, query
from crio_py.cri.container.create import joined_log_path
from crio_py.cri.container.layout import Layout, Runtimes
from crio_py.errors import FailedPreconditionError, InvalidArgumentError
from crio_py.store.records import ContainerMetadata, ContainerStatus, ProcessUser

CREATED = 1_700_000_000_000_000_000


def _metadata(**update: object) -> ContainerMetadata:
    config = api_pb2.ContainerConfig(
        metadata=api_pb2.ContainerMetadata(name="app", attempt=2),
        image=api_pb2.ImageSpec(image="busybox"),
        labels={"tier": "web"},
        annotations={"note": "x"},
        mounts=[api_pb2.Mount(container_path="/data", host_path="/srv/data", readonly=True)],
    )
    fields: dict[str, object] = {
        "id": "c" * 64,
        "name": "app_pod_ns_uid_2",
        "sandbox_id": "s" * 64,
        "config": query.config_to_json(config),
        "image_ref": "busybox",
        "image_id": "sha256:" + "1" * 64,
        "image_digest_ref": "docker.io/library/busybox@sha256:" + "2" * 64,
        "runtime_handler": "runc",
        "log_path": "/var/log/pods/app.log",
        "created_at": CREATED,
    }
    return ContainerMetadata.model_validate({**fields, **update})


def _settings(tmp_path: Path) -> RuntimeSettings:
    settings, _ = load_settings(None)
    return settings.model_copy(
        update={"root_dir": tmp_path / "root", "state_dir": tmp_path / "state"}
    )


# exits


@pytest.mark.parametrize(
    ("text", "oom", "code", "reason"),
    [("0", False, 0, "Completed"), ("3\n", False, 3, "Error"), ("137", True, 137, "OOMKilled")],
)
def test_an_exit_file_finishes_the_status(
    tmp_path: Path, text: str, oom: bool, code: int, reason: str
) -> None:
    (tmp_path / "exits").mkdir()
    (tmp_path / "exits" / "c1").write_text(text)
    if oom:
        (tmp_path / "oom").touch()
    running = ContainerStatus(pid=42, started_at=CREATED + 1)
    done = exits.exited_status(running, tmp_path / "exits", "c1", (tmp_path,))
    assert done is not None
    assert (done.exit_code, done.reason, done.pid) == (code, reason, 0)
    assert done.finished_at == (tmp_path / "exits" / "c1").stat().st_mtime_ns


def test_an_exit_never_comes_before_the_start(tmp_path: Path) -> None:
    """A command that exits at once writes its exit file before StartContainer records the
    start: the finish is then the start, never earlier."""
    (tmp_path / "c1").write_text("0")
    later = (tmp_path / "c1").stat().st_mtime_ns + 5_000_000
    done = exits.exited_status(ContainerStatus(pid=1, started_at=later), tmp_path, "c1", ())
    assert done is not None and done.finished_at == later


def test_no_exit_file_means_still_running(tmp_path: Path) -> None:
    assert exits.exited_status(ContainerStatus(), tmp_path, "c1", ()) is None
    assert conmon.exited_ids(tmp_path / "missing") == set()


def test_a_garbled_exit_file_still_means_exited(tmp_path: Path) -> None:
    (tmp_path / "c1").write_text("garbage")
    done = exits.exited_status(ContainerStatus(pid=1, started_at=1), tmp_path, "c1", ())
    assert done is not None and done.exit_code == exits.EXIT_CODE_UNKNOWN
    assert "garbage" in done.message


# query


def test_records_become_cri_messages() -> None:
    metadata = _metadata()
    status = ContainerStatus(pid=7, started_at=CREATED + 5)
    config = query.config_from_json(metadata.config)
    item = query.container(metadata, status, config)
    assert item.state == api_pb2.CONTAINER_RUNNING
    assert item.metadata.name == "app" and item.metadata.attempt == 2
    assert item.image_ref == metadata.image_digest_ref and item.image_id == metadata.image_id
    assert dict(item.labels) == {"tier": "web"}
    full = query.container_status(metadata, status.model_copy(update={"finished_at": 9}), config)
    assert full.state == api_pb2.CONTAINER_EXITED
    assert full.mounts[0].host_path == "/srv/data" and full.mounts[0].readonly
    assert full.log_path == "/var/log/pods/app.log"
    no_digest = query.container(_metadata(image_digest_ref=""), status, config)
    assert no_digest.image_ref == metadata.image_id
    assert not full.HasField("user")  # a record from before users were kept


def test_an_image_volume_reports_its_image_id() -> None:
    """ImageSpec.image_ref is field 20, newer than the stubs: it goes out as an unknown field,
    which a client with the newer api.proto reads as the field."""
    image_id = "sha256:" + "3" * 64
    config = api_pb2.ContainerConfig(
        metadata=api_pb2.ContainerMetadata(name="app"),
        mounts=[
            api_pb2.Mount(container_path="/img", readonly=True, image=api_pb2.ImageSpec(image="x")),
            api_pb2.Mount(container_path="/data", host_path="/srv"),
        ],
    )
    metadata = _metadata(config=query.config_to_json(config), image_volumes={"/img": image_id})
    status = query.container_status(metadata, ContainerStatus(), config)
    wire = status.mounts[0].image.SerializeToString()
    field_20 = b"\xa2\x01\x47" + image_id.encode()  # tag 20, wire type 2, 71 bytes
    assert wire == api_pb2.ImageSpec(image="x").SerializeToString() + field_20
    assert status.mounts[1].SerializeToString() == config.mounts[1].SerializeToString()
    assert config.mounts[0].image.SerializeToString() == b"\n\x01x"  # the record is untouched


def test_container_status_reports_the_process_user() -> None:
    """critest's SupplementalGroupsPolicy specs read the identity back from ContainerStatus."""
    user = ProcessUser(uid=1000, gid=1000, additional_gids=(1000, 1234, 50000))
    metadata = _metadata(user=user)
    config = query.config_from_json(metadata.config)
    status = query.container_status(metadata, ContainerStatus(), config)
    linux = api_pb2.LinuxContainerUser(uid=1000, gid=1000, supplemental_groups=[1000, 1234, 50000])
    assert status.user == api_pb2.ContainerUser(linux=linux)


def test_list_filters() -> None:
    metadata = _metadata()
    item = query.container(metadata, ContainerStatus(), query.config_from_json(metadata.config))
    assert item.state == api_pb2.CONTAINER_CREATED
    assert query.matches(item, None)
    created = api_pb2.ContainerStateValue(state=api_pb2.CONTAINER_CREATED)
    assert query.matches(item, api_pb2.ContainerFilter(state=created))
    running = api_pb2.ContainerStateValue(state=api_pb2.CONTAINER_RUNNING)
    assert not query.matches(item, api_pb2.ContainerFilter(state=running))
    assert not query.matches(item, api_pb2.ContainerFilter(pod_sandbox_id="other"))
    assert query.matches(item, api_pb2.ContainerFilter(label_selector={"tier": "web"}))
    assert not query.matches(item, api_pb2.ContainerFilter(label_selector={"tier": "db"}))


# layout


@pytest.mark.skipif(
    not shutil.which("conmon") or not shutil.which("runc"),
    reason="the options name the conmon and runc found on PATH",
)
def test_conmon_options_of_a_handler(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    layout = Layout(settings.state_dir, settings.root_dir)
    options = Runtimes(settings, layout).conmon_options(
        _metadata(), tty=False, stdin=True, stdin_once=True
    )
    container_id = "c" * 64
    assert options.bundle_dir == tmp_path / "state" / "containers" / container_id
    assert options.exits_dir == tmp_path / "state" / "exits"
    assert options.persist_dir == tmp_path / "root" / "container-records" / container_id / "persist"
    assert options.runtime_path == Path(shutil.which("runc") or "").absolute()
    handler_root = settings.runtimes["runc"].root or tmp_path / "state" / "runtimes" / "runc"
    assert options.runtime_args[:2] == ("--root", str(handler_root))
    assert "--systemd-cgroup" not in options.runtime_args and not options.systemd_cgroup
    assert options.log_path == Path("/var/log/pods/app.log")
    assert (options.stdin, options.stdin_once) == (True, True)


def test_a_handler_that_is_gone(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    runtimes = Runtimes(settings, Layout(settings.state_dir, settings.root_dir))
    with pytest.raises(FailedPreconditionError, match="'gone' is no longer configured"):
        runtimes.runtime("gone")


# host


def test_probe_host_reads_capabilities(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapEff:\t0000000000000001\nCapBnd:\t0000000001000001\n")
    features = host.probe_host(status)
    assert features.capabilities == ("CAP_CHOWN", "CAP_SYS_RESOURCE")
    assert not features.can_lower_oom_score_adj
    status.write_text("CapEff:\t0000000001000000\nCapBnd:\t0\n")
    assert host.probe_host(status).can_lower_oom_score_adj


def test_host_devices() -> None:
    null = host.host_device("/dev/null")
    assert null is not None and (null.type, null.major, null.minor) == ("c", 1, 3)
    assert host.host_device("/etc/hostname") is None
    asked = host.host_devices([api_pb2.Device(host_path="/dev/null")], all_of_dev=False)
    assert list(asked) == ["/dev/null"]
    with pytest.raises(InvalidArgumentError, match="not a device"):
        host.host_devices([api_pb2.Device(host_path="/etc")], all_of_dev=False)
    everything = host.host_devices([], all_of_dev=True)
    assert "/dev/null" in everything and "/dev/console" not in everything


def test_mount_sources(tmp_path: Path) -> None:
    missing = tmp_path / "made" / "here"
    host.ensure_mount_sources([api_pb2.Mount(container_path="/a", host_path=str(missing))])
    assert missing.is_dir() and oct(os.stat(missing).st_mode & 0o777) == "0o755"
    with pytest.raises(InvalidArgumentError, match="not an absolute path"):
        host.ensure_mount_sources([api_pb2.Mount(container_path="/a", host_path="rel")])


def test_user_namespaces_need_searchable_parents(tmp_path: Path) -> None:
    """A pod root that is not host root must reach the rootfs: a 0700 parent rules it out."""
    closed, inner = tmp_path / "closed", tmp_path / "closed" / "open" / "root"
    inner.mkdir(parents=True)
    tmp_path.chmod(0o755)
    closed.chmod(0o700)
    assert not host.searchable_by_others(inner)
    closed.chmod(0o711)
    assert host.searchable_by_others(inner) == all(
        p.stat().st_mode & 0o001 for p in tmp_path.parents
    )


@pytest.mark.parametrize(
    ("log_path", "expected"),
    [
        ("app/0.log", "/var/log/pods/p/app/0.log"),
        ("/etc/passwd", "/var/log/pods/p/etc/passwd"),  # joined under, as containerd does
        ("app/../app.log", "/var/log/pods/p/app.log"),
    ],
)
def test_a_log_path_is_joined_under_the_log_directory(log_path: str, expected: str) -> None:
    assert joined_log_path("/var/log/pods/p/", log_path) == Path(expected)


@pytest.mark.parametrize(
    ("log_directory", "log_path", "says"),
    [
        ("/var/log/pods/p", "../../../etc/passwd", "does not name a file in log_directory"),
        # containerd's Join would clean this to /var/log/etc/cron.d/x, outside the directory
        ("/var/log/pods/p", "/../../etc/cron.d/x", "does not name a file in log_directory"),
        ("/var/log/pods/p", "../p2/app.log", "does not name a file in log_directory"),
        ("/var/log/pods/p", "app/..", "does not name a file in log_directory"),
        ("/var/log/pods/p", ".", "does not name a file in log_directory"),
        ("pods/p", "app.log", "log_directory 'pods/p' is not an absolute path"),
        ("/var/log/pods/p", "app\0.log", "contains a NUL byte"),
        ("/var/log/pods/p", "a/" * 2100 + "x.log", "is longer than PATH_MAX"),
    ],
)
def test_a_log_path_that_leaves_or_breaks_is_refused(
    log_directory: str, log_path: str, says: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=says) as caught:
        joined_log_path(log_directory, log_path)
    assert len(str(caught.value)) < 600
