"""`GET /cluster/resources`: one cluster-wide list of nodes, storages and guests.

Shapes follow `PVE::API2Tools::extract_vm_stats` and friends: `type` is `qemu` (never `vm`),
`vmid` a number, `tags`/`lock`/`hastate`/`pool` only when set. A guest on a node the
cluster considers offline reports `unknown`; until the cluster notices a crash, a guest that
was running still shows its stale `running` entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeport.simulator.pve import qemu_config as qc
from homeport.simulator.pve.nodes import Node, node_usage, online
from homeport.simulator.pve.storage import Storage, used_bytes
from homeport.simulator.pve.vms import Vm, runtime_stats

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World


def cluster_resources(world: World, kind: str | None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if kind in (None, "node"):
        items += [_node(world, node) for node in world.nodes.values()]
    if kind in (None, "storage"):
        for node in world.nodes.values():
            items += [_storage(world, s, node) for s in world.storages.values()]
    if kind in (None, "vm"):
        items += [_vm(world, vm) for vm in sorted(world.vms.values(), key=lambda v: v.vmid)]
    return items


def _node(world: World, node: Node) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": f"node/{node.name}",
        "type": "node",
        "node": node.name,
        "status": "online" if online(world, node) else "offline",
        "maxcpu": node.maxcpu,
        "maxmem": node.maxmem,
        "maxdisk": node.rootfs,
        "level": "",
        "cgroup-mode": 2,
    }
    if item["status"] == "online":
        item.update(node_usage(world, node))
    if world.ha.resources:
        item["hastate"] = "online" if item["status"] == "online" else "unknown"
    return item


def _storage(world: World, storage: Storage, node: Node) -> dict[str, Any]:
    scope = storage.scope(node.name)
    available = online(world, node)
    return {
        "id": f"storage/{node.name}/{storage.id}",
        "type": "storage",
        "storage": storage.id,
        "node": node.name,
        "plugintype": storage.type,
        "status": "available" if available else "unknown",
        "shared": int(storage.shared),
        "content": ",".join(sorted(storage.content)),
        "maxdisk": storage.totals[scope],
        "disk": used_bytes(world, storage, scope),
    }


def _vm(world: World, vm: Vm) -> dict[str, Any]:
    node = world.nodes[vm.node]
    stats = runtime_stats(world, vm)
    status = vm.status
    if not online(world, node):
        status = "unknown"
    elif vm.stale_running:
        status = "running"
    item: dict[str, Any] = {
        "id": f"qemu/{vm.vmid}",
        "vmid": vm.vmid,
        "type": "qemu",
        "node": vm.node,
        "name": vm.name,
        "status": status,
        "template": int(vm.is_template),
        "uptime": stats["uptime"],
        "maxcpu": qc.cpus(vm.conf),
        "cpu": stats["cpu"],
        "maxmem": qc.memory_mib(vm.conf) * (1 << 20),
        "mem": stats["mem"],
        "memhost": stats["mem"],
        "maxdisk": vm.root_disk_size(),
        "disk": 0,
        "netin": stats["netin"],
        "netout": stats["netout"],
        "diskread": stats["diskread"],
        "diskwrite": stats["diskwrite"],
    }
    if vm.conf.get("tags"):
        item["tags"] = vm.conf["tags"]
    if vm.lock:
        item["lock"] = vm.lock
    if vm.pool:
        item["pool"] = vm.pool
    if world.ha.managed(vm.vmid):
        item["hastate"] = world.ha.crm_state(world, f"vm:{vm.vmid}")
    return item
