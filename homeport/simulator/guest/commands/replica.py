"""``/usr/local/sbin/homeport-replica``: homeport's replication wrapper, as installed on a
StandbyPair member (its Python text is ``REPLICA_SCRIPT`` in the controller's
``standbypair/replkeys.py``; this module transcribes what that script does):

- ``receive PAIR DATA_DIR`` (the forced command of the pair's key): accept only
  ``rsync --server FLAGS . epoch-N/`` from ``SSH_ORIGINAL_COMMAND``, and only while the
  pair's epoch file says N; receive into the staging directory; then, under the pair's
  lock and only if the epoch still says N, mirror the staging directory onto DATA_DIR;
- ``fence PAIR EPOCH``: under the lock, raise the epoch file (never lower it); drop the
  pair's entries (and the shared key of homeport < 0.9) from root's ``authorized_keys``; kill the pair's receiving sessions.

The script must be installed (exit 127 otherwise, as the shell would say).
"""

from __future__ import annotations

import asyncio
import re
import shlex
from pathlib import Path

from . import rsync, rsync_tree
from .base import Completed, ExecContext

TOOL = "/usr/local/sbin/homeport-replica"
STATE = "/var/lib/homeport/replica"
KEYS = "/root/.ssh/authorized_keys"
FLAG = re.compile(r"^-[A-Za-z.]+$|^--delete(-during|-after|-delay)?$")
_LOCKS: dict[tuple[str, str], asyncio.Lock] = {}


def lock_for(guest_dir: Path, pair: str) -> asyncio.Lock:
    """The pair's apply lock on one guest (the script's ``flock`` on its lock file)."""
    return _LOCKS.setdefault((str(guest_dir), pair), asyncio.Lock())


def _lock(ctx: ExecContext, pair: str) -> asyncio.Lock:
    return lock_for(ctx.guest.disk.dir, pair)


def _refuse(message: str) -> Completed:
    return Completed.err(1, f"homeport-replica: {message}\n")


def read_epoch(ctx: ExecContext, pair: str) -> int:
    text = ctx.guest.disk.read_text(f"{STATE}/{pair}/epoch").strip()
    return int(text) if text.isdigit() else 0


async def homeport_replica(ctx: ExecContext, args: list[str]) -> Completed:
    if not ctx.host(TOOL).is_file():
        return Completed.err(127, f"sh: 1: {TOOL}: not found\n")
    if not ctx.account.is_root:
        return Completed.err(1, f"homeport-replica: {STATE}: Permission denied\n")
    if len(args) == 3 and args[0] == "receive":
        return await _receive(ctx, args[1], args[2])
    if len(args) == 3 and args[0] == "fence" and args[2].isdigit():
        return await _fence(ctx, args[1], int(args[2]))
    return _refuse("usage: homeport-replica receive PAIR DATA_DIR | fence PAIR EPOCH")


async def _receive(ctx: ExecContext, pair: str, data_dir: str) -> Completed:
    try:
        words = shlex.split(ctx.env.get("SSH_ORIGINAL_COMMAND", ""))
    except ValueError:
        words = []
    if words[:2] != ["rsync", "--server"] or len(words) < 4 or words[-2] != ".":
        return _refuse("only an rsync push is allowed")
    flags, target = words[2:-2], words[-1].rstrip("/")
    if not all(FLAG.match(f) for f in flags) or not re.fullmatch(r"epoch-[0-9]+", target):
        return _refuse(f"refused: {' '.join(words)}")
    epoch = int(target.split("-", 1)[1])
    if epoch != read_epoch(ctx, pair):
        return _refuse(f"stale epoch {epoch}: the pair is at epoch {read_epoch(ctx, pair)}")
    staging = f"{STATE}/{pair}/staging"
    ctx.guest.disk.make_dir(staging, mode=0o700)
    received = await rsync.receive_into(ctx, staging + "/", delete="--delete" in flags)
    if received.rc != 0:
        return received
    async with _lock(ctx, pair):
        if read_epoch(ctx, pair) != epoch:
            return _refuse(
                f"fenced during the run: the pair moved to epoch {read_epoch(ctx, pair)}"
            )
        disk = ctx.guest.disk
        try:
            await asyncio.to_thread(
                rsync_tree.mirror, disk, ctx.host(staging), ctx.host(data_dir), delete=True,
                owner=(0, 0),
            )  # fmt: skip
        except OSError as exc:
            return Completed.err(11, f"rsync: write failed on {data_dir!r}: {exc.strerror}\n")
    return Completed()


async def _fence(ctx: ExecContext, pair: str, epoch: int) -> Completed:
    disk = ctx.guest.disk
    async with _lock(ctx, pair):
        if epoch > read_epoch(ctx, pair):
            disk.make_dir(f"{STATE}/{pair}", mode=0o700)
            disk.write_file(f"{STATE}/{pair}/epoch", f"{epoch}\n".encode(), mode=0o644)
    lines = disk.read_text(KEYS).splitlines()
    kept = [
        line
        for line in lines
        if f" homeport-replica:{pair}:" not in line
        and not line.endswith(f" homeport-replication-{pair}")
    ]
    if kept != lines:
        disk.write_file(KEYS, "".join(f"{line}\n" for line in kept).encode(), mode=0o600)
    sshd = ctx.guest.sshd
    if sshd is not None:
        sshd.kill_forced(lambda command: shlex.split(command)[1:3] == ["receive", pair])
    return Completed()
