"""Saving and reloading the world as JSON (`pve-state.json`), so state survives a restart.

Everything that PVE keeps on disk is saved: nodes, storages, volumes, VM configs and power
state, finished tasks, backup/replication jobs and their state, HA resources, the address
counter and the random generator's state (so a seeded run stays reproducible). Faults are
not state. A task that was running when the file was written comes back dead
(`unexpected status`), like after a power loss. `simulator` decides when to write.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from homeport.simulator.pve.backup_jobs import BackupJob
from homeport.simulator.pve.nodes import Node
from homeport.simulator.pve.replication import ReplicationJob, ReplicationState
from homeport.simulator.pve.seed import local_zfs, seed_pci
from homeport.simulator.pve.storage import Storage, Volume
from homeport.simulator.pve.tasks import Task
from homeport.simulator.pve.vms import Vm
from homeport.simulator.pve.world import World
from homeport.simulator.upid import parse_upid

VERSION = 1
_VM_FIELDS = (
    "vmid",
    "node",
    "conf",
    "pending",
    "pending_delete",
    "status",
    "started_at",
    "pid",
    "address",
    "lock_task",
    "instance_id",
    "ci_generated",
    "firewall_options",
    "firewall_rules",
    "pool",
)


def dump_world(world: World) -> dict[str, Any]:
    return {
        "version": VERSION,
        "clock": world.clock.now(),
        "rng": _rng_state(world),
        "next_address": world.next_address,
        "nodes": [dataclasses.asdict(n) for n in world.nodes.values()],
        "storages": [dataclasses.asdict(s) for s in world.storages.values()],
        "volumes": [dataclasses.asdict(v) for v in world.volumes.all()],
        "vms": [{f: getattr(vm, f) for f in _VM_FIELDS} for vm in world.vms.values()],
        "tasks": [_task(t) for t in world.tasks.tasks.values()],
        "backup_jobs": [dataclasses.asdict(j) for j in world.backup_jobs.jobs.values()],
        "replication": [_job(j) for j in world.replication.jobs.values()],
        "ha": world.ha.resources,
        "cluster_firewall": world.cluster_firewall,
        "cluster_firewall_rules": world.cluster_firewall_rules,
        "pci_mappings": world.pci_mappings,
    }


def _rng_state(world: World) -> list[Any]:
    version, internal, gauss = world.rng.getstate()
    return [version, list(internal), gauss]


def _task(task: Task) -> dict[str, Any]:
    return {
        "upid": task.text,
        "lines": task.lines,
        "status": task.status,
        "exitstatus": task.exitstatus,
        "endtime": task.endtime,
        "created": task.created,
        "killed": task.killed,
        "warnings": task.warnings,
    }


def _job(job: ReplicationJob) -> dict[str, Any]:
    state = dataclasses.asdict(job.state)
    state["pid"] = None
    return {
        "id": job.id,
        "guest": job.guest,
        "jobnum": job.jobnum,
        "target": job.target,
        "props": job.props,
        "state": state,
    }


def load_world(world: World, data: dict[str, Any]) -> None:
    version, internal, gauss = data["rng"]
    world.rng.setstate((version, tuple(internal), gauss))
    world.next_address = data["next_address"]
    world.nodes = {n["name"]: Node(**n) for n in data["nodes"]}
    for node in world.nodes.values():
        node.crashed = node.partitioned = False
        node.down_since = None
    world.storages = {
        s["id"]: Storage(**{**s, "content": tuple(s["content"])}) for s in data["storages"]
    }
    lvm = world.storages.get("local-lvm")
    if "local-zfs" not in world.storages and lvm is not None:
        # A state written before the simulator seeded `local-zfs`: add it, sized like local-lvm.
        world.storages["local-zfs"] = local_zfs(dict(lvm.totals))
    for volume in data["volumes"]:
        world.volumes.add(Volume(**volume))
    for raw in data["vms"]:
        vm = Vm(**raw)
        vm.pending_delete = {k: int(v) for k, v in vm.pending_delete.items()}
        world.vms[vm.vmid] = vm
    for raw in data["tasks"]:
        world.tasks.add(_load_task(raw))
    for raw in data["backup_jobs"]:
        world.backup_jobs.jobs[raw["id"]] = BackupJob(**raw)
    for raw in data["replication"]:
        state = ReplicationState(**raw.pop("state"))
        job = ReplicationJob(**raw, state=state)
        world.replication.jobs[job.id] = job
    world.ha.resources = data["ha"]
    world.cluster_firewall = data.get("cluster_firewall", {})
    world.cluster_firewall_rules = data.get("cluster_firewall_rules", [])
    world.pci_mappings = data.get("pci_mappings", {})
    # The nodes' PCI hardware is not state: it is the seeded hardware, again.
    seed_pci(world)


def _load_task(raw: dict[str, Any]) -> Task:
    upid = parse_upid(raw["upid"])
    if upid is None:
        raise ValueError(f"corrupt task {raw['upid']}")
    task = Task(
        upid=upid,
        lines=raw["lines"],
        status=raw["status"],
        exitstatus=raw["exitstatus"],
        endtime=raw["endtime"],
        created=raw["created"],
        killed=raw["killed"],
        warnings=raw["warnings"],
    )
    if task.status == "running":
        task.status, task.exitstatus, task.killed = "stopped", "unexpected status", True
        task.endtime = upid.starttime
    return task


def write_state(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)


def read_state(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    if data.get("version") != VERSION:
        raise ValueError(f"{path}: unsupported state version {data.get('version')}")
    return data
