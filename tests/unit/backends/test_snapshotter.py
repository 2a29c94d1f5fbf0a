"""The overlay snapshotter: chain IDs, unpacking (and refusing hostile layers), whiteouts,
reuse, garbage collection, and container rootfs by overlay mount or by copy.

Layers are built here with tarfile in memory. Unpacking needs root (owners, devices, trusted
xattrs), as does the real overlay mount; those tests are skipped without it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from crio_py.backends import _exec, mountapi, snapshotter
from crio_py.backends.layers import LayerError, LayerRef
from crio_py.backends.snapshotter import OverlaySnapshotter, chain_ids
from crio_py.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    IntegrityError,
    InvalidArgumentError,
    UnavailableError,
)

OCI_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MTIME = 1_600_000_000
ESCAPE_PROBE = "crio-py-escape-probe"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="unpacking needs root")

Entry = tuple[tarfile.TarInfo, bytes]


def entry(
    name: str,
    kind: bytes = tarfile.REGTYPE,
    *,
    data: bytes = b"",
    mode: int = 0o644,
    owner: tuple[int, int] = (0, 0),
    link: str = "",
    device: tuple[int, int] = (0, 0),
    xattrs: dict[str, str] | None = None,
    mtime: int = MTIME,
) -> Entry:
    """One archive member."""
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.linkname = kind, mode, mtime, link
    info.uid, info.gid = owner
    info.devmajor, info.devminor = device
    info.size = len(data)
    if xattrs:
        info.pax_headers = {f"SCHILY.xattr.{key}": value for key, value in xattrs.items()}
    return info, data


def directory(
    name: str, *, mode: int = 0o755, owner: tuple[int, int] = (0, 0), mtime: int = MTIME
) -> Entry:
    return entry(name, tarfile.DIRTYPE, mode=mode, owner=owner, mtime=mtime)


def symlink(name: str, target: str) -> Entry:
    return entry(name, tarfile.SYMTYPE, mode=0o777, link=target)


def hardlink(name: str, target: str) -> Entry:
    return entry(name, tarfile.LNKTYPE, link=target)


def make_layer(
    blobs: Path, entries: Sequence[Entry], *, media_type: str = OCI_TAR, diff_id: str | None = None
) -> LayerRef:
    """Write a layer blob as the content store would hold it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    raw = buffer.getvalue()
    blob = raw if media_type == OCI_TAR else gzip.compress(raw, mtime=0)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    blobs.mkdir(parents=True, exist_ok=True)
    path = blobs / digest.removeprefix("sha256:")
    path.write_bytes(blob)
    return LayerRef(
        digest=digest,
        diff_id=diff_id or "sha256:" + hashlib.sha256(raw).hexdigest(),
        media_type=media_type,
        blob_path=path,
    )


def mount_points() -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        return [line.split()[4] for line in info]


def listing(top: Path) -> dict[str, tuple[object, ...]]:
    """Everything below `top` that a container would see: type, mode, owner, mtime, content."""
    result: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in (*dirnames, *filenames):
            path = Path(dirpath, name)
            info = os.lstat(path)
            content: object = None
            if stat.S_ISREG(info.st_mode):
                content = path.read_bytes()
            elif stat.S_ISLNK(info.st_mode):
                content = os.readlink(path)
            elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
                content = info.st_rdev
            xattrs = sorted(os.listxattr(path, follow_symlinks=False))
            result[str(path.relative_to(top))] = (
                stat.S_IFMT(info.st_mode),
                stat.S_IMODE(info.st_mode),
                info.st_uid,
                info.st_gid,
                info.st_mtime_ns,
                content,
                xattrs,
            )
    return result


