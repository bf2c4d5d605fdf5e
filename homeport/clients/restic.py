"""restic, run on the control plane, for the encrypted S3 offsite of BackupPolicy.

restic (Debian's package) encrypts and authenticates everything before it leaves this
machine (AES-256 + Poly1305, content addressed by SHA-256), so the bucket's owner sees
only ciphertext. Secrets never reach argv, logs or the store: the repository password is
read by restic itself from ``RESTIC_PASSWORD_FILE`` (the secret file, never copied), the
S3 key pair goes into the environment of the one subprocess, and every error text is
scrubbed of both before it is raised. The subprocess gets a minimal environment (never the
daemon's own), so no stray ``AWS_*`` or ``RESTIC_*`` variable changes what it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeport.clients.secret import Secret, scrub

TIMEOUT = 6 * 3600.0
"""A whole archive upload or read-back; a hung restic is killed after this."""
SHORT_TIMEOUT = 300.0
_PASSED_THROUGH = ("PATH", "HOME", "XDG_CACHE_HOME", "SSL_CERT_FILE", "SSL_CERT_DIR", "TZ")


class ResticError(Exception):
    """restic failed; ``reason`` says why in one word, the message how to fix it."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # NoRepository | WrongKey | S3AccessDenied | ResticFailed
        self.message = message


@dataclass(frozen=True)
class ResticRepo:
    """One repository and how to open it; ``repr`` shows no secret."""

    repository: str
    """``s3:<endpoint>/<bucket>/<prefix>``."""
    password_file: Path
    """The secret file restic reads the repository password from."""
    access_key: Secret
    secret_key: Secret
    region: str | None = None
    cache_dir: Path | None = None

    def env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        env["RESTIC_REPOSITORY"] = self.repository
        env["RESTIC_PASSWORD_FILE"] = str(self.password_file)
        env["AWS_ACCESS_KEY_ID"] = self.access_key.reveal()
        env["AWS_SECRET_ACCESS_KEY"] = self.secret_key.reveal()
        if self.region:
            env["AWS_DEFAULT_REGION"] = self.region
        if self.cache_dir is not None:
            env["RESTIC_CACHE_DIR"] = str(self.cache_dir)
        return env

    def scrub(self, text: str) -> str:
        return scrub(text, (self.access_key, self.secret_key))


def classify(stderr: str, repo: ResticRepo) -> ResticError:
    """A typed error from restic's stderr (restic 0.14 has no distinct exit codes)."""
    text = repo.scrub(stderr).strip()
    # restic adds a hint and the repository address to every failure to open one: noise.
    lines = [
        line
        for line in text.splitlines()
        if line and not line.startswith("Is there a repository") and line != repo.repository
    ]
    tail = " | ".join(lines[-3:])[:400]
    if "wrong password or no key found" in text:
        return ResticError(
            "WrongKey",
            f"the encryption key does not open the repository {repo.repository} "
            "(encryptionKeySecret holds another password than the one it was created with)",
        )
    denied = (
        "does not exist in our records",
        "signature we calculated does not match",
        "Access Denied",
        "AccessDenied",
        "InvalidAccessKeyId",
        "RequestTimeTooSkewed",
    )
    if any(marker in text for marker in denied):
        return ResticError(
            "S3AccessDenied",
            f"the S3 service refused the credentials for {repo.repository}: {tail} "
            "(check credentialsSecret and the bucket policy)",
        )
    absent = (
        "The specified key does not exist",
        "The specified bucket does not exist",
        "no such file or directory",  # a local repository (the tests use one)
    )
    if "unable to open config file" in text and any(m in text for m in absent):
        return ResticError("NoRepository", f"no restic repository at {repo.repository} yet")
    return ResticError("ResticFailed", f"restic failed on {repo.repository}: {tail}")


