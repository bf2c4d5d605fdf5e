"""A VM plan made on shared lists acts only on a fresh look: when the shared
``/cluster/resources`` snapshot is stale (it says the running VM is stopped, so the plan
would start it), the VM reconciler drops the shared lists and observes again before the
engine plans; a converged look costs no second one. On the simulated estate, with the
stale snapshot served by a context that wraps the daemon's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from homeport.kinds import VM
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.cluster import RESOURCES, FreshEntries, Listing
from homeport.reconcilers.vm import VMReconciler
from testkit.harness import EstateHarness
from tests.reconcilers.looks import StaleShared

pytestmark = pytest.mark.integration
KINDS = {"Machine", "VM"}


async def stopped(ctx: Any) -> Listing:
    """What a snapshot taken before the VMs started would say: every VM stopped."""
    fresh = await ctx.clients.proxmox.cluster_resources()
    vms = tuple(v.model_copy(update={"status": "stopped"}) for v in fresh.vms)
    return Listing(fresh.model_copy(update={"vms": vms}), began=0)


async def test_a_plan_that_would_act_on_a_stale_list_looks_again(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path) as h:
        await h.converged(KINDS)
        assert h.daemon is not None and h.daemon.engine is not None
        reconciler = h.daemon.reconcilers["VM"]
        assert isinstance(reconciler, VMReconciler)
        obj = h.object("VM", "dev-1")
        assert obj is not None
        desired = obj.resource()
        assert isinstance(desired, VM)
        inner = h.daemon.engine.context.for_object(("VM", "dev-1"))

        # Nothing read back since the stale list either (its acts were before): a VM that
        # was read back after acting is seen as read, over any older list.
        reconciler.fresh = FreshEntries()
        stale = StaleShared(inner, RESOURCES, lambda: stopped(inner))
        seen = await reconciler.observe(desired, "dev-1", cast(ReconcileContext, stale))
        assert (stale.loads, seen.status) == (2, "running")
        assert reconciler.plan(desired, seen, now=inner.now()).actions == ()

        honest = StaleShared(inner, RESOURCES, lambda: stopped(inner))
        honest.stale_served = True  # a true snapshot: the converged look is not repeated
        seen = await reconciler.observe(desired, "dev-1", cast(ReconcileContext, honest))
        assert (honest.loads, seen.status) == (1, "running")
