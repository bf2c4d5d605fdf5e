"""Files on VMs over the SSH pool: checksums, stat, atomic install, symlink switch.

``ssh.SSHPool`` exposes these as methods; the App reconciler uses them for unit files,
EnvironmentFiles (0600, secret content) and the ``current`` release symlink.

``install_file`` never leaves a half-written file: it compares the remote ``sha256sum``
first (no write when equal), else writes a temp file in the target directory over SFTP
(created 0600, fsynced), sets mode and owner, verifies the temp's checksum, then renames
it over the target (``posix-rename``, atomic within one filesystem). A failure removes the
temp file and leaves the old target untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncssh

from homeport.clients.errors import CommandFailed, RemoteFileError, SSHError
from homeport.clients.secret import Secret

if TYPE_CHECKING:
    from homeport.clients.ssh import SSHPool

_STAT_FORMAT = "%s|%a|%U|%G|%F"


@dataclass(frozen=True)
class RemoteStat:
    """``stat`` of a remote path, not following a final symlink."""

    size: int
    mode: int
    owner: str
    group: str
    type: str  # "regular file", "directory", "symbolic link", ...

    @property
    def is_file(self) -> bool:
        return self.type.startswith("regular")

    @property
    def is_dir(self) -> bool:
        return self.type == "directory"

    @property
    def is_symlink(self) -> bool:
        return self.type == "symbolic link"


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


async def file_sha256(pool: SSHPool, host: str, path: str) -> str | None:
    """The SHA-256 of a remote file, or ``None`` if it does not exist (or is unreadable)."""
    result = await pool.run(host, ["sha256sum", "--", path], check=False, idempotent=True)
    if not result.ok:
        return None
    digest = result.text.split(maxsplit=1)[0] if result.text.strip() else ""
    return digest.lower() or None


async def stat(pool: SSHPool, host: str, path: str) -> RemoteStat | None:
    """``stat -c`` of ``path``; ``None`` if it does not exist."""
    result = await pool.run(
        host, ["stat", "-c", _STAT_FORMAT, "--", path], check=False, idempotent=True
    )
    if not result.ok:
        return None
    size, mode, owner, group, kind = result.text.strip().split("|", 4)
    return RemoteStat(int(size), int(mode, 8), owner, group, kind)


async def read_file(pool: SSHPool, host: str, path: str) -> bytes | None:
    """A remote file's content over SFTP; ``None`` if it does not exist."""

    async def read(sftp: asyncssh.SFTPClient) -> bytes | None:
        try:
            async with sftp.open(path, "rb") as handle:
                data = await handle.read()
        except asyncssh.SFTPNoSuchFile:
            return None
        return data if isinstance(data, bytes) else data.encode()

    return await pool.with_sftp(host, "read", read)


async def read_link(pool: SSHPool, host: str, path: str) -> str | None:
    """A symlink's target; ``None`` if ``path`` is missing or not a symlink."""

    async def read(sftp: asyncssh.SFTPClient) -> str | None:
        try:
            target = await sftp.readlink(path)
        except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPFailure, asyncssh.SFTPBadMessage):
            return None
        return target.decode() if isinstance(target, bytes) else str(target)

    return await pool.with_sftp(host, "readlink", read)


async def install_file(
    pool: SSHPool,
    host: str,
    path: str,
    content: bytes | Secret,
    *,
    mode: int,
    owner: str | None = None,
    group: str | None = None,
) -> bool:
    """Make ``path`` hold ``content`` with ``mode``/``owner``/``group``; ``True`` if changed."""
    data = content.reveal().encode() if isinstance(content, Secret) else content
    digest = sha256_hex(data)
    current = await stat(pool, host, path)
    same_size = current is not None and current.is_file and current.size == len(data)
    if current is not None and same_size and await file_sha256(pool, host, path) == digest:
        return await _fix_attributes(pool, host, path, current, mode, owner, group)
    await _replace(pool, host, path, data, digest, mode=mode, owner=owner, group=group)
    return True


async def _fix_attributes(
    pool: SSHPool,
    host: str,
    path: str,
    current: RemoteStat,
    mode: int,
    owner: str | None,
    group: str | None,
) -> bool:
    changed = False
    if _owner_differs(current, owner, group):
        await pool.run(host, ["chown", _owner_spec(owner, group), "--", path])
        changed = True
    if current.mode != mode:
        await pool.run(host, ["chmod", f"{mode:o}", "--", path])
        changed = True
    return changed


