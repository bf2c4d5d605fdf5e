"""``git`` inside a guest: the real git binary, with guest paths mapped into the rootfs.

Repository URLs (``clone``, ``fetch``, ``ls-remote``) are absolute paths or ``file://`` URLs
on the control plane's filesystem (the simulator's host), which every guest may read as if
it were the git server; any other transport is refused. Work trees (``-C DIR``, the clone
target) are guest paths. Output mentioning the rootfs is rewritten to guest paths.

Hardening, because this runs a real program on the simulator's host: no system or global
git config of the host is read, repository discovery stops at the rootfs, hooks, fsmonitor
and ssh commands are disabled and only the ``file`` protocol is allowed.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import shutil
from pathlib import Path

from .base import Completed, ExecContext

SUBCOMMANDS = {
    "clone",
    "fetch",
    "checkout",
    "switch",
    "rev-parse",
    "ls-remote",
    "reset",
    "status",
    "log",
    "remote",
    "show-ref",
    "describe",
    "init",
    "config",
}
WRITES = {"clone", "fetch", "checkout", "switch", "reset", "init"}
SAFE_CONFIG_PREFIXES = ("advice.", "user.", "init.", "core.quotepath", "safe.directory", "color.")
VALUE_OPTIONS = {"--depth", "-b", "--branch", "-o", "--origin", "--filter", "--shallow-since"}
FORBIDDEN_OPTIONS = (
    "--upload-pack",
    "-u",
    "--reference",
    "--template",
    "--separate-git-dir",
    "--config",
    "--exec",
    "--receive-pack",
)
HARDENING = [
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "core.sshCommand=false",
    "-c", "protocol.allow=never",
    "-c", "protocol.file.allow=always",
    "-c", "safe.directory=*",
]  # fmt: skip


def _usage(message: str) -> Completed:
    return Completed.err(129, f"homeport-sim: {message}\n")


def _is_repository_url(value: str) -> bool:
    return value.startswith(("file://", "/"))


def _refuse_transport(value: str) -> bool:
    """Anything but a local path or ``file://`` URL (network, ``ext::``, scp-like)."""
    if value.startswith("file://"):
        return False
    if "::" in value or "://" in value:
        return True
    return ":" in value.split("/")[0] and not value.startswith("/")


def _positional(args: list[str]) -> list[int]:
    """Indexes of positional arguments, skipping the values of value-taking options;
    everything after ``--`` is positional."""
    indexes, skip, ended = [], False, False
    for index, arg in enumerate(args):
        if skip:
            skip = False
        elif ended:
            indexes.append(index)
        elif arg == "--":
            ended = True
        elif arg in VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-") or arg == "-":
            indexes.append(index)
    return indexes


def _map_clone_args(ctx: ExecContext, args: list[str]) -> list[str] | Completed:
    mapped = list(args)
    positions = _positional(args)
    if not positions:
        return _usage("git clone needs a repository")
    url = args[positions[0]]
    if _refuse_transport(url) or not _is_repository_url(url):
        return Completed.err(128, f"fatal: transport for '{url}' is not simulated\n")
    if len(positions) > 1:
        target = args[positions[1]]
        host = ctx.host(target)
        try:
            ctx.guest.disk.require_dir_writable(ctx.account, host)
        except OSError as exc:
            return Completed.err(
                128, f"fatal: could not create work tree dir '{target}': {exc.strerror}\n"
            )
        mapped[positions[1]] = os.fspath(host)
    return mapped


def _check_repository(args: list[str]) -> Completed | None:
    """The first positional of fetch/ls-remote is a remote name or a repository URL."""
    positions = _positional(args)
    if positions and _refuse_transport(args[positions[0]]):
        value = args[positions[0]]
        return Completed.err(128, f"fatal: transport for '{value}' is not simulated\n")
    return None


async def git(ctx: ExecContext, args: list[str]) -> Completed:
    cwd = ctx.cwd
    extra_config: list[str] = []
    while args and args[0].startswith("-"):
        option = args.pop(0)
        if option == "-C" and args:
            cwd = posixpath.normpath(posixpath.join(cwd, args.pop(0)))
        elif option == "-c" and args:
            setting = args.pop(0)
            if not setting.lower().startswith(SAFE_CONFIG_PREFIXES):
                return _usage(f"git -c {setting.split('=')[0]} is not simulated")
            extra_config += ["-c", setting]
        elif option in ("--no-pager", "--no-optional-locks"):
            continue
        else:
            return _usage(f"git option {option} is not simulated")
    if not args:
        return _usage("git without a subcommand is not simulated")
    subcommand, rest = args[0], args[1:]
    if subcommand not in SUBCOMMANDS:
        return _usage(f"git {subcommand} is not simulated")
    if any(a.split("=")[0] in FORBIDDEN_OPTIONS for a in rest):
        return _usage(f"git {subcommand} option is not simulated")
    if subcommand == "config" and not (rest[:1] == ["--get"] or len(rest) == 1):
        return _usage("only 'git config --get KEY' is simulated")
    if subcommand in WRITES and ctx.guest.disk.full:
        return Completed.err(128, "fatal: write error: No space left on device\n")
    if subcommand == "clone":
        mapped = _map_clone_args(ctx, rest)
        if isinstance(mapped, Completed):
            return mapped
        rest = mapped
    else:
        refused = _check_repository(rest) if subcommand in ("fetch", "ls-remote") else None
        if refused is not None:
            return refused
    host_cwd = ctx.host(cwd)
    if not host_cwd.is_dir():
        return Completed.err(128, f"fatal: cannot change to '{cwd}': No such file or directory\n")
    result = await _run_git(ctx, [*HARDENING, *extra_config, subcommand, *rest], host_cwd)
    if subcommand in WRITES and not ctx.account.is_root:
        written = _clone_target(rest, host_cwd) if subcommand == "clone" else host_cwd
        ctx.guest.disk.tag_tree(written, ctx.account.uid, ctx.account.gid)
    return result


def _clone_target(args: list[str], host_cwd: Path) -> Path:
    """Where ``git clone`` put the work tree (its second positional, or the URL's name)."""
    positions = _positional(args)
    if len(positions) > 1:
        return Path(args[positions[1]])
    name = posixpath.basename(args[positions[0]].rstrip("/")).removesuffix(".git")
    return host_cwd / name


async def _run_git(ctx: ExecContext, argv: list[str], cwd: Path) -> Completed:
    home = ctx.host(ctx.account.home)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.fspath(home),
        "LANG": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.fspath(home / ".gitconfig"),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CEILING_DIRECTORIES": os.fspath(ctx.guest.disk.root),
        "GIT_ALLOW_PROTOCOL": "file",
    }
    binary = shutil.which("git") or "git"
    process = await asyncio.create_subprocess_exec(
        binary,
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await process.communicate()
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    root = os.fsencode(ctx.guest.disk.root)
    return Completed(process.returncode or 0, stdout.replace(root, b""), stderr.replace(root, b""))
