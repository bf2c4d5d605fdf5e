"""The fresh-look check of a VM plan that would act (``still_listed_as``): the VM's own
status read must agree with the shared list on power state, lock and HA management, else
the reconciler looks again. A VM not created yet whose vmid is reserved (the plan clones
it) is confirmed absent by that vmid being free cluster-wide (``GET /cluster/nextid``);
without a reserved vmid it is always looked at again."""

from __future__ import annotations

from typing import Any, cast

import pytest

from homeport.clients.bundle import Clients
from homeport.clients.errors import ParameterError, ProxmoxError
from homeport.clients.proxmox_models import VmStatus
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.vm.observe import still_listed_as
from homeport.reconcilers.vm.plan import VMObserved

LISTED = VMObserved(
    name="web", machine_node="pve1", vmid=101, exists=True, node="pve1", status="running"
)


class StatusOnly:
    """A Proxmox client that answers ``vm_status`` only (what the check may read)."""

    def __init__(self, answer: dict[str, Any] | None, taken: frozenset[int] = frozenset()) -> None:
        self.answer = answer
        self.taken = taken
        self.asked: list[tuple[str, int]] = []

    async def next_vmid(self, *, candidate: int | None = None) -> int:
        assert candidate is not None
        self.asked.append(("cluster", candidate))
        if candidate in self.taken:
            raise ParameterError(400, "Parameter verification failed.")
        return candidate

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


async def check(
    seen: VMObserved, answer: dict[str, Any] | None, taken: frozenset[int] = frozenset()
) -> tuple[bool, int]:
    px = StatusOnly(answer, taken)
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


async def test_a_vm_to_clone_is_confirmed_absent_by_its_free_vmid() -> None:
    absent = VMObserved(name="web", machine_node="pve1", vmid=101)
    assert await check(absent, None) == (True, 1)
    # Created meanwhile, on any node (a list up to a window old would not show it).
    assert await check(absent, None, taken=frozenset({101})) == (False, 1)


async def test_a_vm_without_a_reserved_vmid_is_looked_at_again_without_a_read() -> None:
    unreserved = VMObserved(name="web", machine_node="pve1", candidate_vmid=101)
    assert await check(unreserved, {"vmid": 101, "status": "running"}) == (False, 0)