def _owner_differs(current: RemoteStat, owner: str | None, group: str | None) -> bool:
    return (owner is not None and owner != current.owner) or (
        group is not None and group != current.group
    )


def _owner_spec(owner: str | None, group: str | None) -> str:
    return f"{owner or ''}:{group}" if group is not None else str(owner)


async def _replace(
    pool: SSHPool,
    host: str,
    path: str,
    data: bytes,
    digest: str,
    *,
    mode: int,
    owner: str | None,
    group: str | None,
) -> None:
    directory, name = posixpath.split(path)
    tmp = posixpath.join(directory, f".{name}.homeport-{secrets.token_hex(4)}")
    try:
        await _write_temp(pool, host, tmp, data, mode)
        if owner is not None or group is not None:
            await pool.run(host, ["chown", _owner_spec(owner, group), "--", tmp])
        if await file_sha256(pool, host, tmp) != digest:
            raise RemoteFileError(host, path, "checksum of the written temp file does not match")

        async def rename(sftp: asyncssh.SFTPClient) -> None:
            await sftp.posix_rename(tmp, path)

        await pool.with_sftp(host, "rename", rename, idempotent=False)
    except BaseException:
        await _remove_quietly(pool, host, tmp)
        raise


async def _write_temp(pool: SSHPool, host: str, tmp: str, data: bytes, mode: int) -> None:
    directory, name = posixpath.split(tmp)
    stale_prefix = name.rsplit("-", 1)[0] + "-"

    async def write(sftp: asyncssh.SFTPClient) -> None:
        # Temps left by an earlier install whose connection dropped mid-way.
        for entry in await sftp.listdir(directory or "."):
            text = entry.decode() if isinstance(entry, bytes) else str(entry)
            if text.startswith(stale_prefix):
                with contextlib.suppress(asyncssh.SFTPError):
                    await sftp.remove(posixpath.join(directory, text))
        # Created 0600 and exclusively: secret content is never readable by others,
        # not even before the chmod, and a planted file or symlink is never followed.
        attrs = asyncssh.SFTPAttrs(permissions=0o600)
        async with sftp.open(tmp, "xb", attrs) as handle:
            await handle.write(data)
            with contextlib.suppress(asyncssh.SFTPOpUnsupported):
                await handle.fsync()
        await sftp.chmod(tmp, mode)

    await pool.with_sftp(host, "write", write, idempotent=False)


async def _remove_quietly(pool: SSHPool, host: str, tmp: str) -> None:
    async def remove(sftp: asyncssh.SFTPClient) -> None:
        with contextlib.suppress(asyncssh.SFTPError):
            await sftp.remove(tmp)

    with contextlib.suppress(SSHError):
        await pool.with_sftp(host, "remove", remove)


async def switch_symlink(pool: SSHPool, host: str, link: str, target: str) -> bool:
    """Point ``link`` at ``target`` atomically (new link beside it, renamed over it)."""
    if await read_link(pool, host, link) == target:
        return False
    directory, name = posixpath.split(link)
    tmp = posixpath.join(directory, f".{name}.homeport-{secrets.token_hex(4)}")
    try:
        await pool.run(host, ["ln", "-s", "--", target, tmp])

        async def rename(sftp: asyncssh.SFTPClient) -> None:
            await sftp.posix_rename(tmp, link)

        await pool.with_sftp(host, "rename", rename, idempotent=False)
    except BaseException:
        await _remove_quietly(pool, host, tmp)
        raise
    return True


async def make_dir(
    pool: SSHPool,
    host: str,
    path: str,
    *,
    mode: int = 0o755,
    owner: str | None = None,
    group: str | None = None,
) -> bool:
    """Ensure a directory (and its parents) with ``mode``/``owner``; ``True`` if changed."""
    current = await stat(pool, host, path)
    if current is not None and not current.is_dir:
        raise CommandFailed(host, ["mkdir", path], 1, f"{path} exists and is not a directory")
    if current is None:
        await pool.run(host, ["mkdir", "-p", "-m", f"{mode:o}", "--", path], idempotent=True)
        current = await stat(pool, host, path)
        if current is None:
            raise RemoteFileError(host, path, "directory missing right after mkdir")
        await _fix_attributes(pool, host, path, current, mode, owner, group)
        return True
    return await _fix_attributes(pool, host, path, current, mode, owner, group)
