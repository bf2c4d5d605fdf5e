"""Acting on one VM of a simulated estate through the VM reconciler, without a daemon:
a context that records what an act drops from the shared reads and what it remembers,
the estate, and a running VM to act on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from homeport.clients.bundle import Clients
from homeport.clients.proxmox import ProxmoxClient

VMID = 120


class ActContext:
    """What ``VMReconciler.act`` uses of a reconcile context, recording what it drops
    from the shared reads and what it remembers."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self.key = ("VM", "joiner")
        self.invalidated: list[str] = []
        self.remembered: list[tuple[str | None, dict[str, Any]]] = []

    async def shared(self, key: str, load: Callable[[], Awaitable[Any]]) -> Any:
        return await load()  # every shared read fresh: nothing is cached here

    def invalidate(self, key: str) -> None:
        self.invalidated.append(key)

    def remember(self, value: dict[str, Any], *, slot: str | None = None) -> None:
        self.remembered.append((slot, dict(value)))


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
