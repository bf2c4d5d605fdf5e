"""``rsync -a --delete [-e 'ssh ...'] SRC/ [user@]ADDR:DST/`` from one guest to another.

The copy really crosses the simulated network: the source guest opens an SSH connection
(asyncssh) to the target's address and SSH port, through the target's ``nic.py``, and
mirrors the tree over SFTP. So the target must be running, reachable and answering, and
must trust the key:

- identity: ``-e 'ssh -i KEY'`` (a guest path on the source), else the exec user's
  ``~/.ssh/id_ed25519`` (then ``id_ecdsa``, ``id_rsa``);
- the target user's ``authorized_keys`` must list its public key;
- host key: checked against ``UserKnownHostsFile`` (default ``~/.ssh/known_hosts`` on the
  source) unless ``-o StrictHostKeyChecking=no``; ``accept-new`` records unknown hosts;
- port: ``-p PORT`` in ``-e``, else the simulator's SSH port (the guests' "22").

Failures look like rsync 3.2.7 over OpenSSH: exit 255 with ``ssh: connect to host ADDR
port P: Connection refused`` (or ``Connection timed out``, ``Host key verification
failed.``, ``Permission denied (publickey).``), exit 11 for I/O errors on the receiver.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import shlex
import stat
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from .base import Completed, ExecContext, parse_options

TRAILER = "rsync: connection unexpectedly closed (0 bytes received so far) [sender]\n"
CODE_255 = "rsync error: unexplained error (code 255) at io.c(231) [sender=3.2.7]\n"
DEFAULT_IDENTITIES = ("id_ed25519", "id_ecdsa", "id_rsa")


@dataclass
class SshOptions:
    identity: str | None = None
    port: int | None = None
    user: str | None = None
    options: dict[str, str] = field(default_factory=dict)


def parse_rsh(command: str) -> SshOptions | str:
    words = shlex.split(command)
    if not words or posixpath.basename(words[0]) != "ssh":
        return "homeport-sim: rsync -e supports only ssh"
    parsed = SshOptions()
    index = 1
    while index < len(words):
        word = words[index]
        value = words[index + 1] if index + 1 < len(words) else ""
        if word in ("-i", "-p", "-l", "-o"):
            index += 2
            if word == "-i":
                parsed.identity = value
            elif word == "-p":
                parsed.port = int(value)
            elif word == "-l":
                parsed.user = value
            else:
                key, _, setting = value.partition("=")
                parsed.options[key.lower()] = setting
        elif word.startswith("-o"):
            key, _, setting = word[2:].partition("=")
            parsed.options[key.lower()] = setting
            index += 1
        else:
            index += 1
    return parsed


def _ssh_failure(message: str) -> Completed:
    return Completed.err(255, f"{message}\r\n{TRAILER}{CODE_255}")


def _identity(ctx: ExecContext, ssh: SshOptions) -> Path | None:
    if ssh.identity:
        path = ctx.host(ssh.identity)
        return path if path.is_file() else None
    for name in DEFAULT_IDENTITIES:
        path = ctx.host(posixpath.join(ctx.account.home, ".ssh", name))
        if path.is_file():
            return path
    return None


def _known_hosts(ctx: ExecContext, ssh: SshOptions) -> tuple[Path, str]:
    file = ssh.options.get(
        "userknownhostsfile", posixpath.join(ctx.account.home, ".ssh/known_hosts")
    )
    return ctx.host(file), ssh.options.get("stricthostkeychecking", "ask").lower()


def _record_host_key(known: Path, host: str, port: int, key: asyncssh.SSHKey) -> None:
    name = host if port == 22 else f"[{host}]:{port}"
    known.parent.mkdir(parents=True, exist_ok=True)
    with known.open("a") as handle:
        handle.write(f"{name} {key.export_public_key().decode().strip()}\n")


def _trusted_keys(known: Path, host: str, port: int) -> list[asyncssh.SSHKey]:
    if not known.is_file():
        return []
    trusted, *_ = asyncssh.read_known_hosts(str(known)).match(host, host, port)
    return list(trusted)


async def _connect(
    ctx: ExecContext, ssh: SshOptions, user: str, host: str, port: int
) -> asyncssh.SSHClientConnection | Completed:
    identity = _identity(ctx, ssh)
    known, strict = _known_hosts(ctx, ssh)
    trust: str | tuple[()] | None = None
    if strict not in ("no", "off", "accept-new"):
        trust = str(known) if known.is_file() else ()
    try:
        conn = await asyncssh.connect(
            host,
            port,
            username=user,
            client_keys=[str(identity)] if identity else [],
            known_hosts=trust,
            agent_path=None,
            password_auth=False,
            kbdint_auth=False,
            config=None,
            connect_timeout=float(ssh.options.get("connecttimeout", "30")),
        )
    except ConnectionRefusedError:
        return _ssh_failure(f"ssh: connect to host {host} port {port}: Connection refused")
    except (TimeoutError, asyncssh.ConnectionLost, ConnectionResetError):
        return _ssh_failure(f"ssh: connect to host {host} port {port}: Connection timed out")
    except asyncssh.HostKeyNotVerifiable:
        return _ssh_failure("Host key verification failed.")
    except asyncssh.PermissionDenied:
        return _ssh_failure(f"{user}@{host}: Permission denied (publickey).")
    except OSError as exc:
        return _ssh_failure(f"ssh: connect to host {host} port {port}: {exc.strerror}")
    if strict == "accept-new":
        key = conn.get_server_host_key()
        trusted = _trusted_keys(known, host, port)
        if key is None or (trusted and key not in trusted):
            conn.close()
            await conn.wait_closed()
            return _ssh_failure("Host key verification failed.")
        if not trusted:
            _record_host_key(known, host, port, key)
    return conn


async def rsync(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options(
        "rsync",
        args,
        "arvzqPtlpgoDe:",
        ["archive", "recursive", "delete", "rsh=", "timeout=", "partial", "progress", "quiet",
         "verbose", "checksum", "numeric-ids", "times", "perms"],
    )  # fmt: skip
    if isinstance(parsed, Completed):
        return parsed
    opts, paths = parsed
    values = dict(opts)
    flags = {o for o, _ in opts}
    if len(paths) != 2 or ":" not in paths[1] or ":" in paths[0]:
        return Completed.err(
            1,
            "homeport-sim: only 'rsync [-a] [--delete] SRC [user@]HOST:DST' "
            "(push to another guest) is simulated\n",
        )
    ssh = parse_rsh(values.get("-e", values.get("--rsh", "ssh")))
    if isinstance(ssh, str):
        return Completed.err(1, ssh + "\n")
    remote, _, dest = paths[1].partition(":")
    user, _, host = remote.rpartition("@")
    user = user or ssh.user or ctx.account.name
    source = ctx.host(paths[0])
    if not await asyncio.to_thread(source.exists):
        return Completed.err(
            23,
            f'rsync: [sender] change_dir "{paths[0]}" failed: No such file or directory (2)\n'
            "rsync error: some files/attrs were not transferred (see previous errors) "
            "(code 23) at main.c(1338) [sender=3.2.7]\n",
        )
    port = ssh.port or ctx.guest.ssh_port
    connected = await _connect(ctx, ssh, user, host, port)
    if isinstance(connected, Completed):
        return connected
    if await asyncio.to_thread(source.is_dir) and not paths[0].endswith("/"):
        dest = posixpath.join(dest or ".", source.name)
    async with connected as conn:
        result = await _mirror(conn, source, dest or ".", "--delete" in flags)
    return result


@dataclass(frozen=True)
class LocalEntry:
    """One file, directory or symlink of the source tree, relative to its top."""

    relative: str
    kind: str  # "file" | "dir" | "link"
    mode: int
    size: int
    mtime: int
    atime: int
    link_target: str = ""


def list_tree(source: Path) -> list[LocalEntry]:
    """The source tree, parents before children (rsync's sender file list)."""
    entries: list[LocalEntry] = []

    def visit(path: Path, relative: str) -> None:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            kind, target = "link", os.readlink(path)
        else:
            kind, target = ("dir" if stat.S_ISDIR(st.st_mode) else "file"), ""
        entries.append(
            LocalEntry(relative, kind, stat.S_IMODE(st.st_mode), st.st_size,
                       int(st.st_mtime), int(st.st_atime), target)
        )  # fmt: skip
        if kind == "dir":
            for child in sorted(path.iterdir()):
                visit(child, posixpath.join(relative, child.name))

    visit(source, "")
    return entries


async def _mirror(
    conn: asyncssh.SSHClientConnection, source: Path, dest: str, delete: bool
) -> Completed:
    entries = await asyncio.to_thread(list_tree, source)
    try:
        async with conn.start_sftp_client() as sftp:
            for entry in entries:
                await _apply(sftp, source, entry, posixpath.join(dest, entry.relative))
            if delete:
                await _delete_extraneous(sftp, dest, entries)
    except (asyncssh.SFTPError, OSError) as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        return Completed.err(
            11,
            f'rsync: [receiver] write failed on "{dest}": {reason}\n'
            "rsync error: error in file IO (code 11) at receiver.c(380) [receiver=3.2.7]\n",
        )
    return Completed()


async def _apply(sftp: asyncssh.SFTPClient, source: Path, entry: LocalEntry, target: str) -> None:
    target = target.rstrip("/") or "/"
    if entry.kind == "dir":
        if await sftp.lexists(target) and not await sftp.isdir(target):
            await _remove(sftp, target)
        if not await sftp.isdir(target):
            await sftp.makedirs(target)
        await sftp.chmod(target, entry.mode)
    elif entry.kind == "link":
        if await sftp.lexists(target):
            await _remove(sftp, target)
        await sftp.symlink(entry.link_target, target)
    else:
        await _put_file(sftp, source / entry.relative if entry.relative else source, entry, target)


async def _put_file(sftp: asyncssh.SFTPClient, local: Path, entry: LocalEntry, target: str) -> None:
    if await sftp.isfile(target):
        remote = await sftp.stat(target)
        if remote.size == entry.size and remote.mtime == entry.mtime:
            return  # rsync's quick check: same size and modification time
    tmp = posixpath.join(posixpath.dirname(target), f".{posixpath.basename(target)}.rsync-tmp")
    data = await asyncio.to_thread(local.read_bytes)
    async with sftp.open(tmp, "wb") as handle:
        await handle.write(data)
    await sftp.chmod(tmp, entry.mode)
    await sftp.utime(tmp, (entry.atime, entry.mtime))
    await sftp.posix_rename(tmp, target)


async def _delete_extraneous(
    sftp: asyncssh.SFTPClient, dest: str, entries: list[LocalEntry]
) -> None:
    wanted = {posixpath.join(dest, e.relative).rstrip("/") for e in entries}
    for entry in entries:
        if entry.kind != "dir":
            continue
        directory = posixpath.join(dest, entry.relative).rstrip("/") or "/"
        for name in await sftp.listdir(directory):
            path = posixpath.join(directory, name)
            if name not in (".", "..") and path not in wanted:
                await _remove(sftp, path)


async def _remove(sftp: asyncssh.SFTPClient, path: str) -> None:
    if await sftp.isdir(path) and not await sftp.islink(path):
        await sftp.rmtree(path)
    else:
        await sftp.remove(path)
