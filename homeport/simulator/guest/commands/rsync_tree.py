"""The two halves of a simulated rsync transfer: the sender's file list and data (``pack``)
and the receiver's update of its tree (``mirror``), used by ``rsync.py`` on both guests and
by ``replica.py`` (homeport's receive wrapper) for its staging directory.

The wire format is a tar stream on the ``rsync --server`` exec's stdin rather than rsync's
own protocol: both ends are simulated, and what matters to homeport is what the real tool
guarantees: the receiver runs as the command the target's sshd allows (a forced command
included), files are replaced by rename (a reader never sees half a file), rsync's quick
check (size + mtime) skips unchanged files, ``--delete`` removes what the sender lacks.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path

from homeport.simulator.guest.rootfs import GuestDisk


def pack(source: Path) -> bytes:
    """The source tree (a directory's contents, or one file) as a tar stream."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        if source.is_dir():
            for child in sorted(source.iterdir()):
                archive.add(child, arcname=child.name)
        else:
            archive.add(source, arcname=source.name)
    return buffer.getvalue()


def unpack(payload: bytes, into: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:") as archive:
        archive.extractall(into, filter="tar")


def receive(
    disk: GuestDisk, payload: bytes, dest: Path, *, delete: bool, owner: tuple[int, int]
) -> None:
    """Apply a sender's tar stream to ``dest`` as rsync's receiver would."""
    with tempfile.TemporaryDirectory(prefix="sim-rsync-") as scratch:
        unpack(payload, Path(scratch))
        mirror(disk, Path(scratch), dest, delete=delete, owner=owner)


def mirror(
    disk: GuestDisk, source: Path, dest: Path, *, delete: bool, owner: tuple[int, int]
) -> None:
    """Make ``dest`` a copy of the directory ``source`` (``rsync -a [--delete] SRC/ DEST/``)."""
    disk.require_space()
    if not dest.is_dir():
        if dest.exists() or dest.is_symlink():
            _remove(disk, dest)
        dest.mkdir(parents=True)
        disk.chown(dest, *owner)
    dest.chmod(stat.S_IMODE(source.stat().st_mode))
    names = sorted(p.name for p in source.iterdir())
    for name in names:
        _apply(disk, source / name, dest / name, delete=delete, owner=owner)
    if delete:
        for extra in sorted({p.name for p in dest.iterdir()} - set(names)):
            _remove(disk, dest / extra)


def _apply(disk: GuestDisk, src: Path, dst: Path, *, delete: bool, owner: tuple[int, int]) -> None:
    st = src.lstat()
    if stat.S_ISLNK(st.st_mode):
        if dst.exists() or dst.is_symlink():
            _remove(disk, dst)
        dst.symlink_to(os.readlink(src))
        disk.chown(dst, *owner)
    elif stat.S_ISDIR(st.st_mode):
        mirror(disk, src, dst, delete=delete, owner=owner)
    else:
        _put_file(disk, src, dst, st, owner)


def _put_file(
    disk: GuestDisk, src: Path, dst: Path, st: os.stat_result, owner: tuple[int, int]
) -> None:
    if dst.is_file() and not dst.is_symlink():
        there = dst.stat()
        if there.st_size == st.st_size and int(there.st_mtime) == int(st.st_mtime):
            return  # rsync's quick check: same size and modification time
    if dst.is_dir() and not dst.is_symlink():
        _remove(disk, dst)
    disk.require_space()
    tmp = dst.with_name(f".{dst.name}.rsync-tmp")
    shutil.copyfile(src, tmp)
    tmp.chmod(stat.S_IMODE(st.st_mode))
    os.utime(tmp, (st.st_atime, st.st_mtime))
    tmp.replace(dst)
    disk.chown(dst, *owner)


def _remove(disk: GuestDisk, path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    disk.owners.removed(disk.guest(path))
