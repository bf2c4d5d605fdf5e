"""The S3 offsite: one archive into a restic repository, encrypted here, verified by reading back.

Runs on the control plane, like the SSH offsite: the archive is streamed over SFTP from
the node holding it into ``restic backup --stdin`` (restic encrypts and uploads it), as
``/<vm>/<archive name>`` of a snapshot tagged ``homeport``, ``vm=<vm>`` and
``sha256=<the archive's sha256 on the node>``. The copy counts only once ``restic dump``
has read it back from the bucket (download, decrypt, MAC check) and its SHA-256 equals the
node's: the same end-to-end proof as the other offsites. A copy that reads back different
is forgotten (its snapshot only; deduplicated data of good copies stays) and reported as
a mismatch. A snapshot already tagged with the archive's checksum is verified again
instead of uploaded twice, so a crash between upload and verification costs nothing.

Nothing is pruned from the repository: like the other offsites, homeport never deletes a
good copy (``docs/backups.md`` shows how to apply retention there by hand).
"""

from __future__ import annotations

import posixpath
from collections.abc import AsyncIterator

import asyncssh

from homeport.clients.restic import Restic, ResticError, ResticRepo
from homeport.clients.secret import Secret
from homeport.clients.ssh import SSHPool
from homeport.reconcilers.appfiles import parse_dotenv
from homeport.reconcilers.backuppolicy.actions import CopyArchive, CopyTarget
from homeport.reconcilers.backuppolicy.copying import CHUNK, CopyOutcome
from homeport.reconcilers.backuppolicy.observe import BackupSettings

SNAPSHOT_HOST = "homeport"
"""restic's ``--host`` for every copy (the archives come from many nodes)."""


def repository_of(target: CopyTarget, settings: BackupSettings) -> ResticRepo:
    """The repository of an ``s3`` target with its secrets read; ValueError names a bad file."""
    credentials = settings.secrets_dir / str(target.credentials_secret)
    try:
        values = parse_dotenv(credentials.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise ValueError(
            f"cannot read credentialsSecret {target.credentials_secret!r}: {why}"
        ) from None
    missing = [k for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not values.get(k)]
    if missing:
        raise ValueError(
            f"credentialsSecret {target.credentials_secret!r} has no {' or '.join(missing)} line "
            "(write AWS_ACCESS_KEY_ID=... and AWS_SECRET_ACCESS_KEY=...)"
        )
    return ResticRepo(
        repository=target.key,
        password_file=settings.secrets_dir / str(target.encryption_key_secret),
        access_key=Secret(values["AWS_ACCESS_KEY_ID"]),
        secret_key=Secret(values["AWS_SECRET_ACCESS_KEY"]),
        region=target.region,
        cache_dir=settings.restic_cache_dir,
    )


async def copy_to_s3(
    ssh: SSHPool,
    action: CopyArchive,
    path: str,
    source: str,
    settings: BackupSettings,
) -> CopyOutcome:
    """``path`` on the node (sha256 ``source``) into the target's restic repository."""
    try:
        repo = repository_of(action.target, settings)
    except ValueError as exc:
        return CopyOutcome("failed", source, error=str(exc))
    restic = Restic(settings.restic)
    name = f"/{action.vm}/{posixpath.basename(path)}"
    try:
        await restic.ensure_repository(repo)
        tags = ["homeport", f"vm={action.vm}", f"sha256={source}"]
        for snapshot in await restic.snapshots(repo, tags=tags):
            if name in snapshot.get("paths", []):
                outcome = await _verify(restic, repo, str(snapshot["id"]), name, source)
                if outcome.state == "verified":
                    return outcome
        snapshot_id = await ssh.with_sftp(
            action.node_host,
            "read-archive",
            lambda sftp: restic.backup_stdin(
                repo,
                filename=name.lstrip("/"),
                chunks=_read(sftp, path),
                tags=tags,
                host=SNAPSHOT_HOST,
            ),
            idempotent=False,
        )
        return await _verify(restic, repo, snapshot_id, name, source)
    except ResticError as exc:
        return CopyOutcome("failed", source, error=f"{exc.reason}: {exc.message}")


async def _read(sftp: asyncssh.SFTPClient, path: str) -> AsyncIterator[bytes]:
    async with sftp.open(path, "rb") as reader:
        while chunk := await reader.read(CHUNK):
            assert isinstance(chunk, bytes)  # opened "rb"
            yield chunk


async def _verify(
    restic: Restic, repo: ResticRepo, snapshot: str, name: str, source: str
) -> CopyOutcome:
    """Keep the snapshot only if what the bucket gives back hashes to the source's sha256."""
    copied = await restic.dump_sha256(repo, snapshot, name)
    if copied == source:
        return CopyOutcome("verified", source, copied, snapshot=snapshot)
    error = f"sha256 at the source {source[:16]}…, read back from the repository {copied[:16]}…"
    try:
        await restic.forget(repo, snapshot)
    except ResticError as exc:  # e.g. locked by another copy: the retry finds it again
        error += f"; snapshot {snapshot} not forgotten yet ({exc.reason})"
    return CopyOutcome("mismatch", source, copied, error=error)
