"""`make demo`: a busybox pod end to end. A local registry gets a busybox image, crio-py
serves on a private root with a CNI network of its own, and every step is a `crio-py ctl`
command printed with its output. Everything is removed afterwards.

Run as root: `python -m tests.demo`. `run_demo()` returns the transcript, for the tests.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.fixtures.cninet import cni_network
from tests.fixtures.daemon import Daemon, daemon_config
from tests.fixtures.images import busybox_image, pause_image
from tests.fixtures.registry import Registry

Say = Callable[[str], None]
HTTPD = (
    "echo hello from crio-py > /tmp/index.html; echo serving /tmp on port 8080; "
    "exec httpd -f -p 8080 -h /tmp"
)


class DemoError(RuntimeError):
    """A step failed."""


class Ctl:
    """Runs `crio-py ctl` against one socket and tells `say` what it ran and printed."""

    def __init__(self, socket: Path, say: Say) -> None:
        self.endpoint = f"unix://{socket}"
        self.say = say

    def __call__(self, *args: str, check: bool = True) -> str:
        argv = [sys.executable, "-m", "crio_py", "ctl", "-r", self.endpoint, "-t", "30s", *args]
        self.say(f"$ crio-py ctl {shlex.join(args)}")
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        output = (done.stdout + done.stderr).rstrip()
        if output:
            self.say(output)
        if check and done.returncode != 0:
            raise DemoError(f"crio-py ctl {shlex.join(args)} exited with {done.returncode}")
        return done.stdout


def _configs(work: Path, image: str) -> tuple[Path, Path]:
    pod = {
        "metadata": {"name": "demo", "namespace": "default", "uid": "demo-uid", "attempt": 0},
        "hostname": "demo",
        "log_directory": str(work / "pods"),
        "port_mappings": [{"container_port": 8080}],
        "linux": {"security_context": {"namespace_options": {"pid": 1}}},
    }
    container = {
        "metadata": {"name": "web"},
        "image": {"image": image},
        "command": ["/bin/sh", "-c", HTTPD],
        "log_path": "web.log",
        "linux": {"security_context": {"namespace_options": {"pid": 1}}},
    }
    pod_path, container_path = work / "pod.json", work / "container.json"
    pod_path.write_text(json.dumps(pod, indent=2))
    container_path.write_text(json.dumps(container, indent=2))
    return pod_path, container_path


def _steps(ctl: Ctl, image: str, pod_json: Path, container_json: Path) -> None:
    ctl("version")
    ctl("pull", image)
    ctl("images")
    pod_id = ctl("runp", str(pod_json)).strip()
    ctl("pods")
    container_id = ctl("create", pod_id, str(container_json), str(pod_json)).strip()
    ctl("start", container_id)
    ctl("ps")
    fetched = ctl("exec", "-s", container_id, "wget", "-q", "-O", "-", "http://127.0.0.1:8080/")
    if "hello from crio-py" not in fetched:
        raise DemoError("the web server in the pod did not answer")
    ctl("exec", "-s", container_id, "sh", "-c", "hostname; ip -4 -o addr show eth0")
    ctl("logs", container_id)
    ctl("stop", container_id)
    ctl("ps", "-a")
    ctl("rm", container_id)
    ctl("stopp", pod_id)
    ctl("rmp", pod_id)
    ctl("pods")


def run_demo(say: Say = print) -> None:
    """The whole demo; raises DemoError when a step fails."""
    with tempfile.TemporaryDirectory(prefix="crio-py-demo-") as scratch:
        work = Path(scratch)
        say("# A local registry with a busybox image")
        with Registry() as registry:
            image = registry.push_image(busybox_image(work / "images"))
            registry.push_image(pause_image(work / "images"))
            with cni_network(work) as network:
                daemon = Daemon(work / "crio")
                daemon.trust(registry.host, plain_http=True)
                config = daemon_config(daemon, network.conf_dir, registry.host)
                daemon.config.write_text(config, encoding="utf-8")
                say(f"# crio-py serve on {daemon.socket}, pods on bridge {network.bridge}")
                with daemon:
                    ctl = Ctl(daemon.socket, say)
                    pod_json, container_json = _configs(work, image)
                    try:
                        _steps(ctl, image, pod_json, container_json)
                    finally:  # after a failed step too: no pod may outlive the demo
                        ctl("rmp", "--all", "--force", check=False)
    say("# Done: nothing is left behind")


def main() -> int:
    try:
        run_demo()
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
