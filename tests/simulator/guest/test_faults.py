"""Every guest-level fault and the effect a real client sees."""

from __future__ import annotations

import asyncssh
import httpx
import pytest

from homeport.simulator.guest import LoopbackGuestRuntime

from .conftest import BootFn, atomic_install, deploy_app, run


async def test_vm_hang_means_silence_until_resumed(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    """A frozen kernel completes no TCP handshake (connects time out, so a TCP probe fails
    as against the real VM) and moves no byte on connections it had; after the resume a
    client's retried SYN gets through."""
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "web", 8080)
    async with httpx.AsyncClient(timeout=0.3) as established:
        await established.get(f"http://{guest.address}:8080/")  # a kept-alive connection
        await runtime.hang_vm(guest.vmid)
        assert not runtime.agent_running(guest.vmid)
        with pytest.raises(TimeoutError):
            await guest.connect(client_key, timeout=0.5)
        with pytest.raises(httpx.ReadTimeout):
            await established.get(f"http://{guest.address}:8080/")
    async with httpx.AsyncClient(timeout=0.3) as http:
        with pytest.raises(httpx.ConnectTimeout):
            await http.get(f"http://{guest.address}:8080/")
    await runtime.resume_vm(guest.vmid)
    async with await guest.connect(client_key) as conn:
        assert (await run(conn, "true")).exit_status == 0
    async with httpx.AsyncClient(timeout=2) as http:
        assert (await http.get(f"http://{guest.address}:8080/")).status_code == 200


async def test_vm_crash_is_silent_until_power_cycled(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot()
    await runtime.crash_vm(guest.vmid)
    await runtime.resume_vm(guest.vmid)  # a crash does not heal by itself
    assert runtime.running(guest.vmid)  # Proxmox still says running
    assert not runtime.agent_running(guest.vmid)
    with pytest.raises(TimeoutError):
        await guest.connect(client_key, timeout=0.5)


async def test_partition_refuses_and_drops(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot()
    conn = await guest.connect(client_key)
    await runtime.set_reachable(guest.vmid, False)
    await conn.wait_closed()  # established connection reset
    with pytest.raises(ConnectionRefusedError):
        await guest.connect(client_key, timeout=1)
    assert runtime.agent_running(guest.vmid)  # virtio-serial is not the network
    await runtime.set_reachable(guest.vmid, True)
    async with await guest.connect(client_key) as conn:
        assert (await run(conn, "true")).exit_status == 0


async def test_ssh_refused_keeps_apps_up(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "web", 8080)
    await runtime.refuse_ssh(guest.vmid)
    with pytest.raises(ConnectionRefusedError):
        await guest.connect(client_key, timeout=1)
    async with httpx.AsyncClient(timeout=1) as http:
        assert (await http.get(f"http://{guest.address}:8080/")).status_code == 200
    await runtime.refuse_ssh(guest.vmid, refused=False)
    async with await guest.connect(client_key) as conn:
        assert (await run(conn, "true")).exit_status == 0


async def test_app_hang_and_app_error(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "web", 8080)
    url = f"http://{guest.address}:8080/healthz"
    async with httpx.AsyncClient(timeout=0.3) as http:
        runtime.fail_app(guest.vmid, "web")
        assert (await http.get(url)).status_code == 500
        runtime.hang_app(guest.vmid, "web.service")
        with pytest.raises(httpx.ReadTimeout):
            await http.get(url)
        runtime.heal_app(guest.vmid, "web")
        assert (await http.get(url)).status_code == 200


async def test_disk_full(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "web", 8080)
        runtime.fill_disk(guest.vmid)
        with pytest.raises(asyncssh.SFTPError, match="No space left on device"):
            await atomic_install(conn, "/etc/homeport/other.env", b"X=1\n")
        made = await run(conn, "mkdir", "/srv/apps/more")
        assert made.stderr.endswith(": No space left on device\n")
        async with httpx.AsyncClient(timeout=1) as http:
            put = await http.put(f"http://{guest.address}:8080/kv/k", content=b"v")
            assert put.status_code == 500
            assert put.json() == {"error": "No space left on device"}
        runtime.fill_disk(guest.vmid, full=False)
        assert (await run(conn, "mkdir", "/srv/apps/more")).exit_status == 0
