"""The container's user: a CRI or image user string resolved against the image's own
/etc/passwd and /etc/group, as containerd's `oci.WithUser` / `WithAdditionalGIDs` do.

This is the only module of ocispec that reads the image's root filesystem, and it reads only
those two files, resolving symlinks as if the rootfs were `/` so that none can lead out of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from crio_py.errors import InvalidArgumentError, quote
from crio_py.fsutil import resolve_in_root

# runc requires ids <= MaxInt32 (containerd enforces the same bound).
MAX_ID: Final = 2**31 - 1


@dataclass(frozen=True)
class PasswdEntry:
    """One /etc/passwd line."""

    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class GroupEntry:
    """One /etc/group line."""

    name: str
    gid: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class ResolvedUser:
    """process.user of an OCI spec."""

    uid: int
    gid: int
    additional_gids: tuple[int, ...]

    def to_json(self) -> dict[str, object]:
        """The spec's `process.user` object."""
        return {"uid": self.uid, "gid": self.gid, "additionalGids": list(self.additional_gids)}


def user_string(username: str, uid: int | None, gid: int | None, image_user: str) -> str:
    """The user to resolve: CRI run_as_username, else run_as_user, else the image's User;
    run_as_group replaces the group part. A container's group without a user is refused
    before this (`container_spec`); the sandbox's keeps the image's user."""
    user = username or (str(uid) if uid is not None else "") or image_user
    if gid is None:
        return user
    return f"{user.split(':', 1)[0] or '0'}:{gid}"


def resolve_user(
    rootfs: Path, user: str, *, supplemental: Sequence[int] = (), merge_image_groups: bool = True
) -> ResolvedUser:
    """Resolve `user` ("name", "uid", "name:group", "uid:gid", …; empty means root) in the
    image. A numeric uid missing from /etc/passwd gets gid 0; a missing name is an error.
    Additional gids: the primary gid, the groups that list the user in /etc/group (unless the
    CRI policy is Strict), and `supplemental`, sorted without duplicates as containerd does."""
    if user.count(":") > 1:
        raise InvalidArgumentError(f"invalid user {user!r}: expected user[:group]")
    user_part, _, group_part = user.partition(":")
    passwd = read_passwd(rootfs)
    entry = _find_user(passwd, user_part or "0", user)
    uid = entry.uid if entry else _parse_id(user_part or "0", user)
    gid = entry.gid if entry and not group_part else 0
    if group_part:
        gid = _resolve_group(rootfs, group_part, user)
    gids = {gid, *(_check_id(g, user) for g in supplemental)}
    if merge_image_groups and entry is not None:
        name = entry.name
        gids.update(g.gid for g in read_group(rootfs) if name in g.members and g.name != name)
    return ResolvedUser(uid=uid, gid=gid, additional_gids=tuple(sorted(gids)))


def _find_user(passwd: Iterable[PasswdEntry], user_part: str, user: str) -> PasswdEntry | None:
    if user_part.isdigit():
        uid = _parse_id(user_part, user)
        return next((e for e in passwd if e.uid == uid), None)
    found = next((e for e in passwd if e.name == user_part), None)
    if found is None:
        raise InvalidArgumentError(f"user {quote(user_part)} is not in the image's /etc/passwd")
    return found


def _resolve_group(rootfs: Path, group_part: str, user: str) -> int:
    if group_part.isdigit():
        return _parse_id(group_part, user)
    found = next((g for g in read_group(rootfs) if g.name == group_part), None)
    if found is None:
        raise InvalidArgumentError(f"group {quote(group_part)} is not in the image's /etc/group")
    return found.gid


def _parse_id(text: str, user: str) -> int:
    if not text.isdigit():
        raise InvalidArgumentError(f"invalid user {quote(user)}")
    return _check_id(int(text), user)


def _check_id(value: int, user: str) -> int:
    if not 0 <= value <= MAX_ID:
        raise InvalidArgumentError(f"invalid user {quote(user)}: id {value} out of range")
    return value


def read_passwd(rootfs: Path) -> list[PasswdEntry]:
    """The image's /etc/passwd entries (none if the file is missing); bad lines are skipped."""
    entries = []
    for fields in _records(rootfs, "etc/passwd", minimum=4):
        if fields[2].isdigit() and fields[3].isdigit():
            entries.append(PasswdEntry(fields[0], int(fields[2]), int(fields[3])))
    return entries


def read_group(rootfs: Path) -> list[GroupEntry]:
    """The image's /etc/group entries (none if the file is missing); bad lines are skipped."""
    entries = []
    for fields in _records(rootfs, "etc/group", minimum=3):
        if fields[2].isdigit():
            members = fields[3].split(",") if len(fields) > 3 else []
            entries.append(
                GroupEntry(fields[0], int(fields[2]), tuple(m.strip() for m in members if m))
            )
    return entries


def _records(rootfs: Path, relative: str, *, minimum: int) -> list[list[str]]:
    try:
        path = resolve_in_root(rootfs, relative)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot resolve /{relative} in the image: {exc}") from exc
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return []
    records = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            fields = line.split(":")
            if len(fields) >= minimum and fields[0]:
                records.append(fields)
    return records
