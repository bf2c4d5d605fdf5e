"""`/nodes/{node}/qemu/{vmid}/agent/...`: guest-agent commands answered by `pve.agent`.

`network-get-interfaces`, `get-osinfo`, `get-host-name` (GET), `ping` (POST), `exec`
(POST; `command` repeated as an array), `exec-status` (GET `pid`) and `file-write` (POST).
"""

from __future__ import annotations

from typing import Any

from homeport.simulator.proxmox_api.router import Call, Route, route
from homeport.simulator.pve import agent
from homeport.simulator.schema import ARRAY, BOOLEAN, NODE, STRING, VMID, Param, schema

VM = {"node": NODE, "vmid": VMID}
BASE = "/nodes/{node}/qemu/{vmid}/agent"


async def network_get_interfaces(call: Call) -> Any:
    return await agent.network_interfaces(call.world, call.node, call.vmid)


def _simple(command: str) -> Any:
    async def handler(call: Call) -> Any:
        return await agent.simple(call.world, call.node, call.vmid, command)

    return handler


async def exec_command(call: Call) -> Any:
    command = [str(c) for c in call.params["command"]]
    return await agent.start_exec(
        call.world, call.node, call.vmid, command, call.params.get("input-data")
    )


async def exec_status(call: Call) -> Any:
    return await agent.exec_status(call.world, call.node, call.vmid, int(call.params["pid"]))


async def file_write(call: Call) -> Any:
    encode = bool(call.params.get("encode", 1))
    await agent.file_write(
        call.world,
        call.node,
        call.vmid,
        str(call.params["file"]),
        str(call.params["content"]),
        encode,
    )


ROUTES: list[Route] = [
    route("GET", f"{BASE}/network-get-interfaces", network_get_interfaces, schema(VM)),
    route("GET", f"{BASE}/get-osinfo", _simple("get-osinfo"), schema(VM)),
    route("GET", f"{BASE}/get-host-name", _simple("get-host-name"), schema(VM)),
    route("POST", f"{BASE}/ping", _simple("ping"), schema(VM)),
    route(
        "POST",
        f"{BASE}/exec",
        exec_command,
        schema({**VM, "command": ARRAY.required, "input-data": Param(max_length=65536)}),
    ),
    route(
        "GET",
        f"{BASE}/exec-status",
        exec_status,
        schema({**VM, "pid": Param("integer", optional=False)}),
    ),
    route(
        "POST",
        f"{BASE}/file-write",
        file_write,
        schema(
            {
                **VM,
                "file": STRING.required,
                "content": Param(max_length=61440, optional=False),
                "encode": BOOLEAN,
            }
        ),
    ),
]
