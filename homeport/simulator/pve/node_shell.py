"""A Proxmox node's OpenSSH server (root, key only) and the few commands run through it.

Real PVE nodes are Debian hosts with OpenSSH; the estates homeport serves reach them over
the tailnet with keys only (seed 000). homeport uses a node's shell to read backup
archives for offsite copies, and its sshd settings for the audit: ``sha256sum``,
``stat -c``, ``sshd -T``, ``test``, ``mkdir -p``,
``install -d``, ``cp``, ``mv``, ``rm``, ``ls -1``, ``cat``, ``true`` and SFTP. Paths go
through ``node_files.py`` (storage ``dump/`` directories are the world's archives). One
command per exec, split with ``shlex``; shell syntax is refused (exit 2) as in the guests.
``Faults.corrupt_reads`` makes archive reads through this shell (SFTP, ``cp``) flip a byte:
a flaky disk or controller that a checksum must catch. The estate starts one
``NodeSshd`` per node on the node's tailnet address (``estate.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import posixpath
import shlex
import shutil
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import asyncssh

from homeport.listening import stop_accepting
from homeport.simulator.errors import PveError
from homeport.simulator.pve.node_files import NodeFiles

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

Result = tuple[int, bytes, bytes]
HOST_KEY = "etc/ssh/ssh_host_ed25519_key"
_SHELL = set("|&;<>()$`*?\n")
NODE_SSHD_CONFIG = "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
NODE_SSHD_DEFAULTS = {
    "port": "22",
    "permitrootlogin": "without-password",
    "pubkeyauthentication": "yes",
    "passwordauthentication": "yes",
    "kbdinteractiveauthentication": "yes",
}
_SSHD_ALIASES = {"prohibit-password": "without-password"}


def _err(rc: int, text: str) -> Result:
    return rc, b"", text.encode()


def _strerror(exc: OSError) -> str:
    return exc.strerror or os.strerror(exc.errno or errno.EIO)


class NodeShell:
    """The commands, over ``NodeFiles``."""

    def __init__(self, world: World, node: str, root: Path) -> None:
        self.files = NodeFiles(world, node, root)
        self.world = world
        self.node = node

    def corrupts(self, path: str) -> bool:
        """Whether this read of an archive comes back damaged (``Faults.corrupt_reads``)."""
        return self.files.dump_of(path) is not None and self.world.faults.corrupt_read(self.node)

    async def run(self, line: str) -> Result:
        if any(c in _SHELL for c in line.replace("\\ ", "")):
            return _err(2, "sh: 1: homeport-sim: shell syntax is not simulated on nodes\n")
        try:
            argv = shlex.split(line)
        except ValueError:
            return _err(2, "sh: 1: Syntax error: Unterminated quoted string\n")
        if not argv:
            return 0, b"", b""
        program, args = posixpath.basename(argv[0]), [a for a in argv[1:] if a != "--"]
        handler = getattr(self, f"_{program.replace('-', '_')}", None)
        if handler is None or program.startswith("_"):
            return _err(127, f"sh: 1: {argv[0]}: not found\n")
        try:
            result: Result = await handler(args)
        except OSError as exc:
            return _err(1, f"{program}: {_strerror(exc)}\n")
        return result

    async def _true(self, args: list[str]) -> Result:
        return 0, b"", b""

    async def _sha256sum(self, args: list[str]) -> Result:
        out, err, rc = [], [], 0
        for name in args:
            host = self.files.host(name)
            if not host.is_file():
                err.append(f"sha256sum: {name}: No such file or directory\n")
                rc = 1
                continue
            digest = await asyncio.to_thread(_sha256, host)
            out.append(f"{digest}  {name}\n")
        return rc, "".join(out).encode(), "".join(err).encode()

    async def _cat(self, args: list[str]) -> Result:
        data = b""
        for name in args:
            host = self.files.host(name)
            if not host.is_file():
                return _err(1, f"cat: {name}: No such file or directory\n")
            data += _damaged(host.read_bytes()) if self.corrupts(name) else host.read_bytes()
        return 0, data, b""

    async def _stat(self, args: list[str]) -> Result:
        if len(args) != 3 or args[0] != "-c":
            return _err(1, "stat: homeport-sim supports only 'stat -c FORMAT PATH'\n")
        host = self.files.host(args[2])
        try:
            info = host.lstat()
        except OSError:
            return _err(1, f"stat: cannot statx '{args[2]}': No such file or directory\n")
        kind = "directory" if stat.S_ISDIR(info.st_mode) else "regular file"
        fields = {
            "%s": str(info.st_size),
            "%a": f"{stat.S_IMODE(info.st_mode):o}",
            "%U": "root",
            "%G": "root",
            "%F": kind,
            "%Y": str(int(info.st_mtime)),
        }
        text = args[1]
        for key, value in fields.items():
            text = text.replace(key, value)
        return 0, (text + "\n").encode(), b""

    async def _sshd(self, args: list[str]) -> Result:
        """``sshd -T``: the effective settings of the node's ``/etc/ssh/sshd_config``
        (without one, the key-only configuration the estates give their hosts)."""
        if args != ["-T"]:
            return _err(1, "homeport-sim: only 'sshd -T' is simulated on nodes\n")
        host = self.files.host("/etc/ssh/sshd_config")
        text = host.read_text() if host.is_file() else NODE_SSHD_CONFIG
        settings: dict[str, str] = {}
        for line in text.splitlines():
            words = line.split()
            if words and not words[0].startswith("#"):
                value = " ".join(words[1:]).lower()
                settings.setdefault(words[0].lower(), _SSHD_ALIASES.get(value, value))
        effective = {**NODE_SSHD_DEFAULTS, **settings}
        return 0, "".join(f"{k} {v}\n" for k, v in effective.items()).encode(), b""

    async def _test(self, args: list[str]) -> Result:
        if len(args) != 2 or args[0] not in ("-e", "-f", "-d", "-s"):
            return _err(2, "sh: 1: test: homeport-sim supports -e, -f, -d, -s PATH\n")
        host = self.files.host(args[1])
        checks = {
            "-e": host.exists(),
            "-f": host.is_file(),
            "-d": host.is_dir(),
            "-s": host.is_file() and host.stat().st_size > 0,
        }
        return (0 if checks[args[0]] else 1), b"", b""

    async def _mkdir(self, args: list[str]) -> Result:
        paths = _without_mode([a for a in args if a != "-p"])
        for path in paths:
            self.files.host(path).mkdir(parents=True, exist_ok=True)
        return 0, b"", b""

    async def _install(self, args: list[str]) -> Result:
        if "-d" not in args:
            return _err(1, "install: homeport-sim supports only 'install -d [-m MODE] DIR'\n")
        return await self._mkdir([a for a in args if a != "-d"])

    async def _ls(self, args: list[str]) -> Result:
        names = [a for a in args if not a.startswith("-")] or ["/root"]
        out = []
        for name in names:
            host = self.files.host(name)
            if not host.exists():
                return _err(2, f"ls: cannot access '{name}': No such file or directory\n")
            out += sorted(p.name for p in host.iterdir()) if host.is_dir() else [name]
        return 0, "".join(f"{n}\n" for n in out).encode(), b""

    async def _rm(self, args: list[str]) -> Result:
        force = any(a.startswith("-") and "f" in a for a in args)
        for path in (a for a in args if not a.startswith("-")):
            host = self.files.host(path)
            if host.is_dir():
                shutil.rmtree(host)
            elif host.exists():
                host.unlink()
                self.files.vanished(path)
            elif not force:
                return _err(1, f"rm: cannot remove '{path}': No such file or directory\n")
        return 0, b"", b""

    async def _mv(self, args: list[str]) -> Result:
        paths = [a for a in args if not a.startswith("-")]
        if len(paths) != 2:
            return _err(1, "mv: homeport-sim supports 'mv [-f] SRC DST'\n")
        source, dest = paths
        src = self.files.host(source)
        if not src.exists():
            return _err(1, f"mv: cannot stat '{source}': No such file or directory\n")
        volume = self.files.volume_at(source)
        try:
            self.files.check_space(dest, src.stat().st_size if volume is None else 0)
        except PveError:
            return _err(1, f"mv: error writing '{dest}': No space left on device\n")
        dst = self.files.host(dest)
        dst.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.move, src, dst)
        self.files.vanished(source)
        self.files.appeared(dest, volume)
        return 0, b"", b""

    async def _cp(self, args: list[str]) -> Result:
        paths = [a for a in args if not a.startswith("-")]
        if len(paths) != 2:
            return _err(1, "cp: homeport-sim supports 'cp SRC DST'\n")
        source, dest = paths
        src = self.files.host(source)
        if not src.is_file():
            return _err(1, f"cp: cannot stat '{source}': No such file or directory\n")
        try:
            self.files.check_space(dest, src.stat().st_size)
        except PveError:
            return _err(1, f"cp: error writing '{dest}': No space left on device\n")
        dst = self.files.host(dest)
        dst.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.copyfile, src, dst)
        if self.corrupts(source):
            dst.write_bytes(_damaged(dst.read_bytes()))
        self.files.appeared(dest, self.files.volume_at(source))
        return 0, b"", b""


def _without_mode(args: list[str]) -> list[str]:
    result, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "-m":
            skip = True
        elif not arg.startswith("-"):
            result.append(arg)
    return result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _damaged(data: bytes) -> bytes:
    if not data:
        return data
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


class _NodeSftp(asyncssh.SFTPServer):
    """SFTP through ``NodeFiles``; archive reads may be damaged by the corrupt-reads fault."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], shell: NodeShell) -> None:
        super().__init__(chan, chroot=None)
        self._shell = shell

    def map_path(self, path: bytes) -> bytes:
        return os.fsencode(self._shell.files.host(os.fsdecode(path)))

    def reverse_map_path(self, path: bytes) -> bytes:
        return path

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        data = super().read(file_obj, offset, size)
        assert isinstance(data, bytes)
        if offset == 0 and data:
            name = getattr(file_obj, "name", b"")
            node_path = self._node_path(os.fsdecode(name) if isinstance(name, bytes | str) else "")
            if node_path is not None and self._shell.corrupts(node_path):
                return bytes([data[0] ^ 0xFF]) + data[1:]
        return data

    def _node_path(self, host_path: str) -> str | None:
        host = Path(host_path)
        for dump in self._shell.files.dump_dirs():
            if host.parent == dump.host:
                return f"{dump.path}/{host.name}"
        return None


