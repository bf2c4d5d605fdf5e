"""``reconcilers/cluster.py``: the VM entries read one by one after a change stand in for
the shared list's until a list read that began after them; unit tests, no sockets."""

from __future__ import annotations

import pytest

from homeport.clients.errors import NotFound
from homeport.clients.proxmox_models import ClusterResources, VmResource, VmStatus
from homeport.reconcilers.cluster import FreshEntries, Listing, entry_of, listing


def listed(*vms: tuple[int, str, str]) -> ClusterResources:
    return ClusterResources.parse(
        [
            {"type": "qemu", "vmid": vmid, "node": node, "name": f"vm{vmid}", "status": status,
             "maxmem": 2048 * 1024**2, "tags": "homeport"}
            for vmid, node, status in vms
        ]
    )  # fmt: skip


def status(vmid: int, state: str, *, lock: str | None = None) -> VmStatus:
    return VmStatus.parse(
        {"vmid": vmid, "status": state, "name": f"vm{vmid}", "lock": lock, "tags": "homeport"}
    )


class Context:
    """``ctx.shared`` that reads every time, as at the start of a window."""

    async def shared(self, key: str, load: object) -> object:
        return await load()  # type: ignore[operator]


class Proxmox:
    def __init__(self, answer: ClusterResources) -> None:
        self.answer = answer

    async def cluster_resources(self) -> ClusterResources:
        return self.answer


async def test_a_note_taken_after_a_list_stands_in_for_its_entry() -> None:
    old = await listing(Context(), Proxmox(listed((101, "pve1", "running"))))  # type: ignore[arg-type]
    fresh = FreshEntries()

    async def stopped(node: str, vmid: int) -> VmStatus:
        return status(vmid, "stopped", lock="backup")

    await fresh.read(stopped, "pve2", 101, old.resources.vm(101))
    seen = fresh.over(old).vm(101)
    assert seen is not None
    assert (seen.node, seen.status, seen.lock) == ("pve2", "stopped", "backup")
    assert seen.maxmem == 2048 * 1024**2  # what the status does not carry comes from the list
    assert len(fresh) == 1


async def test_a_list_read_after_the_note_supersedes_it() -> None:
    proxmox = Proxmox(listed((101, "pve1", "running")))
    fresh = FreshEntries()

    async def stopped(node: str, vmid: int) -> VmStatus:
        return status(vmid, "stopped")

    old = await listing(Context(), proxmox)  # type: ignore[arg-type]
    await fresh.read(stopped, "pve1", 101, None)
    newer = await listing(Context(), proxmox)  # type: ignore[arg-type]
    assert newer.began > old.began
    assert fresh.over(newer).vm(101).status == "running"  # type: ignore[union-attr]
    assert len(fresh) == 0  # dropped: the list has caught up
    assert fresh.over(old).vm(101).status == "running"  # type: ignore[union-attr]


async def test_a_vm_gone_or_new_since_the_list() -> None:
    old = Listing(listed((101, "pve1", "running")), began=0)
    fresh = FreshEntries()

    async def gone(node: str, vmid: int) -> VmStatus:
        raise NotFound(500, "Configuration file 'nodes/pve1/qemu-server/101.conf' does not exist")

    async def cloned(node: str, vmid: int) -> VmStatus:
        return status(vmid, "stopped")

    await fresh.read(gone, "pve1", 101, old.resources.vm(101))
    await fresh.read(cloned, "pve3", 102, None)
    seen = fresh.over(old)
    assert seen.vm(101) is None
    new = seen.vm(102)
    assert new is not None and (new.node, new.name, new.status, new.type) == (
        "pve3", "vm102", "stopped", "qemu"
    )  # fmt: skip
    assert new.tags == ("homeport",)


async def test_an_error_other_than_not_found_notes_nothing() -> None:
    fresh = FreshEntries()

    async def down(node: str, vmid: int) -> VmStatus:
        raise TimeoutError("no answer")

    with pytest.raises(TimeoutError):
        await fresh.read(down, "pve1", 101, None)
    assert len(fresh) == 0


def test_an_ha_managed_vm_keeps_its_ha_state() -> None:
    managed = VmStatus.parse(
        {"vmid": 101, "status": "running", "ha": {"managed": 1, "state": "started"}}
    )
    assert entry_of(managed, "pve1", None).hastate == "started"
    plain = entry_of(status(101, "running"), "pve1", VmResource.parse({"vmid": 101}))
    assert plain.hastate is None


def test_a_copy_with_other_vms_answers_from_its_own() -> None:
    """``vm`` answers from an index of the list (every VM's look asks for its own entry);
    a copy with other VMs must not keep the original's index."""
    original = listed((101, "pve1", "running"), (101, "pve2", "stopped"))
    assert original.vm(101).node == "pve1"  # type: ignore[union-attr]  # the first, as listed
    copy = original.model_copy(update={"vms": listed((102, "pve3", "running")).vms})
    assert copy.vm(101) is None and copy.vm(102).node == "pve3"  # type: ignore[union-attr]
    assert original.vm(101).node == "pve1"  # type: ignore[union-attr]
