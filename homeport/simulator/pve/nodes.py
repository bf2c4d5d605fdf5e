"""Cluster nodes: capacity, uptime, membership, and what crashes and partitions do to them.

A node is reachable (its API answers, its guests run) unless crashed or partitioned; the
rest of the cluster only *notices* after `Timings.node_offline_after` (corosync), which is
when `/nodes`, `/cluster/status` and `/cluster/resources` turn it offline. A crash kills
the node's tasks and guests on the spot; recovery reboots it and starts its `onboot`
guests. Views for `/nodes`, `/nodes/{node}/status` and `/cluster/status` live here too.
Called by `faults` and `proxmox_api.routes_cluster`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeport.simulator.pve import qemu_config as qc

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

GIB = 1 << 30
PVE_VERSION = "9.0.10"
PVE_REPOID = "0b1e7c3a5d9f2e41"
KERNEL = "6.14.8-2-pve"


@dataclass
class Node:
    name: str
    nodeid: int
    ip: str
    maxcpu: int
    maxmem: int
    rootfs: int
    boot_time: float
    crashed: bool = False
    partitioned: bool = False
    down_since: float | None = None
    pid_counter: int = 0
    firewall: dict[str, Any] = field(default_factory=dict)
    firewall_rules: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reachable(self) -> bool:
        return not (self.crashed or self.partitioned)

    def next_pid(self, rng: random.Random) -> int:
        if self.pid_counter == 0:
            self.pid_counter = rng.randrange(2000, 60000)
        self.pid_counter += rng.randrange(1, 40)
        return self.pid_counter


def online(world: World, node: Node) -> bool:
    """Whether the cluster still counts the node as a member."""
    if node.reachable or node.down_since is None:
        return True
    return world.clock.now() - node.down_since < world.timings.node_offline_after


def quorate(world: World) -> bool:
    members = sum(1 for n in world.nodes.values() if online(world, n))
    return members * 2 > len(world.nodes)


def node_usage(world: World, node: Node) -> dict[str, Any]:
    from homeport.simulator.pve.vms import runtime_stats

    running = [vm for vm in world.vms.values() if vm.node == node.name and vm.running]
    stats = [runtime_stats(world, vm) for vm in running]
    cpu = min(
        1.0,
        0.01
        + sum(s["cpu"] * qc.cpus(vm.conf) for s, vm in zip(stats, running, strict=True))
        / node.maxcpu,
    )
    return {
        "cpu": round(cpu, 4),
        "mem": min(node.maxmem, 3 * GIB + sum(s["mem"] for s in stats)),
        "disk": 9 * GIB,
        "uptime": int(world.clock.now() - node.boot_time),
    }


def node_index_item(world: World, node: Node, fingerprint: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": f"node/{node.name}",
        "node": node.name,
        "type": "node",
        "status": "online" if online(world, node) else "offline",
        "level": "",
        "ssl_fingerprint": fingerprint,
        "maxcpu": node.maxcpu,
        "maxmem": node.maxmem,
        "maxdisk": node.rootfs,
    }
    if item["status"] == "online":
        item.update(node_usage(world, node))
    return item


def node_status(world: World, node: Node) -> dict[str, Any]:
    usage = node_usage(world, node)
    load = f"{usage['cpu'] * node.maxcpu:.2f}"
    return {
        "uptime": usage["uptime"],
        "idle": 0,
        "loadavg": [load, load, load],
        "kversion": f"Linux {KERNEL} #1 SMP PREEMPT_DYNAMIC PMX {KERNEL}",
        "current-kernel": {
            "sysname": "Linux",
            "release": KERNEL,
            "version": f"#1 SMP PREEMPT_DYNAMIC PMX {KERNEL}",
            "machine": "x86_64",
        },
        "boot-info": {"mode": "efi", "secureboot": 0},
        "cpuinfo": {
            "model": "AMD Ryzen 7 5800U with Radeon Graphics",
            "sockets": 1,
            "cores": node.maxcpu // 2,
            "cpus": node.maxcpu,
            "mhz": "1900.000",
            "hvm": "1",
            "flags": "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov svm",
            "user_hz": 100,
        },
        "cpu": usage["cpu"],
        "wait": 0,
        "memory": {
            "total": node.maxmem,
            "used": usage["mem"],
            "free": node.maxmem - usage["mem"],
            "available": node.maxmem - usage["mem"],
        },
        "ksm": {"shared": 0},
        "swap": {"total": 8 * GIB, "used": 0, "free": 8 * GIB},
        "pveversion": f"pve-manager/{PVE_VERSION}/{PVE_REPOID}",
        "rootfs": {
            "total": node.rootfs,
            "used": usage["disk"],
            "avail": node.rootfs - usage["disk"],
            "free": node.rootfs - usage["disk"],
        },
    }


def cluster_status(world: World, cluster_name: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = [
        {
            "type": "cluster",
            "id": "cluster",
            "name": cluster_name,
            "nodes": len(world.nodes),
            "quorate": int(quorate(world)),
            "version": len(world.nodes),
        }
    ]
    local = local_node(world)
    for node in world.nodes.values():
        entries.append(
            {
                "type": "node",
                "id": f"node/{node.name}",
                "name": node.name,
                "nodeid": node.nodeid,
                "ip": node.ip,
                "local": int(node.name == local),
                "online": int(online(world, node)),
                "level": "",
            }
        )
    return entries


def local_node(world: World) -> str:
    """The node the API endpoint stands for: the first reachable one."""
    for node in world.nodes.values():
        if node.reachable:
            return node.name
    return next(iter(world.nodes))


def crash(world: World, name: str) -> None:
    """Power loss: tasks die mid-way, guests vanish, flocks go, config locks stay."""
    from homeport.simulator.pve import power

    node = world.nodes[name]
    if node.crashed:
        return
    node.crashed = True
    node.down_since = node.down_since or world.clock.now()
    world.tasks.kill_node(name)
    for vm in world.vms.values():
        if vm.node == name and vm.running:
            power.power_off(world, vm)
            vm.stale_running = True
    world.changed()


def partition(world: World, name: str) -> None:
    """Cut the node off: it keeps running, nobody reaches it or its guests."""
    node = world.nodes[name]
    if node.partitioned or node.crashed:
        return
    node.partitioned = True
    node.down_since = world.clock.now()
    for vm in world.vms.values():
        if vm.node == name and vm.running:
            world.guests.reachable(vm, False)
    world.changed()


def recover(world: World, name: str) -> None:
    """Power back / network back: the node rejoins; a rebooted node starts `onboot` guests."""
    from homeport.simulator.pve import power

    node = world.nodes[name]
    if node.partitioned:
        node.partitioned = False
        for vm in world.vms.values():
            if vm.node == name and vm.running:
                world.guests.reachable(vm, True)
    if node.crashed:
        node.crashed = False
        node.boot_time = world.clock.now()
        for vm in world.vms.values():
            if vm.node == name:
                vm.stale_running = False
        world.background(power.autostart(world, name), f"autostart {name}")
    node.down_since = None
    world.changed()
