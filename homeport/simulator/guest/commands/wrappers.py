"""Commands that run another command: coreutils ``timeout`` and ``env [-C DIR]``, and
util-linux ``runuser -u USER``, with the real tools' exit statuses (124 on a timeout, 125
when ``env`` cannot change directory, 1 when ``runuser`` is not run by root)."""

from __future__ import annotations

import asyncio
import getopt
import re
from dataclasses import replace

from .base import Completed, ExecContext

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


async def _run(ctx: ExecContext, argv: list[str]) -> Completed:
    from . import run_argv  # the dispatcher imports this module

    return await run_argv(ctx, argv)


async def timeout(ctx: ExecContext, args: list[str]) -> Completed:
    try:
        _, rest = getopt.getopt(args, "k:s:", ["kill-after=", "signal=", "preserve-status"])
    except getopt.GetoptError as exc:
        return Completed.err(125, f"timeout: invalid option -- '{exc.opt}'\n")
    if len(rest) < 2:
        return Completed.err(125, "timeout: missing operand\n")
    found = _DURATION.match(rest[0])
    if not found:
        return Completed.err(125, f"timeout: invalid time interval '{rest[0]}'\n")
    seconds = float(found.group(1)) * _UNIT[found.group(2)]
    try:
        return await asyncio.wait_for(_run(ctx, rest[1:]), timeout=seconds or None)
    except TimeoutError:
        return Completed(124)


async def env(ctx: ExecContext, args: list[str]) -> Completed:
    try:
        opts, rest = getopt.getopt(args, "C:", ["chdir="])
    except getopt.GetoptError as exc:
        return Completed.err(125, f"env: invalid option -- '{exc.opt}'\n")
    for _, directory in opts:
        target = ctx.host(directory)
        if not target.is_dir():
            return Completed.err(
                125, f"env: cannot change directory to '{directory}': No such file or directory\n"
            )
        ctx = replace(ctx, cwd=ctx.guest.disk.guest(target))
    if not rest:
        return Completed.out("".join(f"{k}={v}\n" for k, v in ctx.env.items()))
    return await _run(ctx, rest)


async def runuser(ctx: ExecContext, args: list[str]) -> Completed:
    if not ctx.account.is_root:
        return Completed.err(1, "runuser: may not be used by non-root users\n")
    try:
        opts, rest = getopt.getopt(args, "u:", ["user="])
    except getopt.GetoptError as exc:
        return Completed.err(1, f"runuser: unrecognized option '{exc.opt}'\n")
    names = [value for _, value in opts]
    if not names or not rest:
        return Completed.err(1, "runuser: no command was specified\n")
    account = ctx.guest.disk.accounts().user(names[-1])
    if account is None:
        return Completed.err(
            1,
            f"runuser: user {names[-1]} does not exist or the user entry does not contain "
            "all the required fields\n",
        )
    environment = {**ctx.env, "USER": account.name, "LOGNAME": account.name}
    return await _run(replace(ctx, account=account, env=environment), rest)
