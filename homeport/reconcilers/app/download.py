"""Doing ``FetchArtifact`` on the VM over SSH (``artifact.py`` holds the commands and the
action): download next to the releases, check the SHA-256 on the VM, unpack into
``<release>.partial``, rename into place. Nothing is unpacked before the checksum
matches, and the release directory appears only whole (``mv`` of the staging directory).
"""

from __future__ import annotations

from typing import NoReturn

from homeport.clients.errors import CommandFailed
from homeport.clients.ssh import SSHPool
from homeport.reconcilers.app.artifact import (
    DOWNLOAD_SECONDS,
    FetchArtifact,
    curl_argv,
    parse_sha256sum,
    tar_argv,
)
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.errors import PermanentError, TemporaryError
from homeport.reconcilers.slots import APP_ARTIFACT_FAILURE


def _last_line(exc: CommandFailed) -> str:
    lines = [line for line in exc.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else str(exc)


async def download_artifact(ssh: SSHPool, action: FetchArtifact, ctx: ReconcileContext) -> None:
    host, staging, archive = action.host, f"{action.target}.partial", f"{action.target}.download"
    await ssh.run(host, ["rm", "-rf", "--", staging, archive])
    try:
        await ssh.run(host, curl_argv(action.url, archive), timeout=DOWNLOAD_SECONDS + 30)
    except CommandFailed as exc:
        await ssh.run(host, ["rm", "-f", "--", archive])
        raise TemporaryError(
            f"downloading {action.url} on {host} failed: {_last_line(exc)}",
            reason="DownloadFailed",
        ) from None
    received = parse_sha256sum((await ssh.run(host, ["sha256sum", "--", archive])).text)
    if received != action.sha:
        await ssh.run(host, ["rm", "-f", "--", archive])
        await _mismatch(action, received, ctx)
    await ssh.run(host, ["install", "-d", "-m", "0755", "--", staging])
    try:
        await ssh.run(host, tar_argv(archive, staging, action.strip_components))
    except CommandFailed as exc:
        await ssh.run(host, ["rm", "-rf", "--", staging, archive])
        if "No space left on device" in exc.stderr:
            raise TemporaryError(
                f"unpacking {action.url} on {host} filled the disk", reason="DiskFull"
            ) from None
        raise PermanentError(
            f"the artifact {action.url} (sha256 {action.sha[:12]}) cannot be unpacked: "
            f"{_last_line(exc)}",
            reason="ArtifactUnpackFailed",
            fix="publish the release as a tar archive (.tar, .tar.gz, .tar.bz2, .tar.xz) "
            "and point spec.source.artifact at it",
        ) from None
    await ssh.run(host, ["rm", "-f", "--", archive])
    await ssh.run(host, ["mv", "-f", "--", staging, action.target])
    APP_ARTIFACT_FAILURE.clear(ctx)


async def _mismatch(action: FetchArtifact, received: str, ctx: ReconcileContext) -> NoReturn:
    """Remember it (the same url and checksum are not downloaded again) and stall: the
    engine records the stall as the ChecksumMismatch event, with the fix."""
    APP_ARTIFACT_FAILURE.remember(
        ctx, {"url": action.url, "sha256": action.sha, "received": received}
    )
    message = (
        f"{action.url} downloaded on {action.host} has sha256 {received}, not the "
        f"{action.sha} spec.source.artifact.sha256 asks for; nothing was installed"
    )
    raise PermanentError(
        message,
        reason="ChecksumMismatch",
        fix="check the artifact (a new upload under the same URL?) and correct "
        "spec.source.artifact.sha256 or url, then push",
    )
