"""Proxmox HA, enough to report: resources (`resources.cfg`), status, requested states.

Resources are stored and listed as PVE does; `GET /cluster/ha/status/current` shows quorum,
master, LRMs and one `service:` entry per resource. Start/stop of an HA-managed VM only set
its requested state (`power`); the CRM loop here applies it every `Timings.ha_round`.
Fencing and recovery of a failed node's services are not simulated (docs/simulator.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeport.simulator.errors import PveError
from homeport.simulator.pve.nodes import Node, online, quorate

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

DEFAULTS = {"max_restart": 1, "max_relocate": 1}


@dataclass
class HaManager:
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    wake: asyncio.Event | None = None

    def managed(self, vmid: int) -> bool:
        return f"vm:{vmid}" in self.resources

    def state_of(self, sid: str) -> str:
        state = str(self.resources[sid].get("state", "started"))
        return "started" if state == "enabled" else state

    def status_of(self, vmid: int) -> dict[str, Any]:
        sid = f"vm:{vmid}"
        if sid not in self.resources:
            return {"managed": 0}
        return {"managed": 1, "state": self.state_of(sid)}

    def digest(self) -> str:
        return hashlib.sha1(json.dumps(self.resources, sort_keys=True).encode()).hexdigest()

    def list_view(self, kind: str | None = None) -> list[dict[str, Any]]:
        digest = self.digest()
        return [
            {"sid": sid, **props, "digest": digest}
            for sid, props in sorted(self.resources.items())
            if kind is None or props["type"] == kind
        ]

    def get(self, sid: str) -> dict[str, Any]:
        sid = normalize_sid(sid)
        if sid not in self.resources:
            raise PveError(f"no such resource '{sid}'")
        return {"sid": sid, **self.resources[sid], "digest": self.digest()}

    def add(self, sid: str, props: dict[str, Any]) -> None:
        self.resources[sid] = {"type": sid.split(":")[0], **props}
        self.kick()

    def create(self, world: World, params: dict[str, Any]) -> None:
        raw = str(params["sid"])
        sid = normalize_sid(raw)
        vmid = int(sid.split(":")[1])
        if vmid not in world.vms:
            if ":" not in raw:
                raise PveError(f"unable to detect SID from VMID - VM/CT {vmid} does not exist")
            raise PveError(f"resource '{sid}' does not exist in cluster")
        if sid.startswith("ct:"):
            raise PveError(f"resource '{sid}' - guest with ID {vmid} is not a CT")
        if sid in self.resources:
            raise PveError(f"create resource failed: resource ID '{sid}' already defined")
        props = {k: v for k, v in params.items() if k not in ("sid", "type")}
        props.setdefault("state", "started")
        self.add(sid, props)
        world.changed()

    def update(self, world: World, sid: str, params: dict[str, Any]) -> None:
        sid = normalize_sid(sid)
        if sid not in self.resources:
            raise PveError(f"no such resource '{sid}'")
        props = self.resources[sid]
        for key in [k for k in str(params.get("delete", "")).split(",") if k]:
            props.pop(key, None)
        props.update({k: v for k, v in params.items() if k not in ("sid", "delete", "digest")})
        self.kick()
        world.changed()

    def remove(self, world: World, sid: str) -> None:
        sid = normalize_sid(sid)
        if sid not in self.resources:
            raise PveError(f"cannot delete service '{sid}', not HA managed!")
        del self.resources[sid]
        world.changed()

    def set_state(self, sid: str, state: str) -> None:
        if sid in self.resources:
            self.resources[sid]["state"] = state
            self.kick()

    def purge_vmid(self, vmid: int) -> None:
        self.resources.pop(f"vm:{vmid}", None)

    def status_current(self, world: World) -> list[dict[str, Any]]:
        now = world.clock.now()
        master = next((n.name for n in world.nodes.values() if online(world, n)), "")
        entries = [_quorum_entry(world, master)]
        if master and self.resources:
            entries.append(_master_entry(master, now))
        entries += [_lrm_entry(world, self, node, now) for node in world.nodes.values()]
        entries += [self._service_entry(world, sid) for sid in sorted(self.resources)]
        return entries

    def _service_entry(self, world: World, sid: str) -> dict[str, Any]:
        vm = world.vms.get(_vmid(sid))
        node = vm.node if vm else ""
        state = self.crm_state(world, sid)
        props = self.resources[sid]
        return {
            "id": f"service:{sid}",
            "type": "service",
            "sid": sid,
            "node": node,
            "crm_state": state,
            "state": state,
            "status": f"{sid} ({node or '?'}, {state})",
            "request_state": self.state_of(sid),
            "max_restart": props.get("max_restart", DEFAULTS["max_restart"]),
            "max_relocate": props.get("max_relocate", DEFAULTS["max_relocate"]),
        }

    def crm_state(self, world: World, sid: str) -> str:
        vm = world.vms.get(int(sid.split(":")[1]))
        if vm is None:
            return "error"
        if not online(world, world.nodes[vm.node]):
            return "fence"
        request = self.state_of(sid)
        if request == "ignored":
            return "ignored"
        if request in ("stopped", "disabled"):
            return "stopped" if not vm.running else "request_stop"
        return "started" if vm.running else "request_start"

    def kick(self) -> None:
        if self.wake is not None:
            self.wake.set()

    async def run(self, world: World) -> None:
        """The CRM/LRM loop: carry out requested states once per round."""
        from homeport.simulator.pve import power

        self.wake = asyncio.Event()
        while True:
            await world.clock.sleep(world.timings.ha_round)
            for sid in list(self.resources):
                vm = world.vms.get(int(sid.split(":")[1]))
                if vm is None or vm.lock or not world.nodes[vm.node].reachable:
                    continue
                request = self.state_of(sid)
                if request == "started" and not vm.running and not vm.is_template:
                    world.tasks.spawn(
                        world,
                        vm.node,
                        "qmstart",
                        str(vm.vmid),
                        "root@pam",
                        power.start_worker(vm.vmid),
                    )
                elif request in ("stopped", "disabled") and vm.running:
                    world.tasks.spawn(
                        world,
                        vm.node,
                        "qmstop",
                        str(vm.vmid),
                        "root@pam",
                        power.stop_worker(vm.vmid),
                    )


def _vmid(sid: str) -> int:
    return int(sid.split(":")[1])


def _quorum_entry(world: World, master: str) -> dict[str, Any]:
    ok = quorate(world)
    return {
        "id": "quorum",
        "type": "quorum",
        "node": master,
        "status": "OK" if ok else f"No quorum on node '{master}'!",
        "quorate": int(ok),
    }


def _master_entry(master: str, now: float) -> dict[str, Any]:
    return {
        "id": "master",
        "type": "master",
        "node": master,
        "status": f"{master} (active, {_ctime(now)})",
        "timestamp": int(now),
    }


def _lrm_entry(world: World, ha: HaManager, node: Node, now: float) -> dict[str, Any]:
    active = any(vm.node == node.name for vm in world.vms.values() if ha.managed(vm.vmid))
    if online(world, node):
        status = f"{node.name} ({'active' if active else 'idle'}, {_ctime(now)})"
    else:
        status = f"{node.name} (old timestamp - dead?, {_ctime(now)})"
    return {
        "id": f"lrm:{node.name}",
        "type": "lrm",
        "node": node.name,
        "status": status,
        "timestamp": int(now),
    }


def normalize_sid(text: str) -> str:
    return text if ":" in text else f"vm:{text}"


def _ctime(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%a %b %d %H:%M:%S %Y")
