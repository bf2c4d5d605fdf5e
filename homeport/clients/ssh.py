"""``SSHPool``: homeport's only way into VMs: key-only, strict known_hosts, reused connections.

The App reconciler (through ``systemd`` and the file helpers here, implemented in
``ssh_files``) and the StandbyPair reconciler run commands on VMs through it. One
connection per (host, port, user) is kept and reused; at most ``channels_per_connection``
commands or SFTP sessions share it (OpenSSH's ``MaxSessions`` is 10). A connection that
dropped is reopened on the next call; a command that was cut off is repeated only when the
caller says it is idempotent. Host keys come from ``known_hosts.KnownHostsFile``: an
unknown or changed key fails with ``HostKeyMismatch`` (never trust on first use).

Commands are argv lists joined with ``shlex.join`` (never shell strings); without input
they get ``stdin=DEVNULL`` so a reader sees EOF. Never put secrets in argv: pass them as
``stdin`` or install them as files.
"""

from __future__ import annotations

import asyncio
import posixpath
import random
import re
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import asyncssh
from opentelemetry.trace import Tracer

from homeport.clients import ssh_files
from homeport.clients.errors import (
    CommandFailed,
    CommandTimeout,
    HostKeyMismatch,
    RemoteFileError,
    SSHAuthFailed,
    SSHError,
    SSHUnreachable,
)
from homeport.clients.known_hosts import KnownHostsFile
from homeport.clients.secret import Secret
from homeport.clients.ssh_files import RemoteStat
from homeport.clients.timing import RetryPolicy, Sleep, retrying
from homeport.clients.tracing import Attributes, ClientTracing

T = TypeVar("T")
_STDERR_KEEP = 4096
_LOST = (
    asyncssh.ConnectionLost,
    asyncssh.DisconnectError,
    asyncssh.SFTPConnectionLost,
    asyncssh.SFTPNoConnection,
    ConnectionError,
)


@dataclass(frozen=True, kw_only=True)
class SSHSettings:
    """How homeport logs in to VMs."""

    username: str = "root"
    """User on every VM (its ``authorized_keys`` comes from cloud-init)."""
    port: int = 22
    """Default SSH port; a host given as ``addr:port`` overrides it."""
    client_keys: tuple[Path, ...]
    """homeport's private key file(s)."""
    known_hosts: Path
    """The strict known_hosts file homeport maintains (created empty if missing)."""
    connect_timeout: float = 5.0
    """Seconds to connect, exchange keys and authenticate."""
    command_timeout: float = 120.0
    """Default seconds one remote command may run."""
    keepalive_interval: float = 15.0
    """Seconds between keepalives, to notice dead peers (0 disables)."""
    keepalive_count_max: int = 3
    """Unanswered keepalives before the connection counts as dead."""
    channels_per_connection: int = 8
    """Commands / SFTP sessions at once on one connection."""
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(attempts=3))
    """Retries of connection attempts that failed transiently (refused, timed out)."""


CIPHERS = (
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)
"""asyncssh's own ciphers, AES-GCM first: one call into OpenSSL per packet, where its
ChaCha20-Poly1305 sets up new cipher contexts for every packet (2 against 14 µs for a
small packet, measured; SSH was a tenth of a cold convergence's CPU). Both are the
authenticated ciphers OpenSSH offers; a server without AES-GCM still gets ChaCha20."""


@dataclass(frozen=True)
class SSHTarget:
    host: str
    port: int
    user: str | None = None
    """Another login than ``SSHSettings.username`` (e.g. an offsite backup host's user)."""

    def __str__(self) -> str:
        where = f"{self.host}:{self.port}" if ":" not in self.host else f"[{self.host}]:{self.port}"
        return f"{self.user}@{where}" if self.user else where


def parse_target(text: str, default_port: int) -> SSHTarget:
    """``"10.0.0.5"``, ``"10.0.0.5:2222"``, ``"[fd7a::1]:22"``, a bare IPv6 address, each
    optionally as ``user@…``."""
    user, at, rest = text.rpartition("@")
    if at:
        found = parse_target(rest, default_port)
        return SSHTarget(found.host, found.port, user or None)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return SSHTarget(host, int(rest[1:]) if rest.startswith(":") else default_port)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return SSHTarget(host, int(port))
    return SSHTarget(text, default_port)


