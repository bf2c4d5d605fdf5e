"""Ready means nothing homeport started is still running: a daemon restarted while the
VM's start task still runs waits for that task, lock or no lock, and never starts the VM
a second time meanwhile."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.clients.proxmox import ProxmoxClient
from homeport.controller.store import Store
from homeport.controller.wiring import build_clients, close_clients
from testkit.harness import EstateHarness, until
from tests.reconcilers.vm.test_migrate_estate import mover_estate

pytestmark = pytest.mark.integration


def _journal_starts(h: EstateHarness) -> int:
    store = Store.open(h.settings.store.path, readonly=True)
    try:
        rows = store.db.execute(
            "SELECT COUNT(*) FROM journal WHERE kind = 'VM' AND name = 'mover' AND verb = 'power'"
        ).fetchone()
        return int(rows[0])
    finally:
        store.close()


def _ready_message(h: EstateHarness) -> str:
    found = h.object("VM", "mover")
    assert found is not None
    return next((c.message for c in found.status.conditions if c.type == "Ready"), "")


async def test_a_vm_is_not_ready_while_its_start_task_runs(tmp_path: Path) -> None:
    async with mover_estate(tmp_path) as (h, vmid):
        node = "pve1"
        await h.stop_daemon()
        # What a daemon killed mid-action leaves behind: its start task still running
        # (held by the simulator), the VM stopped meanwhile, no config lock.
        clients = await build_clients(h.settings)
        try:
            px: ProxmoxClient = clients.proxmox
            stop = await px.stop_vm(node, vmid)
            if stop is not None:
                await px.tasks.wait(stop, timeout=60)
            faults = h.estate.pve.faults  # type: ignore[union-attr]
            held = faults.stick_tasks("qmstart", vmid=vmid)
            assert await px.start_vm(node, vmid) is not None
            assert (await px.vm_config(node, vmid)).lock is None
        finally:
            await close_clients(clients)
        starts = _journal_starts(h)
        await h.start_daemon()
        await until(
            lambda: "qmstart still running" in _ready_message(h),
            timeout=30,
            what="the VM waiting for its running start task",
        )
        assert not h.object("VM", "mover").ready  # type: ignore[union-attr]
        assert _journal_starts(h) == starts  # never a second start while the first runs
        faults.release(held)
        await h.converged(timeout=60)
