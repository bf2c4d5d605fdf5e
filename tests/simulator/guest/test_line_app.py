"""An App that does not speak HTTP (``SIMULATE`` ``protocol=line``): its line protocol on
the guest's address, the guest faults as a TCP client sees them, and ``redis-cli`` on the
guest (the command a StandbyPair ``exec`` probe runs)."""

from __future__ import annotations

import asyncio
import json

import asyncssh
import pytest

from homeport.simulator.guest import LoopbackGuestRuntime
from homeport.simulator.guest.lineapp import request

from .conftest import BootedGuest, BootFn, deploy_app, run

PORT = 6379
APT = ("DEBIAN_FRONTEND=noninteractive", "apt-get")


async def ask(guest: BootedGuest, line: str, timeout: float = 2.0) -> str:
    async with asyncio.timeout(timeout):
        return await request(guest.address, PORT, line)


async def connects(guest: BootedGuest, timeout: float = 0.5) -> bool:
    """A TCP connect within ``timeout`` (what a StandbyPair ``tcp`` probe does)."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(guest.address, PORT)
    except (TimeoutError, OSError):
        return False
    writer.close()
    return True


async def line_app(boot: BootFn, client_key: asyncssh.SSHKey) -> BootedGuest:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "cache", PORT, env="HOMEPORT_EPOCH=3\n", simulate="protocol=line\n")
    return guest


async def test_the_line_protocol_answers_on_the_guest_address(
    boot: BootFn, client_key: asyncssh.SSHKey
) -> None:
    guest = await line_app(boot, client_key)
    assert await ask(guest, "PING") == "+PONG"
    info = json.loads((await ask(guest, "INFO"))[1:])
    assert (info["app"], info["epoch"]) == ("cache", 3)
    assert await ask(guest, "SET greeting hello") == "+OK"
    assert await ask(guest, "GET greeting") == "+hello"
    assert await ask(guest, "GET missing") == "$-1"
    assert await ask(guest, "SET ../x y") == "-ERR invalid key"
    assert (await ask(guest, "GET / HTTP/1.1")).startswith("-ERR")  # no HTTP here


async def test_app_faults_and_vm_faults_as_a_tcp_client_sees_them(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    """A hung app still accepts connections (its kernel does) but answers nothing; a hung
    or crashed VM accepts nothing: only then does a TCP probe fail."""
    guest = await line_app(boot, client_key)
    runtime.fail_app(guest.vmid, "cache")
    assert await ask(guest, "PING") == "-ERR simulated failure"
    runtime.hang_app(guest.vmid, "cache")
    assert await connects(guest)
    with pytest.raises(TimeoutError):
        await ask(guest, "PING", timeout=0.3)
    runtime.heal_app(guest.vmid, "cache")
    assert await ask(guest, "PING") == "+PONG"

    await runtime.hang_vm(guest.vmid)
    assert not await connects(guest)
    await runtime.resume_vm(guest.vmid)
    assert await ask(guest, "PING") == "+PONG"
    await runtime.crash_vm(guest.vmid)
    assert not await connects(guest)


async def test_redis_cli_on_the_guest_is_a_protocol_level_check(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    guest = await line_app(boot, client_key)
    cli = ("/usr/bin/redis-cli", "-h", guest.address, "-p", str(PORT))
    async with await guest.connect(client_key) as conn:
        missing = await run(conn, *cli, "ping")
        assert missing.exit_status == 127
        assert "redis-cli: not found" in missing.stderr
        assert (await run(conn, *APT, "-q", "update")).exit_status == 0
        installed = await run(conn, *APT, "install", "-y", "-q", "redis-tools")
        assert installed.exit_status == 0, installed.stderr

        pong = await run(conn, *cli, "ping")
        assert (pong.exit_status, pong.stdout) == (0, "PONG\n")
        assert (await run(conn, *cli, "SET", "k", "v")).exit_status == 0
        assert (await run(conn, *cli, "GET", "k")).stdout == "v\n"
        # The app binds the guest's own address, not loopback (redis-cli's default).
        assert (await run(conn, "redis-cli", "-p", str(PORT), "ping")).exit_status == 1

        runtime.fail_app(guest.vmid, "cache")
        failing = await run(conn, *cli, "ping")
        assert (failing.exit_status, failing.stdout) == (1, "(error) ERR simulated failure\n")
        runtime.hang_app(guest.vmid, "cache")
        hung = await run(conn, "timeout", "-k", "1", "0.3", *cli, "ping")
        assert hung.exit_status == 124
        runtime.heal_app(guest.vmid, "cache")

        assert (await run(conn, "systemctl", "stop", "cache")).exit_status == 0
        down = await run(conn, *cli, "ping")
        assert down.exit_status == 1
        assert (
            down.stderr
            == f"Could not connect to Redis at {guest.address}:{PORT}: Connection refused\n"
        )
