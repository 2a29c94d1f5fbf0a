"""User resolution against the image's /etc/passwd and /etc/group (ocispec/users.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crio_py.errors import InvalidArgumentError
from crio_py.fsutil import resolve_in_root
from crio_py.ocispec.users import (
    ResolvedUser,
    read_group,
    read_passwd,
    resolve_user,
    user_string,
)


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("", ResolvedUser(0, 0, (0,))),  # no user: root
        ("app", ResolvedUser(1000, 1000, (10, 29, 1000))),  # name: its gid and its groups
        ("1000", ResolvedUser(1000, 1000, (10, 29, 1000))),  # uid in passwd: same
        ("4242", ResolvedUser(4242, 0, (0,))),  # uid not in passwd: gid 0, no groups
        ("app:staff", ResolvedUser(1000, 50, (10, 29, 50))),  # group by name
        ("app:7", ResolvedUser(1000, 7, (7, 10, 29))),  # group by number
        ("4242:4343", ResolvedUser(4242, 4343, (4343,))),
        ("nobody", ResolvedUser(65534, 65534, (65534,))),
    ],
)
def test_resolve_user(rootfs: Path, user: str, expected: ResolvedUser) -> None:
    assert resolve_user(rootfs, user) == expected


def test_supplemental_groups_merge_sorted_without_duplicates(rootfs: Path) -> None:
    resolved = resolve_user(rootfs, "app", supplemental=[2000, 10, 5])
    assert resolved.to_json() == {
        "uid": 1000,
        "gid": 1000,
        "additionalGids": [5, 10, 29, 1000, 2000],
    }


def test_strict_policy_ignores_the_image_groups(rootfs: Path) -> None:
    resolved = resolve_user(rootfs, "app", supplemental=[2000], merge_image_groups=False)
    assert resolved.additional_gids == (1000, 2000)


def test_group_named_like_the_user_is_not_an_additional_group(rootfs: Path) -> None:
    # app is listed in group "app" (1000) but that is its own group, already the primary.
    assert 1000 in resolve_user(rootfs, "app").additional_gids
    assert resolve_user(rootfs, "app:7").additional_gids == (7, 10, 29)


def test_unknown_user_name_is_an_error(rootfs: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="'ghost' is not in the image's /etc/passwd"):
        resolve_user(rootfs, "ghost")


def test_unknown_group_name_is_an_error(rootfs: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="'ghosts' is not in the image's /etc/group"):
        resolve_user(rootfs, "app:ghosts")


@pytest.mark.parametrize("user", ["a:b:c", "2147483648", "1:2147483648"])
def test_malformed_or_out_of_range_user_is_invalid(rootfs: Path, user: str) -> None:
    with pytest.raises(InvalidArgumentError, match="invalid user"):
        resolve_user(rootfs, user)


def test_image_without_passwd_accepts_numeric_ids(tmp_path: Path) -> None:
    assert resolve_user(tmp_path, "65535:65535") == ResolvedUser(65535, 65535, (65535,))
    with pytest.raises(InvalidArgumentError):
        resolve_user(tmp_path, "app")


def test_parsers_skip_comments_and_broken_lines(rootfs: Path) -> None:
    assert [e.name for e in read_passwd(rootfs)] == ["root", "daemon", "app", "nobody"]
    wheel = next(g for g in read_group(rootfs) if g.name == "wheel")
    assert wheel.members == ("app", "bob")


def test_symlinked_passwd_stays_inside_the_rootfs(tmp_path: Path) -> None:
    outside = tmp_path / "host-passwd"
    outside.write_text("evil:x:0:0::/:/bin/sh\n")
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "real").mkdir()
    (root / "real" / "passwd").write_text("app:x:7:8::/:/bin/sh\n")
    # An absolute link resolves inside the rootfs, never to the host's file.
    os.symlink("/real/passwd", root / "etc" / "passwd")
    assert resolve_in_root(root, "etc/passwd") == root / "real" / "passwd"
    assert resolve_user(root, "app") == ResolvedUser(7, 8, (8,))
    os.symlink("../../../../host-passwd", root / "etc" / "group")
    assert resolve_in_root(root, "etc/group") == root / "host-passwd"
    assert read_group(root) == []


def test_symlink_loop_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.symlink("/etc/passwd", tmp_path / "etc" / "passwd")
    with pytest.raises(InvalidArgumentError, match="too many symbolic links"):
        read_passwd(tmp_path)


@pytest.mark.parametrize(
    ("username", "uid", "gid", "image", "expected"),
    [
        ("alice", 5, None, "app", "alice"),  # run_as_username wins
        ("", 5, None, "app", "5"),  # then run_as_user
        ("", None, None, "app:staff", "app:staff"),  # then the image's User
        ("", 5, 6, "app", "5:6"),
        ("", None, 6, "app:staff", "app:6"),  # run_as_group alone keeps the image's user
        ("", None, 6, "", "0:6"),
    ],
)
def test_user_string(
    username: str, uid: int | None, gid: int | None, image: str, expected: str
) -> None:
    assert user_string(username, uid, gid, image) == expected
