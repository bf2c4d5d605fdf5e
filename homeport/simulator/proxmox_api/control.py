"""The simulator's own control endpoint (`/_sim/...`, not part of PVE), for `homeport sim fault`.

Same listener and credentials as the PVE API; JSON in, JSON out (`{"data": ...}`):

    POST /_sim/faults/<name>   body: keyword arguments of `Faults.<name>`  -> {"rule": id} or null
                               (answers once the fault is in effect: its guest-side effects
                               done, a crashed or partitioned node counted offline)
    POST /_sim/faults/release  body: {"rule": id}                          (a stick_tasks rule)
    POST /_sim/clock/advance   body: {"seconds": N}
    GET  /_sim/check           -> invariant violations
    GET  /_sim/state           -> simulated time, nodes (crashed/partitioned), fault counts
    POST /_sim/guests/<vmid>/<name>  body: keyword arguments of the guest runtime's fault
                               (hang_vm, crash_vm, resume_vm, refuse_ssh, hang_app, fail_app,
                               heal_app, fill_disk, set_reachable)
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from homeport.simulator.errors import PveError
from homeport.simulator.faults import ApiRule, Faults, TaskRule
from homeport.simulator.proxmox_api.context import ApiContext
from homeport.simulator.pve import invariants

FAULTS = (
    "api_error",
    "api_timeout",
    "api_slow",
    "api_drop_response",
    "no_such_task_chaos",
    "fail_tasks",
    "stick_tasks",
    "disk_full",
    "stall_replication",
    "unstall_replication",
    "corrupt_reads",
    "corrupt_archive",
    "crash_node",
    "partition_node",
    "recover_node",
    "crash_vm",
    "clear",
)
NODE_DOWN = ("crash_node", "partition_node")

GUEST_FAULTS = (
    "hang_vm",
    "crash_vm",
    "resume_vm",
    "refuse_ssh",
    "hang_app",
    "fail_app",
    "heal_app",
    "fill_disk",
    "set_reachable",
)


class Control:
    def __init__(self, context: ApiContext) -> None:
        self._context = context
        self._rules: list[ApiRule | TaskRule] = []

    def handle(self, method: str, path: str, body: bytes) -> Any:
        args = json.loads(body) if body else {}
        if not isinstance(args, dict):
            raise PveError("control arguments must be a JSON object", status=400)
        parts = [p for p in path.split("/") if p][1:]
        if method == "GET" and parts == ["check"]:
            return invariants.check(self._context.world)
        if method == "GET" and parts == ["state"]:
            return self._state()
        if method == "POST" and parts == ["clock", "advance"]:
            self._context.world.clock.advance(float(args["seconds"]))
            return None
        if method == "POST" and parts == ["faults", "release"]:
            rule = self._rules[int(args["rule"])]
            if not isinstance(rule, TaskRule):
                raise PveError(f"rule {args['rule']} is not a stuck-task rule", status=400)
            self._context.faults.release(rule)
            return None
        if method == "POST" and len(parts) == 2 and parts[0] == "faults" and parts[1] in FAULTS:
            return self._inject_in_effect(parts[1], args)
        if (
            method == "POST"
            and len(parts) == 3
            and parts[0] == "guests"
            and parts[2] in GUEST_FAULTS
        ):
            return self._guest_fault(int(parts[1]), parts[2], args)
        raise PveError(f"Method '{method} {path}' not implemented", status=501)

    async def _inject_in_effect(self, name: str, args: dict[str, Any]) -> Any:
        """Inject, then answer only once a client sees the fault: whoever acts on the answer
        (`homeport sim fault`, then a look at `/nodes`) must never see the world before it."""
        world = self._context.world
        before = world.guest_work()
        result = self._inject(name, args)
        started = world.guest_work() - before
        if started:
            await asyncio.wait(started)
        node = world.nodes.get(str(args.get("node")))
        if name in NODE_DOWN and node is not None and node.down_since is not None:
            # The cluster notices a lost node only after corosync's timeout: wait for it.
            await world.clock.sleep_until(node.down_since + world.timings.node_offline_after)
        return result

    def _inject(self, name: str, args: dict[str, Any]) -> Any:
        faults: Faults = self._context.faults
        try:
            result = getattr(faults, name)(**args)
        except TypeError as err:
            raise PveError(f"bad arguments for {name}: {err}", status=400) from err
        if isinstance(result, (ApiRule, TaskRule)):
            self._rules.append(result)
            return {"rule": len(self._rules) - 1}
        return None

    def _guest_fault(self, vmid: int, name: str, args: dict[str, Any]) -> Any:
        """A fault of the guest runtime (the VM's OS and apps), if the runtime offers it."""
        world = self._context.world
        if vmid not in world.vms:
            raise PveError(f"Configuration file 'nodes/*/qemu-server/{vmid}.conf' does not exist")
        fault = getattr(world.guests.runtime, name, None)
        if fault is None:
            raise PveError(f"the guest runtime has no fault {name!r}", status=400)
        try:
            return fault(vmid, **args)
        except TypeError as err:
            raise PveError(f"bad arguments for {name}: {err}", status=400) from err

    def _state(self) -> dict[str, Any]:
        world = self._context.world
        faults = self._context.faults
        return {
            "time": world.clock.now(),
            "nodes": {
                n.name: {"crashed": n.crashed, "partitioned": n.partitioned}
                for n in world.nodes.values()
            },
            "api_rules": len(faults.api_rules),
            "task_rules": len(faults.task_rules),
            "full_storages": sorted(f"{s}@{n or '*'}" for s, n in faults.full),
            "stalled_replication": sorted(str(k or "*") for k in faults.stalled),
        }
