"""Fixtures for the guest contract tests: a runtime with guests booted on fresh loopback
addresses, and strict asyncssh clients (key-only, known_hosts from the guest's host key as
the guest agent reports it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from homeport.simulator.guest import GuestBoot, LoopbackGuestRuntime
from testkit.addresses import fresh_address as testkit_address

SSH_PORT = 2222


def fresh_address() -> str:
    return testkit_address(range(100, 200), SSH_PORT)


class SimTime:
    """Simulated time that moves with the event loop (tests never read the wall clock)."""

    def __init__(self) -> None:
        self.base = 1_763_700_000.0

    def __call__(self) -> float:
        return self.base + asyncio.get_running_loop().time()


@dataclass
class BootedGuest:
    vmid: int
    name: str
    address: str
    known_hosts: asyncssh.SSHKnownHosts
    host_key_line: str

    async def connect(
        self, key: asyncssh.SSHKey, *, username: str = "root", timeout: float = 5
    ) -> asyncssh.SSHClientConnection:
        return await asyncssh.connect(
            self.address,
            SSH_PORT,
            username=username,
            client_keys=[key],
            known_hosts=self.known_hosts,
            agent_path=None,
            password_auth=False,
            kbdint_auth=False,
            preferred_auth="publickey",
            config=None,
            connect_timeout=timeout,
            login_timeout=timeout,
        )


@pytest.fixture
def client_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[LoopbackGuestRuntime]:
    runtime = LoopbackGuestRuntime(
        state_dir=tmp_path / "state", seed=7, clock=SimTime(), ssh_port=SSH_PORT
    )
    await runtime.start()
    yield runtime
    await runtime.stop()


BootFn = Callable[..., Awaitable[BootedGuest]]


@pytest.fixture
def boot(runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey) -> BootFn:
    async def boot_guest(
        vmid: int = 101,
        *,
        name: str = "web-1",
        ciuser: str | None = "ops",
        first_boot: bool = True,
        address: str | None = None,
        keys: str | None = None,
    ) -> BootedGuest:
        address = address or fresh_address()
        await runtime.clone_disk(9000, vmid)
        authorized = keys if keys is not None else client_key.export_public_key().decode()
        await runtime.boot(
            GuestBoot(vmid, name, "pve1", address, ciuser, authorized, "ip=dhcp", first_boot)
        )
        return await describe(runtime, vmid, name, address)

    return boot_guest


async def describe(
    runtime: LoopbackGuestRuntime, vmid: int, name: str, address: str
) -> BootedGuest:
    rc, out, _ = await runtime.agent_exec(vmid, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"], None)
    assert rc == 0
    key_type, key_data = out.decode().split()[:2]
    line = f"[{address}]:{SSH_PORT} {key_type} {key_data}"
    return BootedGuest(vmid, name, address, asyncssh.import_known_hosts(line), line)


async def run(conn: asyncssh.SSHClientConnection, *argv: str) -> asyncssh.SSHCompletedProcess:
    """One exec, built the way homeport builds it (shlex.join), no stdin."""
    import shlex

    return await conn.run(shlex.join(argv), stdin=asyncssh.DEVNULL, check=False, timeout=10)


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Poll with a deadline (no fixed sleeps)."""
    async with asyncio.timeout(timeout):
        while not await predicate():  # noqa: ASYNC110 - polling the world is the point
            await asyncio.sleep(0.02)


async def atomic_install(
    conn: asyncssh.SSHClientConnection, path: str, content: bytes, mode: int = 0o600
) -> None:
    """homeport's install: SFTP temp file in the target dir, fsync, chmod, sha256sum, rename."""
    import hashlib
    import posixpath

    directory, name = posixpath.split(path)
    tmp = posixpath.join(directory, f".{name}.homeport-tmp")
    async with conn.start_sftp_client() as sftp:
        async with sftp.open(tmp, "wb") as handle:
            await handle.write(content)
            await handle.fsync()
        await sftp.chmod(tmp, mode)
        check = await run(conn, "sha256sum", tmp)
        assert check.stdout == f"{hashlib.sha256(content).hexdigest()}  {tmp}\n"
        await sftp.posix_rename(tmp, path)


UNIT = """\
[Unit]
Description=Web app {name}

[Service]
Type=exec
WorkingDirectory=/srv/apps/{name}/current
EnvironmentFile=/etc/homeport/{name}.env
Environment=LOG_LEVEL=info
ExecStart=/srv/apps/{name}/current/bin/serve
Restart={restart}
RestartSec=50ms

[Install]
WantedBy=multi-user.target
"""


async def deploy_app(
    conn: asyncssh.SSHClientConnection,
    name: str,
    port: int,
    *,
    env: str = "",
    simulate: str | None = None,
    restart: str = "no",
    release: str = "r1",
) -> None:
    """A release directory, an env file (0600), a unit; daemon-reload; enable --now."""
    assert (await run(conn, "mkdir", "-p", f"/srv/apps/{name}/releases/{release}")).exit_status == 0
    if simulate is not None:
        await atomic_install(
            conn, f"/srv/apps/{name}/releases/{release}/SIMULATE", simulate.encode(), 0o644
        )
    link = await run(
        conn, "ln", "-sfn", f"/srv/apps/{name}/releases/{release}", f"/srv/apps/{name}/current"
    )
    assert link.exit_status == 0
    assert (await run(conn, "install", "-d", "-m", "0700", "/etc/homeport")).exit_status == 0
    await atomic_install(conn, f"/etc/homeport/{name}.env", f"PORT={port}\n{env}".encode())
    unit = UNIT.format(name=name, restart=restart).encode()
    await atomic_install(conn, f"/etc/systemd/system/{name}.service", unit, 0o644)
    assert (await run(conn, "systemctl", "daemon-reload")).exit_status == 0
    started = await run(conn, "systemctl", "--no-ask-password", "enable", "--now", name)
    assert started.exit_status == 0, started.stderr
