"""The exec side of a guest: one command per SSH exec (or guest-agent exec).

``sshd.py`` hands the exec line to :func:`run_line`, the guest agent hands an argv to
:func:`run_argv`. homeport builds every command with ``shlex.join``, so a command is split with
``shlex.split``. A line may be a list of commands joined by ``;``, ``&&`` and ``||`` (as
dash runs them, left to right; the list's status is the last command run's); other shell
syntax (pipes, redirections, ``$`` expansion, globs, subshells) is refused with exit 2
rather than half-simulated. ``sudo [-n]``, ``sh -c LINE``, leading
``VAR=value`` assignments and absolute tool paths (``/usr/bin/systemctl``) are understood;
unknown commands exit 127 with ``sh: 1: X: not found`` like dash.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import replace

from homeport.simulator.guest.lease import homeport_lease
from homeport.simulator.shell_lists import command_list

from . import (
    apt,
    curl,
    files,
    git,
    redis,
    replica,
    rsync,
    system,
    systemctl,
    tailscale,
    tar,
    wrappers,
)
from .base import Completed, ExecContext, Handler

COMMANDS: dict[str, Handler] = {
    "sha256sum": files.sha256sum,
    "stat": files.stat_,
    "test": files.test,
    "mkdir": files.mkdir,
    "chmod": files.chmod,
    "chown": files.chown,
    "mv": files.mv,
    "ln": files.ln,
    "rm": files.rm,
    "readlink": files.readlink,
    "cat": files.cat,
    "ls": files.ls,
    "install": files.install,
    "true": system.true,
    "echo": system.echo,
    "false": system.false,
    "hostname": system.hostname,
    "id": system.id_,
    "useradd": system.useradd,
    "whoami": system.whoami,
    "sshd": system.sshd,
    "ss": system.ss,
    "git": git.git,
    "curl": curl.curl,
    "tar": tar.tar,
    "systemctl": systemctl.systemctl,
    "journalctl": systemctl.journalctl,
    "tailscale": tailscale.tailscale,
    "rsync": rsync.rsync,
    "apt-get": apt.apt_get,
    "dpkg-query": apt.dpkg_query,
    "timeout": wrappers.timeout,
    "env": wrappers.env,
    "runuser": wrappers.runuser,
    "homeport-replica": replica.homeport_replica,
    "homeport-lease": homeport_lease,
    "redis-cli": redis.redis_cli,
}
BIN_DIRS = {"/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
SUDOERS_GRANT = re.compile(r"^\s*(\S+)\s+ALL=\(ALL(?::ALL)?\)\s+NOPASSWD:\s*ALL\s*$", re.M)


def shell_syntax(line: str) -> str | None:
    """The first unquoted shell metacharacter of ``line``, if any."""
    quote: str | None = None
    escaped = False
    for char in line:
        if escaped:
            escaped = False
        elif quote == "'":
            quote = None if char == "'" else quote
        elif char == "\\":
            escaped = True
        elif quote == '"':
            if char in "$`":
                return char
            quote = None if char == '"' else quote
        elif char in "'\"":
            quote = char
        elif char in "|&;<>()$`*?\n":
            return char
    return None


async def run_line(ctx: ExecContext, line: str) -> Completed:
    parts = command_list(line)
    if len(parts) == 1:
        return await _run_command(ctx, line)
    status, out, err = 0, b"", b""
    for connector, command in parts:
        if (connector == "&&" and status != 0) or (connector == "||" and status == 0):
            continue
        if not command.strip():
            return Completed(
                2, out, err + f"sh: 1: Syntax error: {connector!r} unexpected\n".encode()
            )
        done = await _run_command(ctx, command)
        status, out, err = done.rc, out + done.stdout, err + done.stderr
    return Completed(status, out, err)


async def _run_command(ctx: ExecContext, line: str) -> Completed:
    meta = shell_syntax(line)
    if meta is not None:
        return Completed.err(
            2,
            f"sh: 1: homeport-sim: shell syntax {meta!r} is not simulated (one command per exec)\n",
        )
    try:
        argv = shlex.split(line)
    except ValueError:
        return Completed.err(2, "sh: 1: Syntax error: Unterminated quoted string\n")
    return await run_argv(ctx, argv)


async def run_argv(ctx: ExecContext, argv: list[str]) -> Completed:
    env = dict(ctx.env)
    while argv and ASSIGNMENT.match(argv[0]):
        name, _, value = argv[0].partition("=")
        env[name] = value
        argv = argv[1:]
    if not argv:
        return Completed()
    name = argv[0]
    base = posixpath.basename(name)
    if "/" in name and posixpath.dirname(name) not in BIN_DIRS:
        return Completed.err(127, f"sh: 1: {name}: not found\n")
    ctx = replace(ctx, env=env)
    if base == "sudo":
        return await _sudo(ctx, argv[1:])
    if base in ("sh", "bash", "dash") and len(argv) == 3 and argv[1] == "-c":
        return await run_line(ctx, argv[2])
    if base == "[":
        if argv[-1] != "]":
            return Completed.err(2, "sh: 1: [: missing ]\n")
        return await files.test(ctx, argv[1:-1])
    handler = COMMANDS.get(base)
    if handler is None:
        return Completed.err(127, f"sh: 1: {name}: not found\n")
    return await handler(ctx, argv[1:])


def _may_sudo(ctx: ExecContext) -> bool:
    disk = ctx.guest.disk
    directory = disk.host("/etc/sudoers.d")
    grants = [disk.read_text("/etc/sudoers")]
    if directory.is_dir():
        grants += [p.read_text() for p in sorted(directory.iterdir()) if p.is_file()]
    return any(ctx.account.name in SUDOERS_GRANT.findall(text) for text in grants)


async def _sudo(ctx: ExecContext, args: list[str]) -> Completed:
    while args and args[0] in ("-n", "-H", "-E", "--non-interactive"):
        args = args[1:]
    if args[:1] == ["-u"]:
        if args[1:2] != ["root"]:
            return Completed.err(1, "homeport-sim: sudo -u USER is simulated for root only\n")
        args = args[2:]
    if not args:
        return Completed.err(1, "usage: sudo -h | -K | -k | -V\n")
    if not ctx.account.is_root:
        if not _may_sudo(ctx):
            return Completed.err(1, "sudo: a password is required\n")
        root = ctx.guest.disk.accounts().user("root")
        assert root is not None
        ctx = replace(ctx, account=root)
    return await run_argv(ctx, args)
