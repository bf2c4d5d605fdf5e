"""The shared ``GET /cluster/resources`` snapshot, and what is known of one VM since.

Every reconciler that reads the cluster list shares one read per window
(``ctx.shared``). A reconciler that has just changed a VM must not plan its next step on
a list read before the change, but reading the whole list again after every change costs
a read of every VM of the cluster per action (an O(estate) read per action: the largest
growing cost of a large estate's convergence). So the VM reconciler reads the one VM it
changed (``GET .../status/current``) and notes the entry in its ``FreshEntries``; its
looks use a note over the list's entry until a list read that began after the note.

Reads are ordered by ``freshlook.began``, taken as each one begins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeport.clients.errors import NotFound
from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.proxmox_models import ClusterResources, VmResource, VmStatus
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.freshlook import Notes, began

RESOURCES = "proxmox.resources"


@dataclass(frozen=True)
class Listing:
    """One read of the cluster list, and when it began (on the reads' common order)."""

    resources: ClusterResources
    began: int


async def listing(ctx: ReconcileContext, px: ProxmoxClient) -> Listing:
    """The window's shared read of the cluster list."""

    async def load() -> Listing:
        order = began()
        return Listing(await px.cluster_resources(), order)

    result: Listing = await ctx.shared(RESOURCES, load)
    return result


async def cluster_resources(ctx: ReconcileContext, px: ProxmoxClient) -> ClusterResources:
    return (await listing(ctx, px)).resources


def entry_of(status: VmStatus, node: str, listed: VmResource | None) -> VmResource:
    """The list entry a VM's own status stands for (the fields a list entry has and the
    status does not, sizes and usage, are kept from ``listed``)."""
    hastate = status.ha_state or ("managed" if status.ha_managed else None)
    fields = {
        "vmid": status.vmid or (listed.vmid if listed else 0),
        "node": node,
        "name": status.name,
        "status": status.status,
        "lock": status.lock,
        "tags": status.tags,
        "hastate": hastate,
    }
    if listed is not None:
        return listed.model_copy(update=fields)
    return VmResource.model_validate({**fields, "type": "qemu", "tags": ";".join(status.tags)})


class FreshEntries:
    """VM entries read one by one after a change, newer than the list they patch."""

    def __init__(self) -> None:
        self._notes: Notes[int, VmResource | None] = Notes()

    async def read(
        self,
        read_status: Callable[[str, int], Awaitable[VmStatus]],
        node: str,
        vmid: int,
        listed: VmResource | None,
    ) -> None:
        """Read VM ``vmid`` on ``node`` and note it (None: it does not exist there).
        Other errors propagate, and nothing is noted."""
        order = began()
        try:
            entry: VmResource | None = entry_of(await read_status(node, vmid), node, listed)
        except NotFound:
            entry = None
        self._notes.note(vmid, entry, order=order)

    def over(self, listed: Listing) -> ClusterResources:
        """``listed`` with the notes taken after its read began in place of its entries;
        notes older than it are dropped (the list has caught up)."""
        newer = self._notes.since(listed.began)
        if not newer:
            return listed.resources
        vms = [v for v in listed.resources.vms if v.vmid not in newer]
        vms.extend(entry for entry in newer.values() if entry is not None)
        return listed.resources.model_copy(update={"vms": tuple(vms)})

    def forget(self, vmid: int) -> None:
        self._notes.forget(vmid)

    def __len__(self) -> int:
        return len(self._notes)