class _Server(asyncssh.SSHServer):
    def __init__(self, sshd: NodeSshd) -> None:
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
        keys = self._sshd.authorized_keys if username == "root" else ()
        self._conn.set_authorized_keys(keys)
        return True


class NodeSshd:
    """One node's sshd on ``address:port``; root logs in with the authorised keys only."""

    def __init__(
        self, world: World, node: str, root: Path, *, address: str, port: int, authorized: str
    ) -> None:
        self.shell = NodeShell(world, node, root)
        self.root = root
        self.address = address
        self.port = port
        self.authorized_keys: asyncssh.SSHAuthorizedKeys | tuple[()] = (
            asyncssh.import_authorized_keys(authorized) if authorized.strip() else ()
        )
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self._server: asyncssh.SSHAcceptor | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    def host_key(self) -> asyncssh.SSHKey:
        path = self.root / HOST_KEY
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = asyncssh.generate_private_key("ssh-ed25519", comment=f"root@{self.shell.node}")
            key.write_private_key(str(path))
            path.chmod(0o600)
        return asyncssh.read_private_key(str(path))

    def public_key(self) -> str:
        """``ssh-ed25519 AAAA…`` for the controller's known_hosts."""
        exported = self.host_key().export_public_key("openssh").decode()
        return " ".join(exported.split()[:2])

    async def start(self) -> None:
        self._server = await asyncssh.listen(
            self.address,
            self.port,
            server_factory=lambda: _Server(self),
            server_host_keys=[self.host_key()],
            process_factory=self._process,
            sftp_factory=lambda chan: _NodeSftp(chan, self.shell),
            allow_scp=False,
            password_auth=False,
            kbdint_auth=False,
            agent_forwarding=False,
            x11_forwarding=False,
            encoding=None,
            config=None,
        )

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

    async def _process(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            if process.command is None:
                rc, out, err = _err(1, "homeport-sim: interactive shells are not simulated\n")
            else:
                rc, out, err = await self.shell.run(process.command)
            with contextlib.suppress(OSError, asyncssh.Error, BrokenPipeError):
                process.stdout.write(out)
                process.stderr.write(err)
                process.exit(rc)
        finally:
            self._sessions.discard(task)
