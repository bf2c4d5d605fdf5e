"""Boot, halt, cloud-init, clones and backups, seen from the outside."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import httpx
import pytest

from homeport.simulator.guest import GuestBoot, LoopbackGuestRuntime

from .conftest import BootFn, deploy_app, describe, run, wait_for


async def http_ok(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1) as http:
            return (await http.get(url)).status_code == 200
    except httpx.TransportError:
        return False


async def test_halt_refuses_then_boot_restores_disk_and_units(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "web", 8080)
        assert (await run(conn, "mkdir", "-p", "/srv/backups/keep-me")).exit_status == 0
        await runtime.halt(guest.vmid)
        assert conn.is_closed() or (await conn.wait_closed()) is None
    with pytest.raises(ConnectionRefusedError):
        await guest.connect(client_key, timeout=2)
    assert not await http_ok(f"http://{guest.address}:8080/")
    assert not runtime.agent_running(guest.vmid)
    await runtime.boot(
        GuestBoot(guest.vmid, "web-1", "pve1", guest.address, "ops", "", None, False)
    )
    await runtime.wait_booted(guest.vmid)

    async def serving() -> bool:
        return await http_ok(f"http://{guest.address}:8080/")

    await wait_for(serving)  # the enabled unit came back
    async with await guest.connect(client_key) as conn:  # same host key, same keys
        assert (await run(conn, "test", "-d", "/srv/backups/keep-me")).exit_status == 0


async def test_cloud_init_runs_on_first_boot_only(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot(name="db-1")
    async with await guest.connect(client_key) as conn:
        assert (await run(conn, "hostname")).stdout == "db-1\n"
    await runtime.halt(guest.vmid)
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    await runtime.boot(
        GuestBoot(guest.vmid, "renamed", "pve1", guest.address, "ops", other, None, False)
    )
    again = await describe(runtime, guest.vmid, "db-1", guest.address)
    assert again.host_key_line == guest.host_key_line  # host keys not regenerated
    async with await again.connect(client_key) as conn:  # old key still authorized
        assert (await run(conn, "hostname")).stdout == "db-1\n"


async def test_clone_gets_fresh_identity(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    first = await boot(101, name="a")
    second = await boot(102, name="b")
    assert first.host_key_line.split()[2] != second.host_key_line.split()[2]
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await asyncssh.connect(
            second.address, 2222, username="root", client_keys=[client_key],
            known_hosts=asyncssh.import_known_hosts(
                first.host_key_line.replace(first.address, second.address)
            ),
            agent_path=None, config=None, connect_timeout=3,
        )  # fmt: skip
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        await first.connect(stranger)


async def test_backup_and_restore_disk(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        assert (await run(conn, "mkdir", "/srv/apps/before")).exit_status == 0
        await runtime.snapshot_disk(guest.vmid, tmp_path / "vzdump.tar.gz")
        assert (await run(conn, "mkdir", "/srv/apps/after")).exit_status == 0
    await runtime.halt(guest.vmid)
    await runtime.restore_disk(guest.vmid, tmp_path / "vzdump.tar.gz")
    await runtime.boot(
        GuestBoot(guest.vmid, "web-1", "pve1", guest.address, "ops", "", None, False)
    )
    async with await guest.connect(client_key) as conn:
        assert (await run(conn, "ls", "-1", "/srv/apps")).stdout == "before\n"
    await runtime.destroy(guest.vmid)
    assert not runtime.disk_path(guest.vmid).exists()


async def test_agent_exec_and_file_write(boot: BootFn, runtime: LoopbackGuestRuntime) -> None:
    guest = await boot()
    await runtime.agent_file_write(guest.vmid, "/etc/motd", b"hi\n")
    rc, out, _ = await runtime.agent_exec(guest.vmid, ["cat", "/etc/motd"], None)
    assert (rc, out) == (0, b"hi\n")
    rc, out, _ = await runtime.agent_exec(guest.vmid, ["sh", "-c", "hostname"], None)
    assert (rc, out) == (0, b"web-1\n")

    async def booted() -> bool:
        return runtime.agent_running(guest.vmid)

    await wait_for(booted)
