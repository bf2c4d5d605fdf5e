"""``rsync -a --delete [-e 'ssh ...'] SRC/ [user@]ADDR:DST/`` from one guest to another.

The copy really crosses the simulated network: the source guest opens an SSH connection
(asyncssh) to the target's address and SSH port, through the target's ``nic.py``, and
starts the receiver there (``rsync --server ... . DST``; ``rsync_tree.py``), exactly the
exec a real rsync sends, so a forced ``command=`` in the target's ``authorized_keys`` runs
instead. So the target must be running, reachable and answering, and must trust the key:

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
import contextlib
import posixpath
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from . import rsync_tree
from .base import Completed, ExecContext, parse_options

TRAILER = "rsync: connection unexpectedly closed (0 bytes received so far) [sender]\n"
CODE_255 = "rsync error: unexplained error (code 255) at io.c(231) [sender=3.2.7]\n"
PROTOCOL_ERROR = (
    "rsync error: error in rsync protocol data stream (code 12) at io.c(232) [sender=3.2.7]\n"
)
DEFAULT_IDENTITIES = ("id_ed25519", "id_ecdsa", "id_rsa")
SERVER_FLAGS = "-logDtpre.iLsfxCIvu"  # what rsync 3.2.7's ``-a`` sends to its server


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
    if args[:1] == ["--server"]:
        return await server(ctx, args[1:])
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
        result = await _push(conn, source, dest or ".", "--delete" in flags)
    return result


async def _push(
    conn: asyncssh.SSHClientConnection, source: Path, dest: str, delete: bool
) -> Completed:
    """Start the receiver on the target (``rsync --server``, or whatever command the target's
    sshd forces for this key) and stream the sender's tree to it."""
    payload = await asyncio.to_thread(rsync_tree.pack, source)
    server = ["rsync", "--server", SERVER_FLAGS, *(["--delete"] if delete else []), ".", dest]
    try:
        async with conn.create_process(shlex.join(server), encoding=None) as process:
            # A receiver that refuses the run exits without reading: its answer is what counts.
            with contextlib.suppress(asyncssh.Error, OSError):
                process.stdin.write(payload)
                process.stdin.write_eof()
            result = await process.wait(check=False)
    except (asyncssh.Error, OSError) as exc:
        return _ssh_failure(f"ssh: {exc}")
    stderr = result.stderr if isinstance(result.stderr, bytes) else b""
    status = result.exit_status
    if status is None:  # the session was killed (a signal, the connection dropped)
        return Completed.err(12, stderr.decode() + PROTOCOL_ERROR)
    if status != 0 and not stderr:
        return Completed.err(12, PROTOCOL_ERROR)
    return Completed(status, b"", stderr)


async def server(ctx: ExecContext, args: list[str]) -> Completed:
    """``rsync --server [FLAGS] [--delete] . DEST``: the receiving half, run by sshd."""
    if "--sender" in args:
        return Completed.err(1, "homeport-sim: rsync --server --sender (pull) is not simulated\n")
    words = [a for a in args if not a.startswith("-")]
    if len(words) != 2 or words[0] != ".":
        return Completed.err(1, "rsync: protocol error: unexpected server arguments\n")
    return await receive_into(ctx, words[1], delete="--delete" in args)


async def receive_into(ctx: ExecContext, dest: str, *, delete: bool) -> Completed:
    payload = await ctx.stdin()
    try:
        target = ctx.host(dest or ".")
        if not ctx.account.is_root:
            ctx.guest.disk.require_dir_writable(ctx.account, target)
        owner = (ctx.account.uid, ctx.account.gid)
        await asyncio.to_thread(
            rsync_tree.receive, ctx.guest.disk, payload, target, delete=delete, owner=owner
        )
    except OSError as exc:
        return Completed.err(
            11,
            f'rsync: [receiver] write failed on "{dest}": {exc.strerror or exc}\n'
            "rsync error: error in file IO (code 11) at receiver.c(380) [receiver=3.2.7]\n",
        )
    return Completed()
