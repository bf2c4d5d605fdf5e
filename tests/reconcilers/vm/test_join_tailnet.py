"""Joining the tailnet: the one-off auth key never rests on the guest's disk.

It is handed to ``tailscale up`` on stdin through the guest agent. Had it been written to a
file first, a daemon killed between the join and the file's removal would leave a key
behind on the VM for good (the next reconcile sees the VM joined and never looks again);
the crash scenario found exactly that. Here the world is checked at the moment the
tailnet accepts the key: no file on the guest holds it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from homeport.clients.bundle import Clients
from homeport.clients.proxmox import ProxmoxClient
from homeport.controller.config import load_settings
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients
from homeport.reconcilers.vm.actions import JoinTailnet
from homeport.simulator.estate import SimulatedEstate
from homeport.simulator.guest.rootfs import GuestDisk
from homeport.simulator.settings import EstateConfig
from testkit.harness import FAST, assert_sound

pytestmark = pytest.mark.integration
VMID = 120


class ActContext:
    """What ``VMReconciler.act`` uses of a reconcile context."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self.key = ("VM", "joiner")

    def invalidate(self, key: str) -> None:
        pass


@pytest.fixture
async def estate(tmp_path: Path) -> AsyncIterator[SimulatedEstate]:
    config = EstateConfig(
        state_dir=tmp_path / "estate", time_scale=100.0, tls="off", caddy=False, timings=FAST
    )
    async with SimulatedEstate(config) as estate:
        yield estate
        assert_sound(estate)


async def running_vm(px: ProxmoxClient) -> None:
    task = await px.clone_vm("pve1", 9000, newid=VMID, name="joiner", full=True)
    assert task is not None
    await px.tasks.wait(task, timeout=60)
    started = await px.start_vm("pve1", VMID)
    if started is not None:
        await px.tasks.wait(started, timeout=60)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not await px.agent.ping("pve1", VMID):
        assert loop.time() < deadline, "the guest agent never answered"
        await asyncio.sleep(0.05)


def files_holding(disk: GuestDisk, secret: str) -> list[str]:
    return [
        disk.guest(path)
        for path in disk.host("/").rglob("*")
        if path.is_file() and not path.is_symlink() and secret.encode() in path.read_bytes()
    ]


async def test_the_auth_key_goes_over_stdin_and_never_onto_the_disk(
    estate: SimulatedEstate, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert estate.tailnet is not None and estate.guests is not None
    settings = load_settings(estate.config_path)
    clients = await build_clients(settings)
    try:
        await running_vm(clients.proxmox)
        disk = estate.guests.guest(VMID).disk
        on_disk_at_join: list[list[str]] = []
        join = estate.tailnet.join

        def checking_join(*, auth_key: str, **kwargs: Any) -> Any:
            on_disk_at_join.append(files_holding(disk, auth_key))
            return join(auth_key=auth_key, **kwargs)

        monkeypatch.setattr(estate.tailnet, "join", checking_join)
        action = JoinTailnet("pve1", VMID, "joiner", ("tag:homeport",))
        await build_reconcilers(settings)["VM"].act(action, ActContext(clients))
    finally:
        await close_clients(clients)
    assert on_disk_at_join == [[]]
    assert [d.hostname for d in estate.tailnet.devices.values()].count("joiner") == 1
    assert not disk.host("/etc/homeport/tailscale-authkey").exists()
