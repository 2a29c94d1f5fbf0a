"""No registry credential leaves the daemon.

The real daemon (at debug log level) pulls from a registry that wants basic auth: with the
credentials of its configuration (containerd `registry.configs."<host>".auth`, CRI-O
`global_auth_file`) and with the CRI AuthConfig (username/password with an identity token,
`auth`), and fails with a wrong password, a lone registry_token and an `auth` that does not
decode. Every secret is a unique string. While the pulls run, a thread samples the command
line and environment of every child of the daemon; afterwards the daemon's log, every RPC
answer, `crio-py ctl info` and every file under the daemon's work dir (root, state, temp dir,
log; the operator's own config aside) are searched for each secret in every form it is
written in (as it is, and base64 of USER:PASSWORD).
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from cri_api.v1 import api_pb2, api_pb2_grpc

from tests.e2e.node import mount_points, processes_naming
from tests.fixtures.daemon import Daemon, crio_config
from tests.fixtures.images import BuiltImage, BuiltIndex
from tests.fixtures.procs import descendants
from tests.fixtures.registry import Registry

pytestmark = pytest.mark.e2e

if os.geteuid() != 0:
    pytest.skip("unpacking image layers needs root", allow_module_level=True)

AUTH_TABLE = '[plugins."io.containerd.cri.v1.images".registry.configs."{host}".auth]\n'
REPOSITORIES = ("from-config", "from-request", "from-auth-field", "refused")


def _unique(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(6)}"


def _pair(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True)
class Secrets:
    """The credentials of one test, each a string that appears nowhere else."""

    config_user: str = field(default_factory=lambda: _unique("cfg-u5er"))
    config_password: str = field(default_factory=lambda: _unique("s3cr3t-cfg"))
    request_user: str = field(default_factory=lambda: _unique("cri-u5er"))
    request_password: str = field(default_factory=lambda: _unique("s3cr3t-cri"))
    wrong_password: str = field(default_factory=lambda: _unique("s3cr3t-wrong"))
    identity_token: str = field(default_factory=lambda: _unique("t0ken-identity"))
    registry_token: str = field(default_factory=lambda: _unique("t0ken-registry"))
    broken_auth: str = field(default_factory=lambda: _unique("s3cr3t-broken") + "!")

    @property
    def users(self) -> dict[str, str]:
        return {self.config_user: self.config_password, self.request_user: self.request_password}

    def forms(self) -> list[str]:
        """Every secret, and the base64 USER:PASSWORD pairs an auth field carries."""
        plain = [
            self.config_user, self.config_password, self.request_user, self.request_password,
            self.wrong_password, self.identity_token, self.registry_token, self.broken_auth,
        ]  # fmt: skip
        pairs = [
            _pair(self.config_user, self.config_password),
            _pair(self.request_user, self.request_password),
            _pair(self.request_user, self.wrong_password),
        ]
        return plain + pairs


def leaked(found_in: str | bytes, credentials: Secrets) -> list[str]:
    """The secrets that appear in `found_in`."""
    text = found_in if isinstance(found_in, str) else found_in.decode("utf-8", "replace")
    return [secret for secret in credentials.forms() if secret in text]


class ChildSampler:
    """Reads /proc/<pid>/cmdline and environ of every descendant of the daemon, over and
    over, until stopped; and the mode of each auth file a skopeo command line names."""

    def __init__(self, daemon_pid: int) -> None:
        self.daemon_pid = daemon_pid
        self.seen: set[bytes] = set()
        self.skopeo_runs: set[int] = set()
        self.auth_modes: set[tuple[int, int]] = set()  # (file mode, directory mode)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ChildSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in descendants(self.daemon_pid):
                self._sample(pid)

    def _sample(self, pid: int) -> None:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:  # it exited meanwhile
            return
        self.seen.update((cmdline, environ))
        argv = cmdline.split(b"\0")
        if not argv[0].endswith(b"skopeo"):
            return
        self.skopeo_runs.add(pid)
        for arg in argv:
            name, _, value = arg.partition(b"=")
            if name.endswith(b"authfile"):
                self._record_mode(Path(value.decode()))

    def _record_mode(self, authfile: Path) -> None:
        try:
            modes = (authfile.stat().st_mode & 0o777, authfile.parent.stat().st_mode & 0o777)
        except OSError:  # removed once the pull was over
            return
        self.auth_modes.add(modes)


@pytest.fixture
def busybox(built_images: dict[str, BuiltImage | BuiltIndex]) -> BuiltImage:
    image = built_images["busybox"]
    assert isinstance(image, BuiltImage)
    return image


@pytest.fixture
def credentials() -> Secrets:
    return Secrets()


@pytest.fixture
def registry(credentials: Secrets, busybox: BuiltImage) -> Iterator[Registry]:
    """A registry of its own that wants basic auth from either user of `credentials`."""
    with Registry(tls=True, auth=True, users=credentials.users) as private:
        for name in REPOSITORIES:
            private.push(busybox.layout, name, "1", source_tag=busybox.tag)
        yield private


def _workdir_daemon(tmp_path: Path, registry_hosts: str = "") -> Daemon:
    """A daemon whose children write their temporary files inside its work dir."""
    temp_dir = tmp_path / "crio" / "tmp"
    temp_dir.mkdir(parents=True)
    env = {**os.environ, "TMPDIR": str(temp_dir)}
    return Daemon(tmp_path / "crio", registry_hosts=registry_hosts, env=env)


def _config_auth(registry: Registry, credentials: Secrets) -> str:
    return AUTH_TABLE.format(host=registry.host) + (
        f'  username = "{credentials.config_user}"\n'
        f'  password = "{credentials.config_password}"\n'
    )


def _pull(
    daemon: Daemon, image: str, auth: api_pb2.AuthConfig | None = None
) -> tuple[grpc.StatusCode, str]:
    """The code and the answer (the image id, or the error's details) of one pull."""
    with daemon.channel() as channel:
        request = api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=image), auth=auth)
        try:
            reply = daemon.images(channel).PullImage(request, timeout=120)
        except grpc.RpcError as error:
            return error.code(), str(error.details())
    return grpc.StatusCode.OK, reply.image_ref


