"""The fresh-look check of a VM plan that would act (``still_listed_as``): the VM's own
status read must agree with the shared list on power state, lock and HA management, else
the reconciler looks again; a VM not created yet is always looked at again."""

from __future__ import annotations

from typing import Any, cast

import pytest

from homeport.clients.bundle import Clients
from homeport.clients.errors import ProxmoxError
from homeport.clients.proxmox_models import VmStatus
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.vm.observe import still_listed_as
from homeport.reconcilers.vm.plan import VMObserved

LISTED = VMObserved(
    name="web", machine_node="pve1", vmid=101, exists=True, node="pve1", status="running"
)


class StatusOnly:
    """A Proxmox client that answers ``vm_status`` only (what the check may read)."""

    def __init__(self, answer: dict[str, Any] | None) -> None:
        self.answer = answer
        self.asked: list[tuple[str, int]] = []

    async def vm_status(self, node: str, vmid: int) -> VmStatus:
        self.asked.append((node, vmid))
        if self.answer is None:
            raise ProxmoxError(
                500, f"Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist"
            )
        return VmStatus.parse(self.answer)


class Context:
    def __init__(self, px: StatusOnly) -> None:
        self.clients = Clients(proxmox=cast(Any, px))  # it may reach Proxmox only


async def check(seen: VMObserved, answer: dict[str, Any] | None) -> tuple[bool, int]:
    px = StatusOnly(answer)
    confirmed = await still_listed_as(seen, cast(ReconcileContext, Context(px)))
    return confirmed, len(px.asked)


async def test_a_status_that_agrees_confirms_the_list_with_one_read() -> None:
    assert await check(LISTED, {"vmid": 101, "status": "running"}) == (True, 1)


@pytest.mark.parametrize(
    "answer",
    [
        {"vmid": 101, "status": "stopped"},
        {"vmid": 101, "status": "running", "lock": "migrate"},
        {"vmid": 101, "status": "running", "ha": {"managed": 1, "state": "started"}},
        None,  # moved to another node or gone
    ],
)
async def test_anything_else_means_look_again(answer: dict[str, Any] | None) -> None:
    assert await check(LISTED, answer) == (False, 1)


async def test_a_vm_not_created_yet_is_looked_at_again_without_a_read() -> None:
    absent = VMObserved(name="web", machine_node="pve1", vmid=101)
    assert await check(absent, {"vmid": 101, "status": "running"}) == (False, 0)
