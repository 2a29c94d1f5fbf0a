"""A host user who is not root reaches nothing of the daemon's images and containers: no
rootfs, unpacked layer, content blob, bundle or pod file (containerd's CVE-2021-41103).

The daemon's work dir is made searchable by others first (`searchable_tmp`), as /var/lib
is, so that only the daemon's own modes stand in the way.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from tests.e2e.node import Node, container_config
from tests.e2e.test_containers import SLEEPER, _run

NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--")
_PROBE = """
import json, os, sys
found = {}
for path in sys.argv[1:]:
    try:
        os.stat(path)
        found[path] = "reached"
    except PermissionError:
        found[path] = "denied"
    except FileNotFoundError:
        found[path] = "missing"
print(json.dumps(found))
"""


def _as_nobody(paths: list[Path]) -> dict[str, str]:
    """What user nobody gets when it stats each path."""
    argv = [*NOBODY, sys.executable, "-I", "-c", _PROBE, *map(str, paths)]
    reply = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30)
    return dict(json.loads(reply.stdout))


def _one(root: Path, pattern: str) -> Path:
    found = sorted(root.glob(pattern))
    assert found, f"nothing matches {pattern} under {root}"
    return found[0]


def test_no_host_user_reaches_images_or_containers(searchable_tmp: None, cluster: Node) -> None:
    pod_id, pod = cluster.run_pod("closed")
    container_id = _run(
        cluster, pod_id, pod, container_config("sleeper", cluster.busybox, *SLEEPER)
    )
    root, state = cluster.daemon.root, cluster.daemon.state
    inside = {
        "rootfs": root / "containers" / container_id / "rootfs" / "bin" / "busybox",
        "layer": _one(root, "snapshots/*/fs/bin/busybox"),
        "blob": _one(root, "content/blobs/sha256/*"),
        "image record": _one(root, "images/*"),
        "bundle": state / "containers" / container_id / "config.json",
        "pod files": root / "sandboxes" / pod_id / "hosts",
        "namespace pins": _one(state, "ns/*"),
        "attach sockets": _one(state, "attach/*"),
    }
    for what, path in inside.items():
        assert path.exists(), what
    tops = [root, state, root / "containers", state / "containers"]
    seen = _as_nobody([*tops, *inside.values()])
    assert [seen[str(top)] for top in tops] == ["reached"] * 4  # the control: 0711 lets it pass
    assert {what: seen[str(path)] for what, path in inside.items()} == dict.fromkeys(
        inside, "denied"
    )
    assert stat.S_IMODE(root.stat().st_mode) == stat.S_IMODE(state.stat().st_mode) == 0o711
    for blob in (root / "content" / "blobs" / "sha256").iterdir():
        assert stat.S_IMODE(blob.stat().st_mode) == 0o600, blob


def test_an_older_root_is_closed_at_start(searchable_tmp: None, cluster: Node) -> None:
    """Dirs an older crio-py left 0755 are closed when the daemon starts again."""
    pod_id, pod = cluster.run_pod("reopened")
    container_id = _run(
        cluster, pod_id, pod, container_config("sleeper", cluster.busybox, *SLEEPER)
    )
    root = cluster.daemon.root
    opened = [
        root,
        root / "content",
        root / "containers" / container_id,
        root / "sandboxes" / pod_id,
    ]
    for path in opened:
        path.chmod(0o755)
    cluster.daemon.kill()
    cluster.daemon.start()
    modes = {str(p.relative_to(root.parent)): stat.S_IMODE(p.stat().st_mode) for p in opened}
    assert list(modes.values()) == [0o711, 0o700, 0o700, 0o700], modes
    assert Path(root / "containers" / container_id / "rootfs" / "bin").is_dir()
