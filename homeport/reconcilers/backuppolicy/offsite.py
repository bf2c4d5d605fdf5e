"""Offsite copies of one archive, verified by checksum at both ends.

``act`` calls ``copy_archive`` for a ``CopyArchive`` action. The archive's path comes from
PVE (``GET .../content/{volid}``); its SHA-256 is computed on the node holding it (over
SSH, the node's root shell). To an S3 bucket: ``s3copy.py`` (restic). To another Proxmox storage: ``cp`` on that node into the
storage's ``dump`` directory as ``<name>.partial``. To an SSH directory: streamed over SFTP
from the node through the control plane to ``<dir>/<vm>/<name>.partial``. Then the copy's
SHA-256 is computed where it landed; only when both match is it renamed into place (and,
over SSH, a ``<name>.sha256`` written beside it for offline checks). A mismatch removes the
partial file. Every outcome is recorded in the store (``record_backup``); failures are
reported by the plan and retried with backoff, never raised.
"""

from __future__ import annotations

import posixpath

import asyncssh

from homeport.clients.errors import ProxmoxError, SSHError
from homeport.clients.ssh import SSHPool
from homeport.reconcilers.backuppolicy.actions import CopyArchive
from homeport.reconcilers.backuppolicy.copying import CHUNK, CopyOutcome
from homeport.reconcilers.backuppolicy.observe import BackupSettings
from homeport.reconcilers.backuppolicy.s3copy import copy_to_s3
from homeport.reconcilers.base import ClientAccess

__all__ = ["CopyOutcome", "copy_archive", "stream"]


async def copy_archive(
    action: CopyArchive, ctx: ClientAccess, settings: BackupSettings
) -> CopyOutcome:
    px = ctx.clients.proxmox
    ssh = ctx.clients.ssh
    try:
        info = await px.backups.volume(action.node, action.storage, action.volid)
        if info is None:
            return CopyOutcome("failed", error=f"{action.volid} is gone from {action.node}")
        source = await ssh.file_sha256(action.node_host, info.path)
        if source is None:
            return CopyOutcome("failed", error=f"cannot read {info.path} on {action.node}")
        name = posixpath.basename(info.path)
        if action.target.kind == "s3":
            outcome = await copy_to_s3(ssh, action, info.path, source, settings)
        elif action.target.kind == "storage":
            outcome = await _to_storage(ssh, action, info.path, name, source)
        else:
            outcome = await _over_ssh(ssh, action, info.path, name, source)
    except (SSHError, ProxmoxError) as exc:
        return CopyOutcome("failed", error=str(exc)[:300])
    return outcome


async def _to_storage(
    ssh: SSHPool, action: CopyArchive, path: str, name: str, source: str
) -> CopyOutcome:
    host, directory = action.node_host, action.target.directory or ""
    final = f"{directory}/{name}"
    if await ssh.file_sha256(host, final) == source:
        return CopyOutcome("verified", source, source)
    partial = f"{final}.partial"
    copied = await ssh.run(host, ["cp", "--", path, partial], check=False, timeout=3600)
    if not copied.ok:
        await ssh.run(host, ["rm", "-f", "--", partial], check=False)
        error = copied.stderr.decode(errors="replace").strip()[:300]
        return CopyOutcome("failed", source, error=error or f"cp exited {copied.exit_status}")
    return await _settle(ssh, host, partial, final, source)


async def _over_ssh(
    ssh: SSHPool, action: CopyArchive, path: str, name: str, source: str
) -> CopyOutcome:
    host = action.target.host or ""
    directory = f"{action.target.directory}/{action.vm}"
    final = f"{directory}/{name}"
    if await ssh.file_sha256(host, final) == source:
        return CopyOutcome("verified", source, source)
    await ssh.run(host, ["mkdir", "-p", "--", directory])
    partial = f"{final}.partial"
    await stream(ssh, action.node_host, path, host, partial)
    outcome = await _settle(ssh, host, partial, final, source)
    if outcome.state == "verified":
        await ssh.install_file(host, f"{final}.sha256", f"{source}  {name}\n".encode(), mode=0o644)
    return outcome


async def _settle(ssh: SSHPool, host: str, partial: str, final: str, source: str) -> CopyOutcome:
    """Keep the copy only if its checksum matches the source's."""
    copied = await ssh.file_sha256(host, partial)
    if copied != source:
        await ssh.run(host, ["rm", "-f", "--", partial], check=False)
        return CopyOutcome(
            "mismatch",
            source,
            copied,
            error=f"sha256 at the source {source[:16]}…, at the destination {(copied or 'none')[:16]}…",
        )
    await ssh.run(host, ["mv", "-f", "--", partial, final])
    return CopyOutcome("verified", source, copied)


async def stream(ssh: SSHPool, src_host: str, src: str, dst_host: str, dst: str) -> None:
    """Copy a file between two hosts over SFTP, through this process, in chunks."""

    async def from_source(reader_sftp: asyncssh.SFTPClient) -> None:
        async def to_destination(writer_sftp: asyncssh.SFTPClient) -> None:
            async with (
                reader_sftp.open(src, "rb") as reader,
                writer_sftp.open(dst, "wb") as writer,
            ):
                while chunk := await reader.read(CHUNK):
                    await writer.write(chunk)

        await ssh.with_sftp(dst_host, "write-archive-copy", to_destination)

    await ssh.with_sftp(src_host, "read-archive", from_source)
