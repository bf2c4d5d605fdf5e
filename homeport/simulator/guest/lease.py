"""``/usr/local/sbin/homeport-lease``, homeport's self-fencing lease tool, as installed on a
StandbyPair member (its Python text is ``LEASE_SCRIPT`` in the controller's
``standbypair/selffence.py``; this module transcribes it):

- ``renew UNIT ISSUED_AT LEASE`` (an SSH exec; ``commands/``): arm UNIT until
  ISSUED_AT + LEASE; refused, exit 1, when that is already past (a renewal that arrives
  late, e.g. queued in a hung VM's network, never re-arms);
- ``disarm UNIT``: drop the lease file; ``release UNIT``: the same, only if UNIT is not
  active (exit 1 otherwise);
- ``guard UNIT`` (the ``ExecStart=`` of a guard unit; ``systemd.py`` runs it): every
  ``TICK`` seconds, stop UNIT if its lease lapsed.

The lease file is world-readable: the sim app (``simapp.py``) checks it before it
acknowledges a write, as homeport asks a real App to.

Time: ISSUED_AT is the control plane's wall clock and the script compares it with the
VM's, which NTP keeps in sync; the simulated guests' own clock runs at the estate's time
scale (Proxmox task durations), so the lease is checked against :func:`synced_clock`, the
host's wall clock, i.e. a guest clock in perfect sync. A frozen (hung) VM runs nothing: the
guard skips its checks while hung, and the check that fell due during the freeze runs the
moment the VM resumes, before the network catches up (``runtime.resume_vm``), as an overdue
timer fires at resume while the peers' TCP retransmissions are still backed off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .commands.base import Completed, ExecContext
from .rootfs import GuestDisk

if TYPE_CHECKING:
    from .systemd import Systemd

TOOL = "/usr/local/sbin/homeport-lease"
LEASES = "/run/homeport/lease"
TICK = 0.2


def synced_clock() -> float:
    return time.time()


def _path(unit: str) -> str:
    return f"{LEASES}/{unit}"


def lapsed(disk: GuestDisk, unit: str) -> bool:
    text = disk.read_text(_path(unit), default="\0")
    if text == "\0":
        return False  # not armed: not a primary
    try:
        issued_at, lease = (float(v) for v in text.split()[:2])
    except ValueError:
        return True  # unreadable: fail closed
    return synced_clock() > issued_at + lease


async def homeport_lease(ctx: ExecContext, args: list[str]) -> Completed:
    """The exec side: ``renew`` and ``disarm``."""
    if not ctx.host(TOOL).is_file():
        return Completed.err(127, f"sh: 1: {TOOL}: not found\n")
    disk = ctx.guest.disk
    if len(args) == 4 and args[0] == "renew":
        unit, issued_at, lease = args[1], float(args[2]), float(args[3])
        if synced_clock() > issued_at + lease:
            return Completed.err(
                1, f"homeport-lease: late renewal of {unit} refused (expired on arrival)\n"
            )
        disk.make_dir(LEASES, mode=0o755)
        disk.write_file(_path(unit), f"{issued_at} {lease}\n".encode(), mode=0o644)
        return Completed()
    if len(args) == 2 and args[0] in ("disarm", "release"):
        state = ctx.guest.systemd.known(args[1])
        if args[0] == "release" and state is not None and state.active in ("active", "activating"):
            return Completed.err(1, f"homeport-lease: {args[1]} is still active\n")
        held = disk.host(_path(args[1]))
        if not held.is_file():
            return Completed()
        held.unlink()
        return Completed.out("released\n" if args[0] == "release" else "")
    return Completed.err(
        2,
        "usage: homeport-lease renew UNIT ISSUED_AT LEASE | disarm UNIT | release UNIT"
        " | guard UNIT\n",
    )


ThawHooks = set[Callable[[], Awaitable[None]]]


async def guard(
    systemd: Systemd,
    unit: str,
    *,
    frozen: Callable[[], bool],
    thaw_hooks: ThawHooks,
    log: Callable[[str], None],
) -> int:
    """The guard process: runs until its unit is stopped (cancelled)."""

    async def check() -> None:
        if lapsed(systemd.host.disk, unit):
            state = systemd.known(unit)
            if state is not None and state.active in ("active", "activating"):
                log(f"lease of {unit} lapsed: stopping it")
                await systemd.stop(unit)

    thaw_hooks.add(check)
    try:
        while True:
            if not frozen():
                await check()
            await asyncio.sleep(TICK)
    finally:
        thaw_hooks.discard(check)
