"""Cluster-level and node-level read endpoints, and the ticket login.

`/version`, `/nodes`, `/nodes/{node}/status`, `/cluster/status`, `/cluster/resources`,
`/cluster/nextid` (reserves nothing; answers a string, as real clients see it),
`/cluster/tasks` and `POST /access/ticket`. Shapes: `pve.nodes`, `pve.resources`.
"""

from __future__ import annotations

from typing import Any

from homeport.simulator.errors import PveError, param_error
from homeport.simulator.proxmox_api.router import Call, Route, route
from homeport.simulator.pve import nodes as pve_nodes
from homeport.simulator.pve.resources import cluster_resources
from homeport.simulator.schema import NODE, OPT_VMID, STRING, Param, enum, schema

VERSION = {
    "version": pve_nodes.PVE_VERSION,
    "release": "9.0",
    "repoid": pve_nodes.PVE_REPOID[:8],
    "console": "html5",
}
NODE_DIRS = (
    "qemu",
    "lxc",
    "storage",
    "tasks",
    "status",
    "vzdump",
    "replication",
    "firewall",
    "version",
)


async def version(call: Call) -> Any:
    return VERSION


async def nodes_index(call: Call) -> Any:
    world = call.world
    return [
        pve_nodes.node_index_item(world, n, call.api.fingerprints[n.name])
        for n in world.nodes.values()
    ]


async def node_index(call: Call) -> Any:
    return [{"name": name} for name in NODE_DIRS]


async def node_status(call: Call) -> Any:
    return pve_nodes.node_status(call.world, call.world.nodes[call.node])


async def node_version(call: Call) -> Any:
    return VERSION


async def cluster_status(call: Call) -> Any:
    return pve_nodes.cluster_status(call.world, call.api.config.cluster_name)


async def resources(call: Call) -> Any:
    return cluster_resources(call.world, call.params.get("type"))


async def nextid(call: Call) -> Any:
    world = call.world
    wanted = call.params.get("vmid")
    if wanted is not None:
        if wanted in world.vms:
            raise param_error("vmid", f"VM {wanted} already exists")
        return str(wanted)
    for vmid in range(100, 1_000_000):
        if vmid not in world.vms:
            return str(vmid)
    raise PveError("unable to get any free VMID in range [100, 1000000]")


async def cluster_tasks(call: Call) -> Any:
    tasks = sorted(call.world.tasks.tasks.values(), key=lambda t: t.upid.starttime, reverse=True)
    return [t.list_view() for t in tasks[:200]]


async def login(call: Call) -> Any:
    result = call.api.auth.login(call.params)
    result["clustername"] = call.api.config.cluster_name
    return result


LOGIN_SCHEMA = schema(
    username=Param(max_length=64, optional=False),
    password=Param(optional=False),
    realm=Param(max_length=32),
    otp=STRING,
    path=Param(max_length=64),
    privs=Param(max_length=64),
    **{"new-format": Param("boolean"), "tfa-challenge": STRING},
)

ROUTES: list[Route] = [
    route("GET", "/version", version),
    route("GET", "/nodes", nodes_index),
    route("GET", "/nodes/{node}", node_index, schema(node=NODE)),
    route("GET", "/nodes/{node}/status", node_status, schema(node=NODE)),
    route("GET", "/nodes/{node}/version", node_version, schema(node=NODE)),
    route("GET", "/cluster/status", cluster_status),
    route(
        "GET", "/cluster/resources", resources, schema(type=enum("vm", "storage", "node", "sdn"))
    ),
    route("GET", "/cluster/nextid", nextid, schema(vmid=OPT_VMID)),
    route("GET", "/cluster/tasks", cluster_tasks),
    route("POST", "/access/ticket", login, LOGIN_SCHEMA),
]
