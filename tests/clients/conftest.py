"""Fixtures for the client tests: simulator guests reached over SSH, a real Caddy, servers.

Reusable ones (``guest_runtime``, ``booted_vm``, ``caddy``) may move to ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import httpx
import pytest
from aiohttp import web

from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.proxmox_settings import ProxmoxSettings
from homeport.clients.ssh import SSHPool, SSHSettings
from homeport.clients.timing import RetryPolicy
from homeport.simulator.caddy_process import CaddyProcess, start_caddy
from homeport.simulator.guest import GuestBoot, LoopbackGuestRuntime
from homeport.simulator.listeners import close_runner, serve_runner
from homeport.simulator.pve import invariants
from homeport.simulator.settings import SimulatorConfig
from homeport.simulator.simulator import ProxmoxSimulator
from testkit.addresses import fresh_address as testkit_address

SSH_PORT = 2222


def fresh_address() -> str:
    return testkit_address(range(200, 250), SSH_PORT)


class SimTime:
    """Simulated wall time moving with the event loop (tests never read the real clock)."""

    def __call__(self) -> float:
        return 1_763_700_000.0 + asyncio.get_running_loop().time()


@dataclass
class BootedVm:
    vmid: int
    address: str
    host_key: str  # "ssh-ed25519 AAAA..." as the guest agent reports it

    @property
    def host(self) -> str:
        return f"{self.address}:{SSH_PORT}"


@pytest.fixture
def client_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
async def guest_runtime(tmp_path: Path) -> AsyncIterator[LoopbackGuestRuntime]:
    runtime = LoopbackGuestRuntime(
        state_dir=tmp_path / "sim", seed=11, clock=SimTime(), ssh_port=SSH_PORT
    )
    await runtime.start()
    yield runtime
    await runtime.stop()


BootVm = Callable[..., Awaitable[BootedVm]]


@pytest.fixture
def boot_vm(guest_runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey) -> BootVm:
    """Clone the template disk, boot it with homeport's key, read its host key via the agent."""

    async def boot(vmid: int = 101, *, name: str = "web-1") -> BootedVm:
        address = fresh_address()
        await guest_runtime.clone_disk(9000, vmid)
        keys = client_key.export_public_key().decode()
        await guest_runtime.boot(
            GuestBoot(vmid, name, "pve1", address, "ops", keys, "ip=dhcp", True)
        )
        await guest_runtime.wait_booted(vmid)
        rc, out, _ = await guest_runtime.agent_exec(
            vmid, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"], None
        )
        assert rc == 0
        return BootedVm(vmid, address, " ".join(out.decode().split()[:2]))

    return boot


@pytest.fixture
def ssh_settings(tmp_path: Path) -> SSHSettings:
    return SSHSettings(
        username="root",
        port=SSH_PORT,
        client_keys=(),
        known_hosts=tmp_path / "state" / "known_hosts",
        connect_timeout=2.0,
        command_timeout=10.0,
        retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05),
    )


@pytest.fixture
async def ssh_pool(
    ssh_settings: SSHSettings, client_key: asyncssh.SSHKey
) -> AsyncIterator[SSHPool]:
    pool = SSHPool(ssh_settings, client_keys=[client_key])
    yield pool
    await pool.close()


@pytest.fixture
async def trusted_vm(boot_vm: BootVm, ssh_pool: SSHPool) -> BootedVm:
    """A booted VM whose host key is pinned in the pool's known_hosts."""
    vm = await boot_vm()
    await ssh_pool.trust_host_key(vm.address, SSH_PORT, vm.host_key)
    return vm


@pytest.fixture
async def caddy(tmp_path: Path) -> AsyncIterator[CaddyProcess]:
    process = await start_caddy(tmp_path / "caddy")
    yield process
    await process.stop()


@dataclass
class Upstream:
    """A tiny HTTP app: answers its name, the Host and the epoch header it received."""

    name: str
    port: int

    @property
    def dial(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    async with serve_upstream("upstream-1") as server:
        yield server


@contextlib.asynccontextmanager
async def serve_upstream(name: str) -> AsyncIterator[Upstream]:
    async def answer(request: web.Request) -> web.Response:
        epoch = request.headers.get("X-Homeport-Epoch", "-")
        return web.Response(text=f"{name} host={request.host} epoch={epoch} path={request.path}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # Caddy's health checks connect at any time: stop accepting before closing.
    sock = await serve_runner(runner, "127.0.0.1")
    try:
        yield Upstream(name, sock.getsockname()[1])
    finally:
        await close_runner(runner, sock)


@pytest.fixture
async def pve(tmp_path: Path) -> AsyncIterator[ProxmoxSimulator]:
    """The simulated Proxmox cluster (3 nodes, templates 9000-9002) on this test's loop."""
    config = SimulatorConfig(seed=7, time_scale=100.0, state_dir=tmp_path / "pve")
    sim = ProxmoxSimulator(config)
    await sim.start()
    try:
        yield sim
        assert invariants.check(sim.world) == []
    finally:
        await sim.stop()


@pytest.fixture
def proxmox_settings(pve: ProxmoxSimulator, tmp_path: Path) -> ProxmoxSettings:
    token_file = tmp_path / "proxmox-token"
    token_file.write_text(pve.token.secret + "\n")
    user, token_name = pve.token.full_id.split("!")
    return ProxmoxSettings(
        host=pve.host,
        port=pve.port,
        user=user,
        token_name=token_name,
        token_file=token_file,
        ca_bundle=pve.ca_path,
        timeout=5.0,
        retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05),
        task_poll_initial=0.01,
        task_poll_max=0.05,
        no_such_task_grace=3.0,
    )


@pytest.fixture
async def proxmox(proxmox_settings: ProxmoxSettings) -> AsyncIterator[ProxmoxClient]:
    async with ProxmoxClient(proxmox_settings) as client:
        yield client


class LosingFirstAnswer(httpx.AsyncBaseTransport):
    """Sends every request to Caddy, and drops the answer of the first one ``matches``
    accepts: Caddy applied it, but the client never hears back (``lost`` once done)."""

    def __init__(self, matches: Callable[[httpx.Request], bool]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.matches = matches
        self.lost = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if not self.lost and self.matches(request):
            self.lost = True
            await response.aclose()
            raise httpx.ReadError("connection reset", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
