"""The guest's OpenSSH server, played by asyncssh.

Listens on an ephemeral port of 127.0.0.1; ``guest.py`` publishes it on the guest's address
and SSH port through ``nic.py``. Host key: ``/etc/ssh/ssh_host_ed25519_key`` from the guest
disk. Authentication: public keys only, checked at login against the user's
``AuthorizedKeysFile`` on the guest disk (so keys written later take effect), obeying
``PermitRootLogin``, ``PubkeyAuthentication`` and ``StrictModes`` from ``sshd_config.py``.
Exec requests go to ``commands/``; the ``sftp`` subsystem to ``sftp.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
from typing import TYPE_CHECKING

import asyncssh

from .cloudinit import load_host_key
from .commands import run_line
from .commands.base import ExecContext
from .rootfs import Account
from .sftp import GuestSftpServer
from .sshd_config import load_sshd_config

if TYPE_CHECKING:
    from .guest import SimulatedGuest


def authorized_keys_text(guest: SimulatedGuest, account: Account) -> str:
    config = load_sshd_config(guest.disk, guest.ssh_port)
    if config.get("pubkeyauthentication") == "no":
        return ""
    if account.is_root and config.get("permitrootlogin") == "no":
        return ""
    strict = config.get("strictmodes") != "no"
    texts = []
    for pattern in config.get("authorizedkeysfile").split():
        path = pattern.replace("%h", account.home).replace("%u", account.name).replace("%%", "%")
        path = posixpath.join(account.home, path)
        host = guest.disk.host(path)
        if not host.is_file():
            continue
        if strict and host.stat().st_mode & 0o022:
            continue  # sshd: "bad ownership or modes for file"
        texts.append(host.read_text())
    return "".join(texts)


def _import_keys(text: str) -> asyncssh.SSHAuthorizedKeys | tuple[()]:
    good = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            asyncssh.import_authorized_keys(line)
        except (ValueError, asyncssh.KeyImportError):
            continue
        good.append(line)
    return asyncssh.import_authorized_keys("\n".join(good)) if good else ()


class _Session(asyncssh.SSHServer):
    def __init__(self, sshd: GuestSshd) -> None:
        self._sshd = sshd
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._sshd.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._sshd.connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        assert self._conn is not None
        account = self._sshd.guest.disk.accounts().user(username)
        text = authorized_keys_text(self._sshd.guest, account) if account else ""
        self._conn.set_authorized_keys(_import_keys(text))
        return True


class GuestSshd:
    def __init__(self, guest: SimulatedGuest) -> None:
        self.guest = guest
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self._server: asyncssh.SSHAcceptor | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen on 127.0.0.1; returns the port for ``nic.py`` to publish."""
        self._server = await asyncssh.listen(
            "127.0.0.1",
            0,
            server_factory=lambda: _Session(self),
            server_host_keys=[load_host_key(self.guest.disk)],
            process_factory=self._process,
            sftp_factory=self._sftp,
            allow_scp=False,
            password_auth=False,
            kbdint_auth=False,
            agent_forwarding=False,
            x11_forwarding=False,
            encoding=None,
            config=None,
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._sessions):
            task.cancel()
        for conn in list(self.connections):
            conn.abort()
        for task in list(self._sessions):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for conn in list(self.connections):
            await conn.wait_closed()
        self.connections.clear()

    def _account(self, chan: asyncssh.SSHServerChannel[bytes]) -> Account:
        name = chan.get_extra_info("username")
        account = self.guest.disk.accounts().user(name)
        assert account is not None, f"authenticated as unknown user {name}"
        return account

    def _sftp(self, chan: asyncssh.SSHServerChannel[bytes]) -> GuestSftpServer:
        return GuestSftpServer(chan, self.guest.disk, self._account(chan))

    async def _process(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            await self._run(process)
        finally:
            self._sessions.discard(task)

    async def _run(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        account = self._account(process.channel)
        command = process.command
        if command is None:
            process.stderr.write(b"homeport-sim: interactive shells are not simulated\n")
            process.exit(1)
            return

        async def read_stdin() -> bytes:
            return await process.stdin.read()

        ctx = ExecContext(self.guest, account, account.home, read_stdin)
        flap = self.guest.exec_flap(command)
        result = await run_line(ctx, command)
        if flap is not None:
            await self.guest.flap(flap.seconds)  # the command ran; its answer is lost
        with contextlib.suppress(OSError, asyncssh.Error, BrokenPipeError):
            process.stdout.write(result.stdout)
            process.stderr.write(result.stderr)
            process.exit(result.rc)