class Restic:
    """Runs the ``restic`` binary; one subprocess per call, nothing kept between calls."""

    def __init__(self, binary: str = "restic") -> None:
        self.binary = binary

    async def run(
        self,
        repo: ResticRepo,
        args: list[str],
        *,
        stdin: AsyncIterator[bytes] | None = None,
        on_stdout: Callable[[bytes], None] | None = None,
        timeout: float = SHORT_TIMEOUT,
    ) -> bytes:
        """restic's stdout (empty when ``on_stdout`` takes it chunk by chunk)."""
        try:
            process = await asyncio.create_subprocess_exec(
                self.binary,
                "--quiet",  # no progress output: stdout is data (JSON, a dumped file)
                *args,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=repo.env(),
            )
        except OSError as exc:
            raise ResticError(
                "ResticFailed",
                f"cannot run {self.binary}: {exc.strerror or exc} (install Debian's restic)",
            ) from None
        try:
            out, err = await asyncio.wait_for(self._communicate(process, stdin, on_stdout), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise ResticError(
                "ResticFailed", f"restic {args[0]} on {repo.repository} took over {timeout:.0f}s"
            ) from None
        if process.returncode != 0:
            raise classify(err.decode(errors="replace"), repo)
        return out

    async def _communicate(
        self,
        process: asyncio.subprocess.Process,
        stdin: AsyncIterator[bytes] | None,
        on_stdout: Callable[[bytes], None] | None,
    ) -> tuple[bytes, bytes]:
        assert process.stdout is not None and process.stderr is not None
        out = bytearray()

        async def feed() -> None:
            assert process.stdin is not None and stdin is not None
            try:
                async for chunk in stdin:
                    process.stdin.write(chunk)
                    await process.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass  # restic gave up; its exit status and stderr say why
            except BaseException:
                # The source failed mid-way: kill restic before it sees end-of-file, or it
                # would store the truncated stream as a complete snapshot.
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                raise
            finally:
                process.stdin.close()

        async def drain() -> None:
            assert process.stdout is not None
            while chunk := await process.stdout.read(256 * 1024):
                if on_stdout is not None:
                    on_stdout(chunk)
                else:
                    out.extend(chunk)

        errors = asyncio.ensure_future(process.stderr.read())
        try:
            await asyncio.gather(drain(), *([feed()] if stdin is not None else []))
        finally:
            err = await errors  # restic has exited (or was killed): stderr is closed
            await process.wait()
        return bytes(out), err

    # -- what the offsite copy needs -----------------------------------------------------

    async def ensure_repository(self, repo: ResticRepo) -> bool:
        """Open the repository, creating it (and its bucket) the first time; True if created."""
        try:
            await self.run(repo, ["cat", "config"])
            return False
        except ResticError as exc:
            if exc.reason != "NoRepository":
                raise
        try:
            await self.run(repo, ["init"])
        except ResticError:
            # Another copy may have created it meanwhile: then it opens now.
            await self.run(repo, ["cat", "config"])
            return False
        return True

    async def snapshots(self, repo: ResticRepo, *, tags: list[str]) -> list[dict[str, Any]]:
        out = await self.run(repo, ["snapshots", "--json", "--tag", ",".join(tags)])
        found = json.loads(out or b"[]")
        return list(found or [])

    async def backup_stdin(
        self,
        repo: ResticRepo,
        *,
        filename: str,
        chunks: AsyncIterator[bytes],
        tags: list[str],
        host: str,
    ) -> str:
        """Store ``chunks`` as one file of a new snapshot; the snapshot's id."""
        args = ["backup", "--json", "--stdin", "--stdin-filename", filename, "--host", host]
        for tag in tags:
            args += ["--tag", tag]
        out = await self.run(repo, args, stdin=chunks, timeout=TIMEOUT)
        for line in reversed(out.decode(errors="replace").splitlines()):
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if isinstance(message, dict) and message.get("message_type") == "summary":
                    return str(message["snapshot_id"])
        raise ResticError(
            "ResticFailed", f"restic backup to {repo.repository} reported no snapshot"
        )

    async def dump_sha256(self, repo: ResticRepo, snapshot: str, path: str) -> str:
        """SHA-256 of a file read back from the repository (downloaded, decrypted, MAC-checked)."""
        digest = hashlib.sha256()
        await self.run(repo, ["dump", snapshot, path], on_stdout=digest.update, timeout=TIMEOUT)
        return digest.hexdigest()

    async def forget(self, repo: ResticRepo, snapshot: str) -> None:
        await self.run(repo, ["forget", snapshot])
