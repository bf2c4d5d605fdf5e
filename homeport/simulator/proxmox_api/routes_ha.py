"""HA resources (`/cluster/ha/resources`) and manager status (`/cluster/ha/status/current`).

Enough to tell which VMs Proxmox HA manages; behaviour in `pve.ha`.
"""

from __future__ import annotations

from typing import Any

from homeport.simulator.proxmox_api.router import Call, Route, route
from homeport.simulator.schema import BOOLEAN, Param, enum, fmt, schema

SID = fmt("pve-ha-resource-or-vm-id").required
STATE = enum("started", "stopped", "enabled", "disabled", "ignored")
PROPS: dict[str, Param] = {
    "comment": Param(max_length=4096),
    "failback": BOOLEAN,
    "group": fmt("pve-configid"),
    "max_relocate": Param("integer", minimum=0),
    "max_restart": Param("integer", minimum=0),
    "state": STATE,
}


async def list_resources(call: Call) -> Any:
    return call.world.ha.list_view(call.params.get("type"))


async def create_resource(call: Call) -> Any:
    call.world.ha.create(call.world, call.params)


async def get_resource(call: Call) -> Any:
    return call.world.ha.get(str(call.params["sid"]))


async def update_resource(call: Call) -> Any:
    call.world.ha.update(call.world, str(call.params["sid"]), call.params)


async def delete_resource(call: Call) -> Any:
    call.world.ha.remove(call.world, str(call.params["sid"]))


async def status_current(call: Call) -> Any:
    return call.world.ha.status_current(call.world)


async def manager_status(call: Call) -> Any:
    world = call.world
    from homeport.simulator.pve.nodes import online

    return {
        "manager_status": {
            "master_node": next(iter(world.nodes)),
            "node_status": {
                n: "online" if online(world, s) else "unknown" for n, s in world.nodes.items()
            },
            "service_status": {
                sid: {"node": e["node"], "state": e["crm_state"]}
                for sid, e in (
                    (e["sid"], e) for e in world.ha.status_current(world) if e["type"] == "service"
                )
            },
            "timestamp": int(world.clock.now()),
        },
        "lrm_status": {},
    }


ROUTES: list[Route] = [
    route("GET", "/cluster/ha/resources", list_resources, schema(type=enum("ct", "vm"))),
    route(
        "POST",
        "/cluster/ha/resources",
        create_resource,
        schema({**PROPS, "sid": SID, "type": enum("ct", "vm")}),
    ),
    route("GET", "/cluster/ha/resources/{sid}", get_resource, schema(sid=SID)),
    route(
        "PUT",
        "/cluster/ha/resources/{sid}",
        update_resource,
        schema(
            {
                **PROPS,
                "sid": SID,
                "delete": fmt("pve-configid-list"),
                "digest": Param(max_length=64),
            }
        ),
    ),
    route("DELETE", "/cluster/ha/resources/{sid}", delete_resource, schema(sid=SID, purge=BOOLEAN)),
    route("GET", "/cluster/ha/status/current", status_current),
    route("GET", "/cluster/ha/status/manager_status", manager_status),
]
