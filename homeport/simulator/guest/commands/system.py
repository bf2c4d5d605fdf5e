"""Small system commands: ``true``, ``false``, ``hostname``, ``id``, ``whoami``,
``sshd -T`` (from ``sshd_config.py``) and ``ss -ltnH`` (from the guest's listeners).
"""

from __future__ import annotations

import getopt
import re

from homeport.simulator.guest.sshd_config import load_sshd_config

from .base import Completed, ExecContext, parse_options


async def true(ctx: ExecContext, args: list[str]) -> Completed:
    return Completed()


async def false(ctx: ExecContext, args: list[str]) -> Completed:
    return Completed(1)


async def echo(ctx: ExecContext, args: list[str]) -> Completed:
    """dash's builtin: the words joined by one space; ``-n``: no newline."""
    if args[:1] == ["-n"]:
        return Completed.out(" ".join(args[1:]))
    return Completed.out(" ".join(args) + "\n")


async def hostname(ctx: ExecContext, args: list[str]) -> Completed:
    if args and not args[0].startswith("-"):
        if not ctx.account.is_root:
            return Completed.err(1, "hostname: you must be root to change the host name\n")
        ctx.guest.disk.write_file("/etc/hostname", (args[0] + "\n").encode())
        return Completed()
    return Completed.out(ctx.guest.hostname() + "\n")


async def whoami(ctx: ExecContext, args: list[str]) -> Completed:
    return Completed.out(ctx.account.name + "\n")


async def id_(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options("id", args, "ugGnr", ["user", "group", "groups", "name"])
    if isinstance(parsed, Completed):
        return parsed
    opts, users = parsed
    flags = {o for o, _ in opts}
    accounts = ctx.guest.disk.accounts()
    account = ctx.account
    if users:
        found = accounts.user(users[0])
        if found is None:
            return Completed.err(1, f"id: '{users[0]}': no such user\n")
        account = found
    named = "-n" in flags or "--name" in flags
    if "-u" in flags or "--user" in flags:
        return Completed.out(f"{account.name if named else account.uid}\n")
    if "-g" in flags or "--group" in flags:
        return Completed.out(f"{accounts.by_gid(account.gid) if named else account.gid}\n")
    groups = sorted(account.groups, key=lambda g: (g != account.gid, g))
    if "-G" in flags or "--groups" in flags:
        words = [accounts.by_gid(g) if named else str(g) for g in groups]
        return Completed.out(" ".join(words) + "\n")
    listed = ",".join(f"{g}({accounts.by_gid(g)})" for g in groups)
    return Completed.out(
        f"uid={account.uid}({account.name}) gid={account.gid}({accounts.by_gid(account.gid)}) "
        f"groups={listed}\n"
    )


async def sshd(ctx: ExecContext, args: list[str]) -> Completed:
    if args != ["-T"]:
        return Completed.err(1, "homeport-sim: only 'sshd -T' is simulated\n")
    if not ctx.account.is_root:
        return Completed.err(1, "sshd: no hostkeys available -- exiting.\n")
    return Completed.out(load_sshd_config(ctx.guest.disk, ctx.guest.ssh_port).render())


def _ss_line(local: str, peer: str, backlog: int) -> str:
    return f"LISTEN 0      {backlog:<6} {local:>21} {peer:>21}    \n"


async def ss(ctx: ExecContext, args: list[str]) -> Completed:
    flags = "".join(a.lstrip("-") for a in args if a.startswith("-") and not a.startswith("--"))
    if not {"l", "t", "n"} <= set(flags):
        return Completed.err(1, "homeport-sim: only 'ss -ltn[H]' is simulated\n")
    lines = (
        []
        if "H" in flags
        else ["State  Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess\n"]
    )
    lines.append(_ss_line("127.0.0.53%lo:53", "0.0.0.0:*", 4096))
    lines.append(_ss_line("127.0.0.54:53", "0.0.0.0:*", 4096))
    port = ctx.guest.ssh_port
    if ctx.guest.sshd_listening():
        lines.append(_ss_line(f"0.0.0.0:{port}", "0.0.0.0:*", 128))
    for host, app_port in ctx.guest.app_listeners():
        local = f"[{host}]:{app_port}" if ":" in host else f"{host}:{app_port}"
        lines.append(_ss_line(local, "0.0.0.0:*", 128))
    if ctx.guest.sshd_listening():
        lines.append(_ss_line(f"[::]:{port}", "[::]:*", 128))
    return Completed.out("".join(lines))


# shadow 4.13's is_valid_user_name (lib/chkname.c, Ubuntu 24.04): letters, digits, '_',
# '.', '-', an optional final '$', not all digits, not '.' or '..', at most 32 characters.
_SHADOW_NAME = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*[$]?$")
USER_NAME_MAX_LENGTH = 32


def valid_user_name(name: str) -> bool:
    return (
        len(name) <= USER_NAME_MAX_LENGTH
        and bool(_SHADOW_NAME.match(name))
        and not name.isdigit()
        and name not in (".", "..")
    )


async def useradd(ctx: ExecContext, args: list[str]) -> Completed:
    """``useradd --system [--home-dir H] [--shell S] [--no-create-home] [--] NAME`` like shadow's.

    A system user takes the highest free uid/gid at or below 999 (SYS_UID_MAX), with a
    group of its own name; silent on success, exit 9 when the name exists, exit 3 for a
    name shadow refuses (unless ``--badname``).
    """
    if not ctx.account.is_root:
        return Completed.err(
            1, "useradd: Permission denied.\nuseradd: cannot lock /etc/passwd; try again later.\n"
        )
    try:
        opts, names = getopt.gnu_getopt(
            args,
            "rMmd:s:",
            ["system", "no-create-home", "create-home", "home-dir=", "shell=", "badname"],
        )
    except getopt.GetoptError:
        return Completed.err(2, "Usage: useradd [options] LOGIN\n")
    options = dict(opts)
    if len(names) != 1:
        return Completed.err(2, "Usage: useradd [options] LOGIN\n")
    name = names[0]
    if not valid_user_name(name) and "--badname" not in options:
        return Completed.err(3, f"useradd: invalid user name '{name}': use --badname to ignore\n")
    accounts = ctx.guest.disk.accounts()
    if accounts.user(name) is not None:
        return Completed.err(9, f"useradd: user '{name}' already exists\n")
    used = {a.uid for a in accounts.users.values()} | set(accounts.groups.values())
    uid = next(i for i in range(999, 99, -1) if i not in used)
    home = options.get("--home-dir") or options.get("-d") or f"/home/{name}"
    shell = options.get("--shell") or options.get("-s") or "/usr/sbin/nologin"
    for what, value in (("home directory", home), ("shell", shell)):
        if any(c in value for c in ":\n") or not value.startswith("/"):
            return Completed.err(3, f"useradd: invalid {what} '{value}'\n")
    passwd = ctx.guest.disk.read_text("/etc/passwd")
    group = ctx.guest.disk.read_text("/etc/group")
    ctx.guest.disk.write_file(
        "/etc/passwd", (passwd + f"{name}:x:{uid}:{uid}::{home}:{shell}\n").encode()
    )
    ctx.guest.disk.write_file("/etc/group", (group + f"{name}:x:{uid}:\n").encode())
    return Completed()
