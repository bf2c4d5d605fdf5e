"""PCI passthrough endpoints: a node's devices (`/nodes/{node}/hardware/pci`) and the
cluster's PCI resource mappings (`/cluster/mapping/pci`, PVE 8+). Behaviour in `pve.pci`."""

from __future__ import annotations

from typing import Any

from homeport.simulator.proxmox_api.router import Call, Route, route
from homeport.simulator.pve import pci
from homeport.simulator.schema import ARRAY, BOOLEAN, NODE, Param, fmt, schema

MAPPING_ID = fmt("pve-configid").required


async def hardware(call: Call) -> Any:
    node = str(call.params["node"])
    call.world.node_or_error(node)
    return pci.hardware(call.world, node)


async def list_mappings(call: Call) -> Any:
    return pci.mapping_list(call.world)


async def get_mapping(call: Call) -> Any:
    return pci.mapping_get(call.world, str(call.params["id"]))


async def create_mapping(call: Call) -> Any:
    pci.mapping_create(call.world, call.params)


async def delete_mapping(call: Call) -> Any:
    pci.mapping_delete(call.world, str(call.params["id"]))


ROUTES: list[Route] = [
    route(
        "GET",
        "/nodes/{node}/hardware/pci",
        hardware,
        schema(node=NODE, verbose=BOOLEAN, **{"pci-class-blacklist": Param()}),
    ),
    route("GET", "/cluster/mapping/pci", list_mappings, schema(**{"check-node": fmt("pve-node")})),
    route(
        "POST",
        "/cluster/mapping/pci",
        create_mapping,
        schema(
            id=MAPPING_ID,
            map=ARRAY,
            description=Param(max_length=4096),
            mdev=BOOLEAN,
            **{"live-migration-capable": BOOLEAN},
        ),
    ),
    route("GET", "/cluster/mapping/pci/{id}", get_mapping, schema(id=MAPPING_ID)),
    route("DELETE", "/cluster/mapping/pci/{id}", delete_mapping, schema(id=MAPPING_ID)),
]
