from __future__ import annotations

import os
import stat
from pathlib import Path

from crio_py.fsutil import private_dir
from crio_py.store import dirs


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_root_gets_its_modes(tmp_path: Path) -> None:
    root, state = tmp_path / "root", tmp_path / "state"
    dirs.secure(root, state)
    assert _mode(root) == _mode(state) == 0o711
    assert {name: _mode(root / name) for name in dirs.ROOT_PRIVATE} == dict.fromkeys(
        dirs.ROOT_PRIVATE, 0o700
    )
    assert {name: _mode(state / name) for name in dirs.STATE_PRIVATE} == dict.fromkeys(
        dirs.STATE_PRIVATE, 0o700
    )
    for traversed in (root / "containers", root / "sandboxes", state / "containers", state / "shm"):
        assert _mode(traversed) == 0o711, traversed


def test_an_open_root_is_closed_and_pods_keep_their_group(tmp_path: Path) -> None:
    root, state = tmp_path / "root", tmp_path / "state"
    plain = root / "containers" / "plain"
    shared = root / "containers" / "userns"
    shm = state / "shm" / "pod"
    for path in (root / "content", plain, shared, shm):
        path.mkdir(parents=True)
        path.chmod(0o755)
    os.chown(shared, -1, 200000)
    shm.chmod(0o1777)
    dirs.secure(root, state)
    assert [_mode(p) for p in (root, root / "content", plain, shared)] == [
        0o711,
        0o700,
        0o700,
        0o710,
    ]
    assert _mode(shm) == 0o1777  # a pod's /dev/shm is left as it is


def test_an_unknown_dir_is_left_alone(tmp_path: Path) -> None:
    """What an operator put in the root (a runtime's own root, say) is not crio-py's."""
    theirs = tmp_path / "root" / "runc-root"
    theirs.mkdir(parents=True)
    theirs.chmod(0o755)
    dirs.secure(tmp_path / "root", tmp_path / "state")
    assert _mode(theirs) == 0o755


def test_a_private_dir_for_a_pod_root(tmp_path: Path) -> None:
    alone = private_dir(tmp_path / "a" / "alone")
    shared = private_dir(tmp_path / "shared", group=200000)
    assert (_mode(alone), _mode(shared), shared.stat().st_gid) == (0o700, 0o710, 200000)
    assert private_dir(tmp_path / "shared") == tmp_path / "shared"  # again: no error
    assert _mode(shared) == 0o700
