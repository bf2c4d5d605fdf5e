"""The I/O of the self-fencing lease (``selffence.py`` has the text and the actions):
install or remove the guard on a member, renew or drop a lease, and wait out the lease of
a primary that could not be stopped before its standby is promoted."""

from __future__ import annotations

import asyncio
from datetime import datetime

from homeport.clients.ssh import SSHPool
from homeport.clients.systemd import Systemd
from homeport.reconcilers.standbypair.selffence import (
    LEASE_MARGIN,
    LEASE_SCRIPT,
    LEASE_TOOL,
    disarm_command,
    guard_unit,
    guard_unit_text,
    release_command,
    renew_command,
)

UNIT_DIR = "/etc/systemd/system"


async def install(ssh: SSHPool, host: str, unit: str) -> None:
    await ssh.run(host, ["install", "-d", "-m", "0755", "/usr/local/sbin"])
    await ssh.install_file(
        host, LEASE_TOOL, LEASE_SCRIPT.encode(), mode=0o755, owner="root", group="root"
    )
    guard = guard_unit(unit)
    changed = await ssh.install_file(
        host,
        f"{UNIT_DIR}/{guard}",
        guard_unit_text(unit).encode(),
        mode=0o644,
        owner="root",
        group="root",
    )
    if changed:
        await ssh.run(host, ["systemctl", "daemon-reload"])
    await ssh.run(host, ["systemctl", "enable", "--now", guard])


async def remove(ssh: SSHPool, host: str, unit: str) -> None:
    await disarm(ssh, host, unit)
    guard = guard_unit(unit)
    await ssh.run(host, ["systemctl", "disable", "--now", guard], check=False)
    await ssh.run(host, ["rm", "-f", f"{UNIT_DIR}/{guard}"])
    await ssh.run(host, ["systemctl", "daemon-reload"])


async def disarm(ssh: SSHPool, host: str, unit: str) -> None:
    await ssh.run(host, disarm_command(unit), check=False)


async def release(ssh: SSHPool, host: str, unit: str, *, timeout: float) -> bool:
    """Disarm a stopped member; True when it held a lease until now."""
    result = await ssh.run(host, release_command(unit), timeout=timeout, check=False)
    return result.ok and result.text.strip() == "released"


async def renew(ssh: SSHPool, host: str, unit: str, *, issued_at: datetime, lease: float) -> bool:
    """One renewal, bounded by the lease itself: one that cannot arrive in time is void."""
    result = await ssh.run(
        host,
        renew_command(unit, issued_at=issued_at.timestamp(), lease=lease),
        timeout=lease,
        check=False,
    )
    return result.ok


async def wait_out_lease(last_renewal: datetime | None, lease: float, now: datetime) -> datetime:
    """Sleep until a lease renewed at ``last_renewal`` (unknown: now) has lapsed, plus a
    margin; returns when it lapsed."""
    start = last_renewal or now
    remaining = lease + LEASE_MARGIN - (now - start).total_seconds()
    if remaining > 0:
        await asyncio.sleep(remaining)
    return start


async def stop_and_disarm(systemd: Systemd, ssh: SSHPool, host: str, unit: str) -> None:
    await systemd.stop(host, unit)
    await disarm(ssh, host, unit)
