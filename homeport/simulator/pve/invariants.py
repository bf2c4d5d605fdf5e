"""`check(world)`: the simulated cluster's invariants, as a list of violations (empty: sound).

Run after scenarios and by the simulator's own tests. A lock must belong to a running task
(or to one a node crash killed: PVE leaves such stale locks behind too), every volume a
config references must exist and every image volume must be referenced by its owner, a
running VM must sit on a powered node, loopback addresses are unique, and no task or
background job has failed inside the simulator itself.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from homeport.simulator.pve import qemu_config as qc
from homeport.simulator.pve.storage import find_volume, used_bytes

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World


def check(world: World) -> list[str]:
    problems: list[str] = []
    problems += _vm_placement(world)
    problems += _locks(world)
    problems += _volumes(world)
    problems += _uniqueness(world)
    problems += _jobs(world)
    problems += _storage(world)
    problems += [f"internal error: {e}" for e in world.internal_errors]
    return problems


def _vm_placement(world: World) -> list[str]:
    problems = []
    for vm in world.vms.values():
        node = world.nodes.get(vm.node)
        if node is None:
            problems.append(f"VM {vm.vmid} is on unknown node '{vm.node}'")
        elif vm.running and node.crashed:
            problems.append(f"VM {vm.vmid} runs on crashed node '{vm.node}'")
        if vm.running and vm.is_template:
            problems.append(f"template {vm.vmid} is running")
        local = {v.scope for v in world.volumes.of_vm(vm.vmid) if v.scope}
        if local - {vm.node}:
            problems.append(f"VM {vm.vmid} on '{vm.node}' has local volumes on {sorted(local)}")
    return problems


def _locks(world: World) -> list[str]:
    problems = []
    for vm in world.vms.values():
        if vm.lock is None:
            continue
        task = world.tasks.get(vm.lock_task or "")
        if world.tasks.is_running(vm.lock_task):
            continue
        if task is not None and task.killed:
            continue
        problems.append(f"VM {vm.vmid} has lock '{vm.lock}' but no running task holds it")
    return problems


def _volumes(world: World) -> list[str]:
    problems = []
    referenced: set[tuple[str, str]] = set()
    for vm in world.vms.values():
        confs = [vm.conf, vm.pending]
        for volid in {v for conf in confs for v in qc.drive_volumes(conf).values()}:
            volume = find_volume(world, vm.node, volid)
            if volume is None:
                problems.append(f"VM {vm.vmid} references missing volume '{volid}'")
            else:
                referenced.add((volume.scope, volume.volid))
    for volume in world.volumes.all():
        if volume.content != "images":
            continue
        owner = world.vms.get(volume.vmid)
        killed = owner is not None and _stale(world, owner.lock_task)
        if (volume.scope, volume.volid) not in referenced and not killed:
            problems.append(f"orphaned volume '{volume.volid}' on '{volume.scope or 'shared'}'")
        if volume.parent and world.volumes.get(volume.scope, volume.parent) is None:
            problems.append(f"linked clone '{volume.volid}' lost its base '{volume.parent}'")
    return problems


def _stale(world: World, upid: str | None) -> bool:
    task = world.tasks.get(upid or "")
    return world.tasks.is_running(upid) or (task is not None and task.killed)


def _uniqueness(world: World) -> list[str]:
    addresses = Counter(vm.address for vm in world.vms.values() if vm.address)
    # MACs may repeat: PVE keeps a restored guest's MACs unless asked for `unique`.
    return [f"address {a} used by {n} VMs" for a, n in addresses.items() if n > 1]


def _jobs(world: World) -> list[str]:
    problems = []
    for job in world.replication.jobs.values():
        vm = world.vms.get(job.guest)
        if vm is None:
            problems.append(f"replication job '{job.id}' for missing guest {job.guest}")
        elif vm.node == job.target:
            problems.append(f"replication job '{job.id}' targets its own source '{job.target}'")
    for sid in world.ha.resources:
        if int(sid.split(":")[1]) not in world.vms:
            problems.append(f"HA resource '{sid}' for a missing guest")
    return problems


def _storage(world: World) -> list[str]:
    problems = []
    for storage in world.storages.values():
        for scope, total in storage.totals.items():
            if used_bytes(world, storage, scope) > total:
                problems.append(f"storage '{storage.id}' on '{scope or 'shared'}' over capacity")
    return problems