def _answers(daemon: Daemon, images: list[str]) -> str:
    """Everything the daemon answers about itself and its images, as text."""
    with daemon.channel() as channel:
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        found = [runtime.Status(api_pb2.StatusRequest(verbose=True), timeout=10)]
        image_service = daemon.images(channel)
        found.append(image_service.ListImages(api_pb2.ListImagesRequest(), timeout=10))
        for image in images:
            request = api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image=image), verbose=True)
            found.append(image_service.ImageStatus(request, timeout=10))
    assert '"auths"' in found[0].info["config"]  # the settings really are in Status' info
    return "\n".join(str(message) for message in found)


def _ctl(daemon: Daemon, *argv: str) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "crio_py", "ctl", "-r", f"unix://{daemon.socket}", *argv],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return run.stdout + run.stderr


def _reload(daemon: Daemon) -> None:
    """SIGHUP, and wait until the daemon has logged the settings it read."""
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while "Settings read on SIGHUP" not in daemon.log_path.read_text():
        assert time.monotonic() < deadline, "the daemon did not reload"
        time.sleep(0.05)


def _files(daemon: Daemon, operator_files: set[Path]) -> dict[Path, bytes]:
    """Every file under the daemon's work dir but the operator's own configuration."""
    found = {}
    for directory, _, names in os.walk(daemon.workdir):
        for name in names:
            path = Path(directory, name)
            if path not in operator_files and path.is_file() and not path.is_symlink():
                found[path] = path.read_bytes()
    return found


def _assert_nothing_leaked(
    daemon: Daemon, sampler: ChildSampler, answers: str, credentials: Secrets,
    operator_files: set[Path],
) -> None:  # fmt: skip
    assert sampler.skopeo_runs, "no skopeo process was sampled"
    assert sampler.auth_modes, "no auth file was seen while skopeo ran"
    assert sampler.auth_modes == {(0o600, 0o700)}
    assert [found for sample in sampler.seen if (found := leaked(sample, credentials))] == []
    assert leaked(answers, credentials) == []
    files = _files(daemon, operator_files)
    assert [p.name for p in files if p.name == "auth.json"] == []  # removed after each pull
    found_in_files = {str(path): leaked(data, credentials) for path, data in files.items()}
    assert {path: found for path, found in found_in_files.items() if found} == {}
    log = daemon.log_path.read_text()
    assert "DEBUG crio_py.daemon: Effective settings" in log  # debug records were written
    assert leaked(log, credentials) == []


