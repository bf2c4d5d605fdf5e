"""Joining the tailnet: the one-off auth key never rests on the guest's disk, and a join
records the node it joined as, so the next look need not read the whole device list again.

It is handed to ``tailscale up`` on stdin through the guest agent. Had it been written to a
file first, a daemon killed between the join and the file's removal would leave a key
behind on the VM for good (the next reconcile sees the VM joined and never looks again);
the crash scenario found exactly that. Here the world is checked at the moment the
tailnet accepts the key: no file on the guest holds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from homeport.clients.tailscale import Device
from homeport.controller.config import load_settings
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients
from homeport.kinds import VM
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.errors import TemporaryError
from homeport.reconcilers.slots import VM_TAILNET_NODE
from homeport.reconcilers.vm.actions import JoinTailnet
from homeport.reconcilers.vm.observe import DEVICES
from homeport.simulator.estate import SimulatedEstate
from homeport.simulator.guest.rootfs import GuestDisk
from homeport.simulator.tailscale.tailnet import JoinRefused
from testkit.harness import EstateHarness
from tests.reconcilers.looks import StaleShared
from tests.reconcilers.vm.acting import VMID, ActContext, running_vm

pytestmark = pytest.mark.integration


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


async def join(estate: SimulatedEstate, ctx: list[ActContext]) -> None:
    """Join VM ``VMID`` through the VM reconciler's act; its context is left in ``ctx``."""
    settings = load_settings(estate.config_path)
    clients = await build_clients(settings)
    ctx.append(ActContext(clients))
    try:
        await running_vm(clients.proxmox)
        action = JoinTailnet("pve1", VMID, "joiner", ("tag:homeport",))
        await build_reconcilers(settings)["VM"].act(action, ctx[0])
    finally:
        await close_clients(clients)


async def test_a_join_records_the_node_it_joined_as_instead_of_dropping_the_device_list(
    estate: SimulatedEstate,
) -> None:
    assert estate.tailnet is not None
    ctx: list[ActContext] = []
    await join(estate, ctx)
    joined = [d for d in estate.tailnet.devices.values() if d.hostname == "joiner"]
    assert len(joined) == 1
    assert ctx[0].remembered == [("tailnet-node", {"nodeId": joined[0].node_id})]
    assert DEVICES not in ctx[0].invalidated


async def test_a_failed_join_records_nothing_and_drops_the_device_list(
    estate: SimulatedEstate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether a failed ``tailscale up`` joined is unknown: the next look reads the whole
    list afresh rather than plan a second join on a list read before this one."""
    assert estate.tailnet is not None

    def refused(**kwargs: Any) -> Any:
        raise JoinRefused("invalid key: unable to validate API key")

    monkeypatch.setattr(estate.tailnet, "join", refused)
    ctx: list[ActContext] = []
    with pytest.raises(TemporaryError, match="tailscale up failed"):
        await join(estate, ctx)
    assert ctx[0].remembered == []
    assert DEVICES in ctx[0].invalidated


async def test_the_look_after_a_join_reads_that_device_while_the_list_lags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device list read before the join (the shared read of the window) does not show
    the new device: the VM's look reads the recorded node alone, and the plan does not join
    a second time. Without the record, the same stale list would plan a second join."""
    async with EstateHarness.running(tmp_path) as h:
        await h.converged({"Machine", "VM"})
        assert h.daemon is not None and h.daemon.engine is not None
        reconciler = h.daemon.reconcilers["VM"]
        obj = h.object("VM", "dev-1")
        assert obj is not None
        desired = obj.resource()
        assert isinstance(desired, VM)
        inner = h.daemon.engine.context.for_object(("VM", "dev-1"))
        assert VM_TAILNET_NODE.recall(inner, "dev-1") is not None

        async def before_the_join() -> list[Device]:
            listed = await inner.clients.tailscale.devices()
            return [d for d in listed if d.hostname != "dev-1"]

        direct: list[str] = []
        read_one = inner.clients.tailscale.device

        async def counted(device_id: str, **kwargs: Any) -> Device | None:
            direct.append(device_id)
            return await read_one(device_id, **kwargs)

        monkeypatch.setattr(inner.clients.tailscale, "device", counted)
        stale = StaleShared(inner, DEVICES, before_the_join)
        seen = await reconciler.observe(desired, "dev-1", cast(ReconcileContext, stale))
        assert seen.tailnet_address is not None and len(direct) == 1
        plan = reconciler.plan(desired, seen, now=inner.now())
        assert not any(isinstance(a, JoinTailnet) for a in plan.actions)

        h.daemon.engine.context.store.memory.forget(VM_TAILNET_NODE.kind, "dev-1")
        stale = StaleShared(inner, DEVICES, before_the_join)
        seen = await reconciler.observe(desired, "dev-1", cast(ReconcileContext, stale))
        assert seen.tailnet_address is None and len(direct) == 1
        plan = reconciler.plan(desired, seen, now=inner.now())
        assert any(isinstance(a, JoinTailnet) for a in plan.actions)
