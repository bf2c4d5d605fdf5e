"""The guest's SFTP subsystem: asyncssh's SFTP server confined to the guest's rootfs.

``sshd.py`` starts one per SFTP session. Paths go through ``rootfs.GuestDisk`` (symlinks
resolve inside the rootfs, relative paths start at the user's home like OpenSSH's
``sftp-server``); ownership is the simulated one; the disk-full fault makes writes fail with
``No space left on device``. Extensions come from asyncssh: ``posix-rename@openssh.com``,
``fsync@openssh.com``, ``statvfs@openssh.com``, ``hardlink@openssh.com``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, cast

import asyncssh
from asyncssh import SFTPAttrs, SFTPName
from asyncssh.constants import FXF_APPEND, FXF_CREAT, FXF_EXCL, FXF_READ, FXF_TRUNC, FXF_WRITE

from .rootfs import R_OK, W_OK, Account, GuestDisk, permission_denied

SESSION_UMASK = 0o022


def _not_permitted() -> OSError:
    return OSError(errno.EPERM, os.strerror(errno.EPERM))


class GuestSftpServer(asyncssh.SFTPServer):
    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], disk: GuestDisk, account: Account):
        super().__init__(chan)
        self._disk = disk
        self._account = account
        self._open_files: dict[int, Path] = {}

    # ---- paths ------------------------------------------------------------------------

    def _host(self, path: bytes, *, follow: bool) -> Path:
        text = path.decode(errors="surrogateescape")
        return self._disk.host(text, cwd=self._account.home, follow_last=follow)

    def map_path(self, path: bytes) -> bytes:
        return os.fsencode(self._host(path, follow=False))

    def reverse_map_path(self, path: bytes) -> bytes:
        return self._disk.guest(Path(os.fsdecode(path))).encode()

    def realpath(self, path: bytes) -> bytes:
        return self._disk.guest(self._host(path, follow=True)).encode()

    # ---- attributes -------------------------------------------------------------------

    def _attrs(self, host: Path, st: os.stat_result) -> SFTPAttrs:
        attrs = SFTPAttrs.from_local(st)
        attrs.uid, attrs.gid = self._disk.owner(host)
        return attrs

    def lstat(self, path: bytes) -> SFTPAttrs:
        host = self._host(path, follow=False)
        return self._attrs(host, host.lstat())

    def stat(self, path: bytes) -> SFTPAttrs:
        host = self._host(path, follow=True)
        return self._attrs(host, host.stat())

    def fstat(self, file_obj: object) -> SFTPAttrs:
        handle = cast(IO[bytes], file_obj)
        handle.flush()
        return self._attrs(self._open_files[id(file_obj)], os.fstat(handle.fileno()))

    def _apply(self, host: Path, attrs: SFTPAttrs, *, follow: bool = True) -> None:
        uid, gid = self._disk.owner(host)
        owner_change = (attrs.uid is not None and attrs.uid != uid) or (
            attrs.gid is not None and attrs.gid != gid
        )
        if owner_change:
            if not self._account.is_root:
                raise _not_permitted()
            self._disk.chown(
                host,
                uid if attrs.uid is None else attrs.uid,
                gid if attrs.gid is None else attrs.gid,
            )
        if attrs.permissions is not None and not host.is_symlink():
            if not self._account.is_root and uid != self._account.uid:
                raise _not_permitted()
            os.chmod(host, stat.S_IMODE(attrs.permissions))
        if attrs.size is not None:
            self._disk.require(self._account, host, W_OK)
            if attrs.size > host.stat().st_size:
                self._disk.require_space()
            os.truncate(host, attrs.size)
        if attrs.mtime is not None:
            atime = attrs.atime if attrs.atime is not None else attrs.mtime
            os.utime(host, (atime, attrs.mtime), follow_symlinks=follow)

    def setstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        self._apply(self._host(path, follow=True), attrs)

    def lsetstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        self._apply(self._host(path, follow=False), attrs, follow=False)

    def fsetstat(self, file_obj: object, attrs: SFTPAttrs) -> None:
        cast(IO[bytes], file_obj).flush()
        self._apply(self._open_files[id(file_obj)], attrs)

    # ---- files ------------------------------------------------------------------------

    def open(self, path: bytes, pflags: int, attrs: SFTPAttrs) -> object:
        host = self._host(path, follow=True)
        writing = bool(pflags & FXF_WRITE)
        exists = host.exists()
        if exists and host.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not exists:
            if not pflags & FXF_CREAT:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
            self._disk.require_dir_writable(self._account, host)
        else:
            if pflags & FXF_READ or not writing:
                self._disk.require(self._account, host, R_OK)
            if writing:
                self._disk.require(self._account, host, W_OK)
        flags = os.O_CLOEXEC
        flags |= os.O_RDWR if pflags & FXF_READ and writing else (os.O_WRONLY if writing else 0)
        flags |= os.O_APPEND if pflags & FXF_APPEND else 0
        flags |= os.O_CREAT if pflags & FXF_CREAT else 0
        flags |= os.O_TRUNC if pflags & FXF_TRUNC else 0
        flags |= os.O_EXCL if pflags & FXF_EXCL else 0
        perms = attrs.permissions if attrs.permissions is not None else 0o666
        fd = os.open(host, flags, 0o600)
        if not exists:
            os.fchmod(fd, stat.S_IMODE(perms) & ~SESSION_UMASK)
            self._disk.chown(host, self._account.uid, self._account.gid)
        mode = "r+b" if pflags & FXF_READ and writing else ("wb" if writing else "rb")
        if pflags & FXF_APPEND:
            mode = "ab"
        handle = os.fdopen(fd, mode, buffering=0)
        self._open_files[id(handle)] = host
        return handle

    def close(self, file_obj: object) -> None:
        self._open_files.pop(id(file_obj), None)
        cast(IO[bytes], file_obj).close()

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        self._disk.require_space()
        handle = cast(IO[bytes], file_obj)
        handle.seek(offset)
        return handle.write(data)

    async def scandir(self, path: bytes) -> AsyncIterator[SFTPName]:
        host = self._host(path, follow=True)
        self._disk.require(self._account, host, R_OK)
        for name in (".", "..", *sorted(p.name for p in host.iterdir())):
            entry = host if name in (".", "..") else host / name
            attrs = self._attrs(entry, entry.lstat())
            sftp_name = SFTPName(name.encode(), attrs=attrs)
            self.format_longname(sftp_name)
            yield sftp_name

    def format_user(self, uid: int | None) -> str:
        return "" if uid is None else self._disk.accounts().by_uid(uid)

    def format_group(self, gid: int | None) -> str:
        return "" if gid is None else self._disk.accounts().by_gid(gid)

    # ---- directory entries ------------------------------------------------------------

    def remove(self, path: bytes) -> None:
        host = self._host(path, follow=False)
        self._disk.require_dir_writable(self._account, host)
        host.unlink()
        self._disk.owners.removed(self._disk.guest(host))

    def rmdir(self, path: bytes) -> None:
        host = self._host(path, follow=False)
        self._disk.require_dir_writable(self._account, host)
        host.rmdir()
        self._disk.owners.removed(self._disk.guest(host))

    def mkdir(self, path: bytes, attrs: SFTPAttrs) -> None:
        host = self._host(path, follow=False)
        self._disk.require_dir_writable(self._account, host)
        self._disk.require_space()
        perms = attrs.permissions if attrs.permissions is not None else 0o777
        host.mkdir()
        host.chmod(stat.S_IMODE(perms) & ~SESSION_UMASK)
        self._disk.chown(host, self._account.uid, self._account.gid)

    def _move(self, oldpath: bytes, newpath: bytes, *, replace: bool) -> None:
        src = self._host(oldpath, follow=False)
        dst = self._host(newpath, follow=False)
        self._disk.require_dir_writable(self._account, src)
        self._disk.require_dir_writable(self._account, dst)
        if not replace and (dst.exists() or dst.is_symlink()):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST))
        src_gpath, dst_gpath = self._disk.guest(src), self._disk.guest(dst)
        os.replace(src, dst)
        self._disk.owners.moved(src_gpath, dst_gpath)

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._move(oldpath, newpath, replace=False)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._move(oldpath, newpath, replace=True)

    def readlink(self, path: bytes) -> bytes:
        return os.fsencode(os.readlink(self._host(path, follow=False)))

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        link = self._host(newpath, follow=False)
        self._disk.require_dir_writable(self._account, link)
        os.symlink(os.fsdecode(oldpath), link)
        self._disk.chown(link, self._account.uid, self._account.gid)

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        target = self._host(oldpath, follow=True)
        link = self._host(newpath, follow=False)
        self._disk.require_dir_writable(self._account, link)
        os.link(target, link)


__all__ = ["GuestSftpServer", "permission_denied"]