_VERB = re.compile(r"^[a-z][a-z0-9-]*$")


def command_summary(argv: Sequence[str]) -> str:
    """The program and its verb (``systemctl restart``, ``git clone``): never paths or values."""
    words = [posixpath.basename(argv[0])]
    for arg in argv[1:]:
        if arg == "--":
            break
        if _VERB.match(arg):
            words.append(arg)
            break
    return " ".join(words)


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_status: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")


@dataclass
class _Slot:
    lock: asyncio.Lock
    channels: asyncio.Semaphore
    conn: asyncssh.SSHClientConnection | None = None


class SSHPool:
    """Pooled, strict SSH to VMs; also the remote-file and known-hosts operations."""

    def __init__(
        self,
        settings: SSHSettings,
        *,
        tracer: Tracer | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        client_keys: Sequence[asyncssh.SSHKey] | None = None,
    ) -> None:
        self.settings = settings
        self.known_hosts = KnownHostsFile(settings.known_hosts)
        self.known_hosts.ensure()
        self._keys = (
            list(client_keys)
            if client_keys is not None
            else [asyncssh.read_private_key(p) for p in settings.client_keys]
        )
        self._tracing = ClientTracing(tracer)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._slots: dict[tuple[str, int, str], _Slot] = {}
        self.connections_opened = 0
        """How many connections were opened so far (reuse shows as a small number)."""

    # --- commands ----------------------------------------------------------------------

    async def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        stdin: bytes | Secret | None = None,
        check: bool = True,
        idempotent: bool = False,
    ) -> CommandResult:
        """Run ``argv`` on ``host``; ``CommandFailed`` on a non-zero exit when ``check``.

        ``idempotent`` lets the pool repeat the command once on a fresh connection when
        the old one dropped mid-command.
        """
        if not argv:
            raise ValueError("argv must not be empty")
        target = parse_target(host, self.settings.port)
        limit = timeout if timeout is not None else self.settings.command_timeout
        line = shlex.join(argv)
        data = stdin.reveal().encode() if isinstance(stdin, Secret) else stdin

        async def execute(conn: asyncssh.SSHClientConnection) -> asyncssh.SSHCompletedProcess:
            if data:
                return await conn.run(line, input=data, check=False, timeout=limit, encoding=None)
            return await conn.run(
                line, stdin=asyncssh.DEVNULL, check=False, timeout=limit, encoding=None
            )

        attributes: Attributes = {
            "server.address": target.host,
            "server.port": target.port,
            "ssh.command": command_summary(argv),
        }
        with self._tracing.span("ssh exec", attributes) as span:
            try:
                done = await self._guarded(target, execute, limit, idempotent=idempotent)
            except (asyncssh.TimeoutError, TimeoutError):
                raise CommandTimeout(str(target), argv, limit) from None
            if done.exit_status is None:
                raise SSHUnreachable(str(target), "connection lost while the command ran")
            span.set("ssh.exit_status", done.exit_status)
        result = CommandResult(
            tuple(argv), done.exit_status, _bytes(done.stdout), _bytes(done.stderr)
        )
        if check and not result.ok:
            stderr = result.stderr[-_STDERR_KEEP:].decode("utf-8", errors="replace")
            raise CommandFailed(str(target), argv, result.exit_status, stderr)
        return result

    async def stream(self, host: str, argv: Sequence[str]) -> AsyncIterator[str]:
        """Run ``argv`` on ``host`` and yield its output line by line as it comes (for a
        command that follows, ``journalctl -f``), until it exits or the caller stops
        iterating (the channel is then closed). ``CommandFailed`` on a non-zero exit."""
        if not argv:
            raise ValueError("argv must not be empty")
        target = parse_target(host, self.settings.port)
        slot = self._slot(target)
        async with slot.channels:
            conn = await self._connection(target, slot)
            process = await conn.create_process(
                shlex.join(argv), stdin=asyncssh.DEVNULL, encoding="utf-8", errors="replace"
            )
            try:
                async for line in process.stdout:
                    yield line.rstrip("\n")
                done = await process.wait(check=False)
            finally:
                process.close()
        if done.exit_status != 0:
            stderr = str(done.stderr or "")[-_STDERR_KEEP:]
            raise CommandFailed(str(target), argv, done.exit_status or -1, stderr)

    async def with_sftp(
        self,
        host: str,
        operation: str,
        action: Callable[[asyncssh.SFTPClient], Awaitable[T]],
        *,
        idempotent: bool = True,
    ) -> T:
        """Run ``action`` with an SFTP session on ``host``; SFTP errors become ``RemoteFileError``."""
        target = parse_target(host, self.settings.port)

        async def in_session(conn: asyncssh.SSHClientConnection) -> T:
            async with conn.start_sftp_client() as sftp:
                return await action(sftp)

        attributes: Attributes = {
            "server.address": target.host,
            "server.port": target.port,
            "ssh.sftp.operation": operation,
        }
        limit = self.settings.command_timeout
        with self._tracing.span("ssh sftp", attributes):
            try:
                return await self._guarded(target, in_session, limit, idempotent=idempotent)
            except TimeoutError:
                raise CommandTimeout(str(target), ["sftp", operation], limit) from None
            except asyncssh.SFTPError as exc:
                raise RemoteFileError(
                    str(target), operation, exc.reason or type(exc).__name__
                ) from None

    # --- files (see ssh_files) -----------------------------------------------------------

    async def install_file(
        self,
        host: str,
        path: str,
        content: bytes | Secret,
        *,
        mode: int,
        owner: str | None = None,
        group: str | None = None,
    ) -> bool:
        """Make ``path`` hold exactly ``content`` (atomically); ``True`` if anything changed."""
        return await ssh_files.install_file(
            self, host, path, content, mode=mode, owner=owner, group=group
        )

    async def read_file(self, host: str, path: str) -> bytes | None:
        return await ssh_files.read_file(self, host, path)

    async def file_sha256(self, host: str, path: str) -> str | None:
        return await ssh_files.file_sha256(self, host, path)

    async def stat(self, host: str, path: str) -> RemoteStat | None:
        return await ssh_files.stat(self, host, path)

    async def read_link(self, host: str, path: str) -> str | None:
        return await ssh_files.read_link(self, host, path)

    async def switch_symlink(self, host: str, link: str, target: str) -> bool:
        return await ssh_files.switch_symlink(self, host, link, target)

    async def make_dir(
        self,
        host: str,
        path: str,
        *,
        mode: int = 0o755,
        owner: str | None = None,
        group: str | None = None,
    ) -> bool:
        return await ssh_files.make_dir(self, host, path, mode=mode, owner=owner, group=group)

    # --- host keys -----------------------------------------------------------------------

    async def trust_host_key(
        self, host: str, port: int, public_key: str, *, replace: bool = False
    ) -> bool:
        """Pin a VM's host key (read over a trusted channel); ``True`` if newly pinned."""
        try:
            return await asyncio.to_thread(
                self.known_hosts.trust, host, port, public_key, replace=replace
            )
        except ValueError as exc:
            raise HostKeyMismatch(f"{host}:{port}", str(exc)) from None

    async def forget_host_key(self, host: str, port: int) -> bool:
        """Unpin a destroyed VM's key and drop its pooled connection."""
        await self._drop_target(SSHTarget(host, port))
        return await asyncio.to_thread(self.known_hosts.forget, host, port)

    # --- lifecycle -----------------------------------------------------------------------

    async def close(self) -> None:
        slots, self._slots = list(self._slots.values()), {}
        for slot in slots:
            if slot.conn is not None:
                slot.conn.close()
        for slot in slots:
            if slot.conn is not None:
                await slot.conn.wait_closed()

    async def __aenter__(self) -> SSHPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- connections ---------------------------------------------------------------------

    def _slot(self, target: SSHTarget) -> _Slot:
        key = (target.host, target.port, target.user or self.settings.username)
        slot = self._slots.get(key)
        if slot is None:
            channels = asyncio.Semaphore(self.settings.channels_per_connection)
            slot = self._slots[key] = _Slot(asyncio.Lock(), channels)
        return slot

    async def _guarded(
        self,
        target: SSHTarget,
        use: Callable[[asyncssh.SSHClientConnection], Awaitable[T]],
        limit: float,
        *,
        idempotent: bool,
    ) -> T:
        # asyncssh's own timeout covers the command, not opening its channel: a peer that
        # went silent (hung VM) would block forever without this outer bound.
        try:
            async with asyncio.timeout(limit + self.settings.connect_timeout):
                return await self._on_channel(target, use, idempotent=idempotent)
        except TimeoutError as exc:
            if not isinstance(exc, asyncssh.TimeoutError):
                await self._drop_target(target, abort=True)
            raise

    async def _on_channel(
        self,
        target: SSHTarget,
        use: Callable[[asyncssh.SSHClientConnection], Awaitable[T]],
        *,
        idempotent: bool,
    ) -> T:
        slot = self._slot(target)
        async with slot.channels:
            for attempt in (1, 2):
                conn = await self._connection(target, slot)
                try:
                    return await use(conn)
                except asyncssh.ChannelOpenError:
                    # The channel never opened, so nothing ran: reconnect and try again.
                    self._forget(slot, conn)
                    if attempt == 2:
                        raise SSHUnreachable(str(target), "cannot open a channel") from None
                except _LOST:
                    self._forget(slot, conn)
                    if attempt == 2 or not idempotent:
                        raise SSHUnreachable(
                            str(target), "connection lost mid-call (it may have run)"
                        ) from None
        raise AssertionError("unreachable")

    async def _connection(self, target: SSHTarget, slot: _Slot) -> asyncssh.SSHClientConnection:
        async with slot.lock:
            if slot.conn is None or slot.conn.is_closed():
                slot.conn = await retrying(
                    lambda: self._connect(target),
                    policy=self.settings.retry,
                    retry_delay=lambda exc: 0.0 if isinstance(exc, SSHUnreachable) else None,
                    sleep=self._sleep,
                    rng=self._rng,
                )
                self.connections_opened += 1
            return slot.conn

    async def _connect(self, target: SSHTarget) -> asyncssh.SSHClientConnection:
        settings = self.settings
        attributes: Attributes = {"server.address": target.host, "server.port": target.port}
        with self._tracing.span("ssh connect", attributes):
            try:
                return await asyncssh.connect(
                    target.host,
                    target.port,
                    username=target.user or settings.username,
                    client_keys=self._keys,
                    known_hosts=self.known_hosts.loaded(),
                    agent_path=None,
                    password_auth=False,
                    kbdint_auth=False,
                    preferred_auth="publickey",
                    config=None,
                    connect_timeout=settings.connect_timeout,
                    login_timeout=settings.connect_timeout,
                    keepalive_interval=settings.keepalive_interval,
                    keepalive_count_max=settings.keepalive_count_max,
                    encryption_algs=list(CIPHERS),
                )
            except asyncssh.HostKeyNotVerifiable:
                raise HostKeyMismatch(
                    str(target), "host key not pinned in known_hosts (or changed)"
                ) from None
            except asyncssh.PermissionDenied:
                raise SSHAuthFailed(str(target), "homeport's key was refused") from None
            except (TimeoutError, asyncssh.DisconnectError, OSError) as exc:
                raise SSHUnreachable(
                    str(target), f"cannot connect ({type(exc).__name__})"
                ) from None

    def _forget(self, slot: _Slot, conn: asyncssh.SSHClientConnection) -> None:
        if slot.conn is conn:
            slot.conn = None
        conn.abort()

    async def _drop_target(self, target: SSHTarget, *, abort: bool = False) -> None:
        user = target.user or self.settings.username
        slot = self._slots.pop((target.host, target.port, user), None)
        if slot is None or slot.conn is None:
            return
        if abort:
            slot.conn.abort()
            return
        slot.conn.close()
        await slot.conn.wait_closed()


def _bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return b""


__all__ = [
    "CommandResult",
    "RemoteStat",
    "SSHError",
    "SSHPool",
    "SSHSettings",
    "SSHTarget",
    "parse_target",
]