def _assert_no_leftovers(tmp_path: Path, mounts_before: set[str]) -> None:
    assert {m for m in mount_points() - mounts_before if m.startswith(str(tmp_path))} == set()
    assert processes_naming(str(tmp_path)) == []


def test_no_credential_leaves_the_daemon(
    tmp_path: Path, registry: Registry, credentials: Secrets
) -> None:
    daemon = _workdir_daemon(tmp_path, _config_auth(registry, credentials))
    daemon.trust(registry.host, ca_file=registry.ca_file)
    mounts_before = mount_points()
    ref = {name: f"{registry.host}/{name}:1" for name in REPOSITORIES}
    request_auth = api_pb2.AuthConfig(
        username=credentials.request_user,
        password=credentials.request_password,
        identity_token=credentials.identity_token,
    )
    auth_field = api_pb2.AuthConfig(
        auth=_pair(credentials.request_user, credentials.request_password)
    )
    wrong = api_pb2.AuthConfig(
        username=credentials.request_user, password=credentials.wrong_password
    )
    with daemon:
        assert daemon.process is not None
        with ChildSampler(daemon.process.pid) as sampler:
            outcomes = {
                "config": _pull(daemon, ref["from-config"]),
                "request": _pull(daemon, ref["from-request"], request_auth),
                "auth field": _pull(daemon, ref["from-auth-field"], auth_field),
                "wrong password": _pull(daemon, ref["refused"], wrong),
                "registry token": _pull(
                    daemon, ref["refused"],
                    api_pb2.AuthConfig(registry_token=credentials.registry_token),
                ),
                "broken auth": _pull(
                    daemon, ref["refused"], api_pb2.AuthConfig(auth=credentials.broken_auth)
                ),
            }  # fmt: skip
        codes = {case: code for case, (code, _) in outcomes.items()}
        assert codes["config"] == codes["request"] == codes["auth field"] == grpc.StatusCode.OK
        assert codes["wrong password"] == grpc.StatusCode.PERMISSION_DENIED
        assert codes["registry token"] == grpc.StatusCode.INVALID_ARGUMENT
        assert codes["broken auth"] != grpc.StatusCode.OK
        pulled = [ref["from-config"], ref["from-request"], ref["from-auth-field"]]
        answers = "\n".join(
            [
                *(f"{case}: {code.name}: {text}" for case, (code, text) in outcomes.items()),
                _answers(daemon, pulled),
                _ctl(daemon, "info"),
                _ctl(daemon, "inspecti", ref["from-config"]),
                _ctl(daemon, "images", "--digests"),
            ]
        )
        _reload(daemon)
    _assert_nothing_leaked(daemon, sampler, answers, credentials, {daemon.config})
    assert daemon.log_path.read_text().count('"password": "<redacted>"') == 2  # start, SIGHUP
    _assert_no_leftovers(tmp_path, mounts_before)


def test_no_credential_of_a_crio_auth_file_leaves_the_daemon(
    tmp_path: Path, registry: Registry, credentials: Secrets
) -> None:
    daemon = _workdir_daemon(tmp_path)
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    auth_file = tmp_path / "crio" / "auth.json"
    pair = _pair(credentials.config_user, credentials.config_password)
    auth_file.write_text(f'{{"auths": {{"{registry.host}": {{"auth": "{pair}"}}}}}}')
    auth_file.chmod(0o600)
    text = crio_config(daemon, net_dir, registry.host).replace(
        "[crio.image]\n", f'[crio.image]\nglobal_auth_file = "{auth_file}"\n'
    )
    daemon.config.write_text(text)
    mounts_before = mount_points()
    with daemon:
        assert daemon.process is not None
        with ChildSampler(daemon.process.pid) as sampler:
            code, answer = _pull(daemon, f"{registry.host}/from-config:1")
        assert code == grpc.StatusCode.OK, answer
        answers = "\n".join(
            [answer, _answers(daemon, [f"{registry.host}/from-config:1"]), _ctl(daemon, "info")]
        )
    _assert_nothing_leaked(daemon, sampler, answers, credentials, {daemon.config, auth_file})
    _assert_no_leftovers(tmp_path, mounts_before)