def all_paths(top: Path) -> set[Path]:
    return {Path(d, n) for d, dirs, files in os.walk(top) for n in (*dirs, *files)}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def blobs(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
async def snap(root: Path, tmp_path: Path) -> AsyncIterator[OverlaySnapshotter]:
    """The snapshotter under test; afterwards no mount below tmp_path may be left behind."""
    yield OverlaySnapshotter(root)
    leaked = [p for p in mount_points() if p.startswith(str(tmp_path.resolve()))]
    for point in reversed(leaked):
        await _exec.run(["umount", "-l", point])
    assert not leaked, f"mounts left behind: {leaked}"


def test_chain_ids_match_values_computed_with_sha256sum() -> None:
    a = "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
    b = "sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
    c = "sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"
    # printf '%s %s' "$a" "$b" | sha256sum, then the same with that result and $c
    ab = "sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676"
    abc = "sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106"
    assert chain_ids([a, b, c]) == [a, ab, abc]
    assert chain_ids([a]) == [a]
    assert chain_ids([]) == []


@needs_root
async def test_unpack_keeps_types_modes_owners_times_and_xattrs(
    snap: OverlaySnapshotter, blobs: Path, root: Path
) -> None:
    layer = make_layer(
        blobs,
        [
            directory("./", mode=0o755),
            directory("etc", mode=0o750, owner=(1, 2), mtime=MTIME + 5),
            entry(
                "etc/conf",
                data=b"key=1\n",
                mode=0o640,
                owner=(1000, 1001),
                xattrs={"user.note": "hello", "trusted.crio-py": "t"},
            ),
            entry("bin/tool", data=b"#!", mode=0o4755, owner=(0, 50)),
            symlink("etc/link", "/etc/conf"),
            hardlink("etc/hard", "etc/conf"),
            entry("dev/null", tarfile.CHRTYPE, mode=0o666, device=(1, 3)),
            entry("dev/loop0", tarfile.BLKTYPE, mode=0o660, owner=(0, 6), device=(7, 0)),
            entry("run/fifo", tarfile.FIFOTYPE, mode=0o600),
            entry("/abs/name", data=b"made relative"),
        ],
    )
    [fs] = await snap.prepare([layer])
    assert fs == root.resolve() / "snapshots" / layer.diff_id.removeprefix("sha256:") / "fs"

    conf = os.lstat(fs / "etc/conf")
    assert (stat.S_IMODE(conf.st_mode), conf.st_uid, conf.st_gid) == (0o640, 1000, 1001)
    assert ((fs / "etc/conf").read_bytes(), conf.st_mtime_ns) == (b"key=1\n", MTIME * 10**9)
    assert os.getxattr(fs / "etc/conf", "user.note") == b"hello"
    assert os.getxattr(fs / "etc/conf", "trusted.crio-py") == b"t"
    etc = os.lstat(fs / "etc")
    assert (stat.S_IMODE(etc.st_mode), etc.st_uid, etc.st_gid) == (0o750, 1, 2)
    assert etc.st_mtime_ns == (MTIME + 5) * 10**9  # kept although entries were added later
    tool = os.lstat(fs / "bin/tool")
    assert (stat.S_IMODE(tool.st_mode), tool.st_gid) == (0o4755, 50)
    assert os.readlink(fs / "etc/link") == "/etc/conf"
    assert os.lstat(fs / "etc/hard").st_ino == conf.st_ino
    assert os.lstat(fs / "etc/conf").st_nlink == 2
    null, loop = os.lstat(fs / "dev/null"), os.lstat(fs / "dev/loop0")
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(null.st_mode) == 0o666
    assert stat.S_ISBLK(loop.st_mode) and loop.st_rdev == os.makedev(7, 0) and loop.st_gid == 6
    assert stat.S_ISFIFO(os.lstat(fs / "run/fifo").st_mode)
    assert stat.S_IMODE(os.lstat(fs / "bin").st_mode) == 0o755  # implied parent
    assert (fs / "abs/name").read_bytes() == b"made relative"


@needs_root
@pytest.mark.parametrize("media_type", [OCI_TAR, OCI_GZIP, DOCKER_GZIP])
async def test_each_supported_media_type_unpacks(
    snap: OverlaySnapshotter, blobs: Path, media_type: str
) -> None:
    layer = make_layer(blobs, [entry("hello", data=b"world")], media_type=media_type)
    [fs] = await snap.prepare([layer])
    assert (fs / "hello").read_bytes() == b"world"


@needs_root
async def test_whiteouts_become_overlay_whiteouts(snap: OverlaySnapshotter, blobs: Path) -> None:
    layer = make_layer(
        blobs,
        [
            entry(".wh.gone", owner=(0, 0)),
            directory("dir"),
            entry("dir/.wh..wh..opq"),
            entry("dir/new", data=b"n"),
            entry("sub/.wh.old"),
            entry(".wh..wh.plnk"),
        ],
    )
    [fs] = await snap.prepare([layer])
    gone = os.lstat(fs / "gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == os.makedev(0, 0)
    assert stat.S_ISCHR(os.lstat(fs / "sub/old").st_mode)
    assert os.getxattr(fs / "dir", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(fs)) == ["dir", "gone", "sub"]
    assert sorted(os.listdir(fs / "dir")) == ["new"]


@needs_root
async def test_a_diff_id_mismatch_is_corrupt_data(
    snap: OverlaySnapshotter, blobs: Path, root: Path
) -> None:
    wrong = "sha256:" + "0" * 64
    layer = make_layer(blobs, [entry("f", data=b"x")], media_type=OCI_GZIP, diff_id=wrong)
    with pytest.raises(IntegrityError, match="does not match diff ID"):
        await snap.prepare([layer])
    assert os.listdir(root / "snapshots") == []


async def test_unsupported_media_types_are_invalid_arguments(
    snap: OverlaySnapshotter, blobs: Path, root: Path
) -> None:
    layer = make_layer(blobs, [entry("f")])
    zstd = LayerRef(layer.digest, layer.diff_id, OCI_TAR + "+zstd", layer.blob_path)
    with pytest.raises(InvalidArgumentError, match=r"unsupported media type .*\+zstd"):
        await snap.prepare([zstd])
    assert not root.exists()


@needs_root
async def test_a_corrupt_blob_is_a_layer_error(
    snap: OverlaySnapshotter, blobs: Path, root: Path
) -> None:
    layer = make_layer(blobs, [entry("f", data=b"x" * 1000)], media_type=OCI_GZIP)
    layer.blob_path.write_bytes(layer.blob_path.read_bytes()[:30])
    with pytest.raises(LayerError, match="cannot unpack"):
        await snap.prepare([layer])
    assert os.listdir(root / "snapshots") == []


HOSTILE: dict[str, tuple[list[Entry], str]] = {
    "dot-dot": ([entry("../x", data=b"bad")], "escapes the layer directory"),
    "dot-dot-inside": ([entry("a/../../x", data=b"bad")], "escapes the layer directory"),
    "absolute-dot-dot": ([entry("/../../x", data=b"bad")], "escapes the layer directory"),
    "symlink-to-root": (
        [symlink("link", "/"), entry(f"link/{ESCAPE_PROBE}", data=b"bad")],
        "would write through the symlink 'link'",
    ),
    "symlink-up": (
        [symlink("link", "../.."), entry("link/x", data=b"bad")],
        "would write through the symlink 'link'",
    ),
    "dir-replaced-by-symlink": (
        [directory("d"), symlink("d", "/"), entry(f"d/{ESCAPE_PROBE}", data=b"bad")],
        "would write through the symlink 'd'",
    ),
    "hardlink-out": ([hardlink("passwd", "../../etc/passwd")], "escapes the layer directory"),
    "hardlink-missing": ([hardlink("h", "missing")], "which is not in the layer"),
    "hardlink-through-symlink": (
        [symlink("etc", "/etc"), hardlink("passwd", "etc/passwd")],
        "symlink 'etc'",
    ),
}


@needs_root
@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_entries_are_rejected_and_leave_nothing(
    snap: OverlaySnapshotter, blobs: Path, root: Path, tmp_path: Path, case: str
) -> None:
    entries, problem = HOSTILE[case]
    layer = make_layer(blobs, [entry("ok", data=b"partial"), *entries])
    before = all_paths(tmp_path)
    with pytest.raises(LayerError, match=problem) as caught:
        await snap.prepare([layer])
    assert repr(entries[-1][0].name) in str(caught.value)  # names the entry
    assert os.listdir(root / "snapshots") == []  # partial snapshot removed
    assert all_paths(tmp_path) - before == {root, root / "snapshots"}
    assert not Path("/", ESCAPE_PROBE).exists()


@needs_root
async def test_entries_replace_symlinks_instead_of_following_them(
    snap: OverlaySnapshotter, blobs: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    (outside / "file").write_bytes(b"host")
    layer = make_layer(
        blobs,
        [
            symlink("dir", str(outside)),
            directory("dir", mode=0o700, owner=(5, 5)),
            symlink("file", str(outside / "file")),
            entry("file", data=b"layer", mode=0o600, owner=(5, 5)),
            symlink("gone", str(outside / "file")),
            entry(".wh.gone"),
            symlink("target", str(outside / "file")),
            hardlink("linked", "target"),
        ],
    )
    [fs] = await snap.prepare([layer])
    assert stat.S_ISDIR(os.lstat(fs / "dir").st_mode)
    assert (fs / "file").read_bytes() == b"layer" and not (fs / "file").is_symlink()
    assert stat.S_ISCHR(os.lstat(fs / "gone").st_mode)
    assert os.lstat(fs / "linked").st_ino == os.lstat(fs / "target").st_ino  # the symlink itself
    assert (outside / "file").read_bytes() == b"host"
    info = os.lstat(outside)
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o755, 0)
    assert os.lstat(outside / "file").st_uid == 0


@needs_root
async def test_an_unpacked_chain_is_reused(
    snap: OverlaySnapshotter, blobs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unpacked: list[str] = []
    real_unpack = snapshotter.unpack_layer

    def counting_unpack(layer: LayerRef, fs_dir: Path) -> None:
        unpacked.append(layer.digest)
        real_unpack(layer, fs_dir)

    monkeypatch.setattr(snapshotter, "unpack_layer", counting_unpack)
    base = make_layer(blobs, [entry("base", data=b"0")])
    top = make_layer(blobs, [entry("top", data=b"1")], media_type=OCI_GZIP)
    lowers = await snap.prepare([base, top])
    inodes = [os.lstat(lower).st_ino for lower in lowers]
    base.blob_path.unlink()
    top.blob_path.unlink()  # any attempt to unpack again would fail now
    assert await snap.prepare([base, top]) == lowers
    assert [os.lstat(lower).st_ino for lower in lowers] == inodes
    assert sorted(unpacked) == sorted([base.digest, top.digest])  # unpacked side by side

    other = make_layer(blobs, [entry("other", data=b"2")])
    again = await snap.prepare([base, other])  # only the new chain is unpacked
    assert again[0] == lowers[0] and (again[1] / "other").exists()
    assert sorted(unpacked) == sorted([base.digest, top.digest, other.digest])
    assert snap.snapshot_ids() == {
        *chain_ids([base.diff_id, top.diff_id]),
        *chain_ids([base.diff_id, other.diff_id]),
    }


@needs_root
async def test_the_same_layer_on_another_base_is_another_snapshot(
    snap: OverlaySnapshotter, blobs: Path
) -> None:
    first = make_layer(blobs, [entry("a")])
    second = make_layer(blobs, [entry("b")])
    shared = make_layer(blobs, [entry("shared")])
    one = await snap.prepare([first, shared])
    two = await snap.prepare([second, shared])
    assert one[1] != two[1] and len(snap.snapshot_ids()) == 4


@needs_root
async def test_snapshots_can_be_listed_and_removed(
    snap: OverlaySnapshotter, blobs: Path, root: Path
) -> None:
    assert snap.snapshot_ids() == set()
    layer = make_layer(blobs, [entry("f", data=b"x")])
    await snap.prepare([layer])
    assert snap.snapshot_ids() == {layer.diff_id}
    snap.remove_snapshot(layer.diff_id)
    snap.remove_snapshot(layer.diff_id)  # already gone: fine
    assert snap.snapshot_ids() == set()
    assert os.listdir(root / "snapshots") == []
    with pytest.raises(InvalidArgumentError, match="invalid chain ID"):
        snap.remove_snapshot("sha256:../../etc")


@needs_root
async def test_a_detached_snapshot_is_gone_at_once_and_deleted_later(
    snap: OverlaySnapshotter, blobs: Path, root: Path
) -> None:
    layer = make_layer(blobs, [entry("f", data=b"x")])
    await snap.prepare([layer])
    doomed = snap.detach_snapshot(layer.diff_id)
    assert doomed is not None and doomed.name.startswith(".removing-")
    assert snap.snapshot_ids() == set()
    assert snap.detach_snapshot(layer.diff_id) is None
    snap.remove_incomplete()  # what a crash before the deletion leaves
    assert os.listdir(root / "snapshots") == []


@needs_root
async def test_interrupted_work_is_cleaned_up(
    snap: OverlaySnapshotter, blobs: Path, root: Path
) -> None:
    layer = make_layer(blobs, [entry("f")])
    await snap.prepare([layer])
    (root / "snapshots/.tmp-crashed/fs").mkdir(parents=True)
    (root / "snapshots/.removing-crashed").mkdir()
    half = root / "snapshots" / ("1" * 64)
    half.mkdir()  # no fs/: not a snapshot
    assert snap.snapshot_ids() == {layer.diff_id}
    snap.remove_incomplete()
    assert sorted(os.listdir(root / "snapshots")) == sorted([layer.diff_id[7:], "1" * 64])


@needs_root
async def test_usage_counts_each_inode_once(snap: OverlaySnapshotter, blobs: Path) -> None:
    assert snap.usage() == (0, 0)
    data = os.urandom(20_000)
    await snap.prepare([make_layer(blobs, [entry("big", data=data), hardlink("again", "big")])])
    used, inodes = snap.usage()
    assert inodes == 3  # <chain>/, fs/, and big (again is the same inode)
    assert 20_000 <= used < 20_000 + 3 * 64 * 1024


@needs_root
async def test_usage_comes_from_a_cache_kept_current(
    snap: OverlaySnapshotter, blobs: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ImageFsInfo is polled: each snapshot is measured once, when it is unpacked or (for
    those already there) on the first call, and forgotten when it is removed."""
    first = make_layer(blobs, [entry("one", data=os.urandom(10_000))])
    second = make_layer(blobs, [entry("two", data=os.urandom(30_000))])
    await snap.prepare([first])
    measured = snap.usage()
    reopened = OverlaySnapshotter(root)
    assert reopened.usage() == measured  # walked once, on the first call
    walks: list[Path] = []
    real = snapshotter._tree_usage

    def counted(top: Path) -> tuple[int, int]:
        walks.append(top)
        return real(top)

    monkeypatch.setattr(snapshotter, "_tree_usage", counted)
    assert reopened.usage() == measured and walks == []
    await reopened.prepare([first, second])
    assert len(walks) == 1  # the new snapshot only
    both = reopened.usage()
    assert both[0] >= measured[0] + 30_000 and both[1] == measured[1] + 3
    doomed = reopened.detach_snapshot(first.diff_id)
    assert doomed is not None
    assert reopened.usage() == (both[0] - measured[0], both[1] - measured[1])
    assert len(walks) == 1


def two_layers(blobs: Path) -> list[LayerRef]:
    """A base and a layer that deletes, makes opaque, replaces and adds."""
    base = make_layer(
        blobs,
        [
            directory("a"),
            entry("a/keep", data=b"k"),
            entry("a/gone", data=b"g"),
            directory("opq"),
            entry("opq/old", data=b"o"),
            directory("dir-gone"),
            entry("dir-gone/x"),
            entry("file-then-dir", data=b"f"),
            symlink("lib", "usr/lib"),
            entry("conf", data=b"c", mode=0o600, owner=(7, 8), xattrs={"user.k": "v"}),
            hardlink("conf-link", "conf"),
            entry("dev/zero", tarfile.CHRTYPE, mode=0o666, device=(1, 5)),
        ],
    )
    top = make_layer(
        blobs,
        [
            directory("a", mtime=MTIME + 1),
            entry("a/.wh.gone"),
            directory("opq", mode=0o700),
            entry("opq/.wh..wh..opq"),
            entry("opq/new", data=b"n"),
            entry(".wh.dir-gone"),
            directory("file-then-dir"),
            entry("file-then-dir/inner", data=b"i"),
            directory("lib"),
            entry("lib/libc.so", data=b"elf"),
        ],
        media_type=OCI_GZIP,
    )
    return [base, top]


def overlay_supported() -> bool:
    return os.geteuid() == 0 and "overlay" in Path("/proc/filesystems").read_text()


@pytest.mark.skipif(not overlay_supported(), reason="needs root and overlayfs")
async def test_overlay_rootfs_applies_whiteouts_and_unmounts_cleanly(
    snap: OverlaySnapshotter, blobs: Path, root: Path
) -> None:
    lowers = await snap.prepare(two_layers(blobs))
    rootfs = await snap.mount_rootfs("c1", lowers)
    container = root.resolve() / "containers/c1"
    assert rootfs == container / "rootfs"
    assert str(rootfs) in mount_points()
    assert (container / "mode").read_text() == "overlay\n"

    assert sorted(os.listdir(rootfs / "a")) == ["keep"]  # whiteout deletes
    assert sorted(os.listdir(rootfs / "opq")) == ["new"]  # opaque hides the lower dir
    assert not (rootfs / "dir-gone").exists()
    assert (rootfs / "file-then-dir/inner").read_bytes() == b"i"
    assert not (rootfs / "lib").is_symlink()
    assert (rootfs / "conf").read_bytes() == b"c"
    (rootfs / "written").write_bytes(b"w")
    (rootfs / "a/keep").unlink()
    assert (container / "upper/written").read_bytes() == b"w"
    assert (lowers[0] / "a/keep").exists()  # lowers are never changed
    assert stat.S_ISCHR(os.lstat(container / "upper/a/keep").st_mode)

    with pytest.raises(FailedPreconditionError, match="mounted rootfs"):
        snap.remove_snapshot(snap_id(lowers[0]))
    with pytest.raises(AlreadyExistsError):
        await snap.mount_rootfs("c1", lowers)

    await snap.unmount_rootfs("c1")
    assert not any(point.startswith(str(container)) for point in mount_points())
    assert not container.exists()
    await snap.unmount_rootfs("c1")  # idempotent
    await snap.unmount_rootfs("never-created")
    snap.remove_snapshot(snap_id(lowers[0]))  # no longer in use


def snap_id(lower: Path) -> str:
    return "sha256:" + lower.parent.name


@pytest.mark.skipif(not overlay_supported(), reason="needs root and overlayfs")
async def test_copy_fallback_gives_the_same_tree_as_overlay(
    snap: OverlaySnapshotter, blobs: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lowers = await snap.prepare(two_layers(blobs))
    merged = listing(await snap.mount_rootfs("by-overlay", lowers))

    real_mount, seen = mountapi.mount, []

    def overlay_refused(source: str, target: Path, fstype: str, data: str, flags: int = 0) -> None:
        seen.append([fstype, data, str(target)])
        if fstype == "overlay":
            raise UnavailableError(f"mount overlay on {target}: No such device")
        real_mount(source, target, fstype, data, flags)

    monkeypatch.setattr(mountapi, "mount", overlay_refused)
    rootfs = await snap.mount_rootfs("by-copy", lowers)
    container = root.resolve() / "containers/by-copy"
    assert seen == [
        [
            "overlay",
            f"lowerdir={lowers[1]}:{lowers[0]},upperdir={container}/upper,workdir={container}/work",
            str(rootfs),
        ]
    ]
    assert (container / "mode").read_text() == "copy\n"
    assert str(rootfs) not in mount_points()
    assert listing(rootfs) == merged
    assert os.lstat(rootfs / "conf").st_ino == os.lstat(rootfs / "conf-link").st_ino

    await snap.unmount_rootfs("by-copy")
    assert not container.exists() and len(seen) == 1  # nothing was mounted, nothing to unmount
    monkeypatch.undo()
    await snap.unmount_rootfs("by-overlay")


@needs_root
async def test_a_failed_rootfs_is_cleaned_up(
    snap: OverlaySnapshotter, root: Path, tmp_path: Path
) -> None:
    odd = tmp_path / "lower,with,commas"
    odd.mkdir()
    with pytest.raises(InvalidArgumentError, match="overlay cannot use the path"):
        await snap.mount_rootfs("c1", [odd])
    assert os.listdir(root / "containers") == []
    with pytest.raises(InvalidArgumentError, match="invalid container id"):
        await snap.mount_rootfs("../escape", [odd])


@pytest.mark.skipif(not overlay_supported(), reason="needs root and overlayfs")
async def test_an_image_without_layers_gets_an_empty_rootfs(snap: OverlaySnapshotter) -> None:
    rootfs = await snap.mount_rootfs("empty", [])
    assert os.listdir(rootfs) == []
    await snap.unmount_rootfs("empty")


def test_writable_usage_and_rootfs_ids(tmp_path: Path) -> None:
    container_id = "c" * 64
    upper = tmp_path / "containers" / container_id / "upper"
    (upper / "a").mkdir(parents=True)
    (upper / "a" / "f").write_bytes(b"x" * 10000)
    snapshots = OverlaySnapshotter(tmp_path)
    used, inodes = snapshots.writable_usage(container_id)
    assert inodes == 2 and used >= 10000
    assert snapshots.rootfs_ids() == {container_id}
    assert OverlaySnapshotter(tmp_path / "empty").rootfs_ids() == set()
