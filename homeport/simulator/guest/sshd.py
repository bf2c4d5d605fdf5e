"""The guest's OpenSSH server, played by asyncssh.

Listens on an ephemeral port of 127.0.0.1; ``guest.py`` publishes it on the guest's address
and SSH port through ``nic.py``. Host key: ``/etc/ssh/ssh_host_ed25519_key`` from the guest
disk. Authentication: public keys only, checked at login against the user's
``AuthorizedKeysFile`` on the guest disk (so keys written later take effect), honouring the
key options as OpenSSH does (``restrict``, ``from=``, and ``command=``: the forced command
runs instead of the client's, which it reads from ``SSH_ORIGINAL_COMMAND``), obeying
``PermitRootLogin``, ``PubkeyAuthentication`` and ``StrictModes`` from ``sshd_config.py``.
Exec requests go to ``commands/``; the ``sftp`` subsystem to ``sftp.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import asyncssh

from homeport.listening import stop_accepting

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


FORCED = re.compile(r'^(?:[^\s"]|"(?:[^"\\]|\\.)*")*?(?:^|,)command="')
"""An options field (before the key type) that holds ``command="..."``."""


def _import_keys(
    text: str,
) -> tuple[asyncssh.SSHAuthorizedKeys | tuple[()], list[asyncssh.SSHAuthorizedKeys]]:
    """(plain keys for asyncssh, keys with a forced command, one entry each).

    Keys with ``command=`` are checked by :meth:`_Session.validate_public_key` so that the
    command the client asked for survives as ``SSH_ORIGINAL_COMMAND`` (asyncssh would
    replace it silently); their other options (``restrict``, ``from=``) are asyncssh's own.
    """
    good, forced = [], []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            entry = asyncssh.import_authorized_keys(line)
        except (ValueError, asyncssh.KeyImportError):
            continue
        if FORCED.match(line):
            forced.append(entry)
        else:
            good.append(line)
    return (asyncssh.import_authorized_keys("\n".join(good)) if good else ()), forced


class _Session(asyncssh.SSHServer):
    def __init__(self, sshd: GuestSshd) -> None:
        self._sshd = sshd
        self._conn: asyncssh.SSHServerConnection | None = None
        self._forced_keys: list[asyncssh.SSHAuthorizedKeys] = []
        self.key_options: dict[str, object] = {}
        """Options of the forced-command key this connection logged in with, if any."""

    @property
    def forced_command(self) -> str | None:
        command = self.key_options.get("command")
        return command if isinstance(command, str) else None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._sshd.connections.add(conn)
        self._sshd.sessions[conn] = self

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._sshd.connections.discard(self._conn)
            self._sshd.sessions.pop(self._conn, None)

    def begin_auth(self, username: str) -> bool:
        assert self._conn is not None
        account = self._sshd.guest.disk.accounts().user(username)
        text = authorized_keys_text(self._sshd.guest, account) if account else ""
        plain, self._forced_keys = _import_keys(text)
        self._conn.set_authorized_keys(plain)
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        assert self._conn is not None
        peer = str(self._conn.get_extra_info("peername", ("", 0))[0])
        for entry in self._forced_keys:
            options = entry.validate(key, peer, peer)
            if options is not None:
                self.key_options = dict(options)
                return True
        return False


class GuestSshd:
    def __init__(self, guest: SimulatedGuest) -> None:
        self.guest = guest
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.sessions: dict[asyncssh.SSHServerConnection, _Session] = {}
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
            await stop_accepting(self._server.sockets)
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

    def _session(self, chan: asyncssh.SSHServerChannel[bytes]) -> _Session | None:
        conn = chan.get_connection()
        assert isinstance(conn, asyncssh.SSHServerConnection)
        return self.sessions.get(conn)

    def kill_forced(self, wanted: Callable[[str], bool]) -> int:
        """Drop the connections logged in with a forced command that ``wanted`` matches
        (``pkill`` of the commands those keys run, and their sshd children)."""
        doomed = [
            conn
            for conn, session in self.sessions.items()
            if session.forced_command is not None and wanted(session.forced_command)
        ]
        for conn in doomed:
            conn.abort()
        return len(doomed)

    def _sftp(self, chan: asyncssh.SSHServerChannel[bytes]) -> GuestSftpServer:
        session = self._session(chan)
        if session is not None and session.forced_command is not None:
            # OpenSSH runs the forced command instead of the subsystem; homeport's forced
            # commands refuse anything but their one job, so the client sees it end.
            chan.exit(1)
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

        def stream(data: bytes) -> bool:
            if process.channel.is_closing():
                return False
            with contextlib.suppress(OSError, asyncssh.Error, BrokenPipeError):
                process.stdout.write(data)
                return True
            return False

        ctx = ExecContext(self.guest, account, account.home, read_stdin, stream=stream)
        session = self._session(process.channel)
        forced = session.forced_command if session is not None else None
        if forced is not None:  # OpenSSH: the key's command runs, the client's is kept aside
            ctx.env["SSH_ORIGINAL_COMMAND"] = command
            command = forced
        flap = self.guest.exec_flap(command)
        result = await run_line(ctx, command)
        if flap is not None:
            await self.guest.flap(flap.seconds)  # the command ran; its answer is lost
        with contextlib.suppress(OSError, asyncssh.Error, BrokenPipeError):
            process.stdout.write(result.stdout)
            process.stderr.write(result.stderr)
            process.exit(result.rc)
