"""The self-fence guard on a guest (``homeport-lease``, ``lease.py``): an unarmed App is left
alone, an armed one runs while its lease holds and is stopped once it lapsed, a late
renewal never re-arms, a VM frozen past its lease resumes already fenced, ``/run`` (and so
the lease) does not survive a reboot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

import asyncssh
import httpx

from homeport.reconcilers.standbypair.selffence import (
    LEASE_SCRIPT,
    LEASE_TOOL,
    disarm_command,
    guard_unit,
    guard_unit_text,
    renew_command,
)
from homeport.simulator.guest import LoopbackGuestRuntime

from .conftest import BootedGuest, BootFn, atomic_install, deploy_app, run, wait_for

EPOCH = {"X-Homeport-Epoch": "1"}

APP = "web.service"


async def _guarded(boot: BootFn, client_key: asyncssh.SSHKey, vmid: int) -> BootedGuest:
    guest = await boot(vmid, name=f"web-{vmid}")
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "web", 8080)
        await run(conn, "mkdir", "-p", "/usr/local/sbin")
        await atomic_install(conn, LEASE_TOOL, LEASE_SCRIPT.encode(), 0o755)
        unit = guard_unit_text(APP).encode()
        await atomic_install(conn, f"/etc/systemd/system/{guard_unit(APP)}", unit, 0o644)
        await run(conn, "systemctl", "daemon-reload")
        enabled = await run(conn, "systemctl", "enable", "--now", guard_unit(APP))
        assert enabled.exit_status == 0, enabled.stderr
    return guest


async def _active(guest: BootedGuest, key: asyncssh.SSHKey, unit: str = APP) -> bool:
    async with await guest.connect(key) as conn:
        return (await run(conn, "systemctl", "is-active", unit)).stdout == "active\n"


async def _renew(guest: BootedGuest, key: asyncssh.SSHKey, issued_at: float, lease: float) -> int:
    async with await guest.connect(key) as conn:
        done = await run(conn, *renew_command(APP, issued_at=issued_at, lease=lease))
        return int(done.exit_status or 0)


async def test_an_armed_app_is_stopped_once_its_lease_lapsed(
    boot: BootFn, client_key: asyncssh.SSHKey
) -> None:
    guest = await _guarded(boot, client_key, 401)
    assert await _active(guest, client_key, guard_unit(APP))
    assert await _active(guest, client_key)  # unarmed (no lease): left alone
    assert await _renew(guest, client_key, time.time(), 0.6) == 0
    assert await _active(guest, client_key)
    await wait_for(lambda: _not(_active(guest, client_key)), timeout=5)
    async with await guest.connect(client_key) as conn:
        started = await run(conn, "systemctl", "start", APP)
        assert started.exit_status == 0
        await wait_for(lambda: _not(_active(guest, client_key)), timeout=5)  # stays fenced
        assert (await run(conn, *disarm_command(APP))).exit_status == 0
        await run(conn, "systemctl", "start", APP)
    assert await _active(guest, client_key)  # disarmed (a standby now): left alone


async def test_a_late_renewal_never_rearms(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await _guarded(boot, client_key, 403)
    assert await _renew(guest, client_key, time.time() - 5, 2.0) == 1
    async with await guest.connect(client_key) as conn:
        lease = await run(conn, "cat", f"/run/homeport/lease/{APP}")
    assert lease.exit_status != 0  # nothing written


async def test_a_vm_frozen_past_its_lease_resumes_fenced(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    guest = await _guarded(boot, client_key, 405)
    assert await _renew(guest, client_key, time.time(), 0.6) == 0
    await runtime.hang_vm(guest.vmid)
    systemd = runtime.guest(guest.vmid).systemd
    deadline = time.time() + 1.0
    while time.time() < deadline:  # the lease lapses while the VM is frozen
        assert systemd.units[APP].active == "active", "a frozen VM ran its guard"
        await asyncio.sleep(0.05)  # several guard ticks: none may act
    await runtime.resume_vm(guest.vmid)
    assert systemd.units[APP].active == "inactive"  # before its network came back


async def test_a_reboot_empties_run(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    guest = await _guarded(boot, client_key, 407)
    assert await _renew(guest, client_key, time.time(), 60) == 0
    lease = runtime.disk_path(guest.vmid) / "run/homeport/lease" / APP
    assert lease.is_file()
    await runtime.halt(guest.vmid)
    await boot(guest.vmid, name="web-407", first_boot=False, address=guest.address)
    assert not lease.exists()


async def test_an_armed_app_acknowledges_a_write_only_while_its_lease_holds(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    """The epoch check on a write is against the pair's current epoch, not the App's own
    memory of it: an in-flight request carries the epoch Caddy forwarded it under, the
    same as the old primary's ``HOMEPORT_EPOCH``. The lease is homeport's word that the
    pair is still at this App's epoch (a standby is promoted over it only once it lapsed),
    so the App checks it before acknowledging, even in the instant before its guard acts."""
    guest = await boot(409, name="web-409")  # no guard: the App's own check alone
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "web", 8080, env="HOMEPORT_EPOCH=1\n")
        await run(conn, "mkdir", "-p", "/usr/local/sbin")
        await atomic_install(conn, LEASE_TOOL, LEASE_SCRIPT.encode(), 0o755)
    base = f"http://{guest.address}:8080/kv"
    async with httpx.AsyncClient(timeout=2, trust_env=False) as http:
        unarmed = await http.put(f"{base}/a", content=b"1", headers=EPOCH)
        assert unarmed.status_code == 200  # no lease: not a self-fenced pair member
        assert await _renew(guest, client_key, time.time(), 60) == 0
        armed = await http.put(f"{base}/b", content=b"1", headers=EPOCH)
        assert armed.status_code == 200
        # The renewals stopped 10 s ago (a failover started): the lease has lapsed.
        lease = runtime.disk_path(guest.vmid) / "run/homeport/lease" / APP
        lease.write_text(f"{time.time() - 10} 2\n")
        refused = await http.put(f"{base}/c", content=b"1", headers=EPOCH)
        assert (refused.status_code, refused.json()) == (503, {"error": "lease lapsed"})
    assert not (runtime.disk_path(guest.vmid) / "srv/apps/web/data/c").exists()


async def _not(check: Awaitable[bool]) -> bool:
    return not await check
