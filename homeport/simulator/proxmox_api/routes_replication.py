"""Replication jobs (`/cluster/replication`) and their node-local status (`/nodes/{node}/replication`).

A job's status lives on the node its guest runs on; asking another node is
`no such replication job`. Behaviour: `pve.replication`.
"""

from __future__ import annotations

from typing import Any

from homeport.simulator.errors import PveError
from homeport.simulator.proxmox_api.router import Call, Result, Route, route
from homeport.simulator.pve.replication import ReplicationJob
from homeport.simulator.schema import BOOLEAN, NODE, OPT_VMID, Param, enum, fmt, schema

JOB_ID = Param(pattern=r"[1-9][0-9]{2,8}-\d{1,9}", optional=False)
JOB_PARAMS: dict[str, Param] = {
    "comment": Param(max_length=4096),
    "disable": BOOLEAN,
    "rate": Param("number", minimum=1),
    "remove_job": enum("local", "full"),
    "schedule": Param(format="pve-calendar-event", max_length=128),
    "source": fmt("pve-node"),
}


def _local_job(call: Call) -> ReplicationJob:
    replication = call.world.replication
    job = replication.get(str(call.params["id"]))
    if replication.source_of(call.world, job) != call.node:
        raise PveError(f"no such replication job '{job.id}'")
    return job


async def list_jobs(call: Call) -> Any:
    jobs = sorted(call.world.replication.jobs.values(), key=lambda j: j.id)
    return [j.config_view() for j in jobs]


async def create_job(call: Call) -> Any:
    call.world.replication.create(call.world, call.params)


async def get_job(call: Call) -> Any:
    return call.world.replication.get(str(call.params["id"])).config_view()


async def update_job(call: Call) -> Any:
    call.world.replication.update(call.world, str(call.params["id"]), call.params)


async def delete_job(call: Call) -> Any:
    call.world.replication.mark_removal(
        call.world,
        str(call.params["id"]),
        keep=bool(call.params.get("keep")),
        force=bool(call.params.get("force")),
    )


async def node_jobs(call: Call) -> Any:
    world = call.world
    guest = call.params.get("guest")
    jobs = [
        j
        for j in world.replication.jobs.values()
        if world.replication.source_of(world, j) == call.node and guest in (None, j.guest)
    ]
    return [world.replication.status_view(world, j) for j in sorted(jobs, key=lambda j: j.id)]


async def job_status(call: Call) -> Any:
    return call.world.replication.status_view(call.world, _local_job(call))


async def job_log(call: Call) -> Any:
    lines = [{"n": n, "t": t} for n, t in enumerate(_local_job(call).state.log, start=1)]
    start = int(call.params.get("start", 0))
    limit = int(call.params.get("limit", 50))
    return Result(lines[start : start + limit], {"total": len(lines)})


async def schedule_now(call: Call) -> Any:
    job = _local_job(call)
    call.world.replication.schedule_now(call.world, job.id)


NODE_JOB = {"node": NODE, "id": JOB_ID}

ROUTES: list[Route] = [
    route("GET", "/cluster/replication", list_jobs),
    route(
        "POST",
        "/cluster/replication",
        create_job,
        schema({**JOB_PARAMS, "id": JOB_ID, "type": enum("local").required, "target": NODE}),
    ),
    route("GET", "/cluster/replication/{id}", get_job, schema(id=JOB_ID)),
    route(
        "PUT",
        "/cluster/replication/{id}",
        update_job,
        schema(
            {
                **JOB_PARAMS,
                "id": JOB_ID,
                "delete": Param(format="pve-configid-list", max_length=4096),
                "digest": Param(max_length=64),
            }
        ),
    ),
    route(
        "DELETE",
        "/cluster/replication/{id}",
        delete_job,
        schema(id=JOB_ID, keep=BOOLEAN, force=BOOLEAN),
    ),
    route("GET", "/nodes/{node}/replication", node_jobs, schema(node=NODE, guest=OPT_VMID)),
    route("GET", "/nodes/{node}/replication/{id}", job_status, schema(NODE_JOB)),
    route("GET", "/nodes/{node}/replication/{id}/status", job_status, schema(NODE_JOB)),
    route(
        "GET",
        "/nodes/{node}/replication/{id}/log",
        job_log,
        schema(
            {**NODE_JOB, "start": Param("integer", minimum=0), "limit": Param("integer", minimum=0)}
        ),
    ),
    route("POST", "/nodes/{node}/replication/{id}/schedule_now", schedule_now, schema(NODE_JOB)),
]
