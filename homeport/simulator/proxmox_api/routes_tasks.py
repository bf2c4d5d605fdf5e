"""`/nodes/{node}/tasks...`: task list, status, log (with `total`) and stop.

A task is found only on the node in its UPID (`no such task` elsewhere); the optional chaos
mode in `faults` hides brand-new tasks for a moment, as a real node sometimes does.
"""

from __future__ import annotations

from typing import Any

from homeport.simulator.errors import param_error
from homeport.simulator.proxmox_api.router import Call, Result, Route, route
from homeport.simulator.pve.tasks import Task
from homeport.simulator.schema import BOOLEAN, INTEGER, NODE, OPT_VMID, STRING, Param, enum, schema
from homeport.simulator.upid import parse_upid

TASK = {"node": NODE, "upid": STRING.required}


def _task(call: Call) -> Task:
    text = str(call.params["upid"])
    if parse_upid(text) is None:
        raise param_error("upid", "unable to parse worker upid")
    task = call.world.tasks.get(text)
    if task is None or task.upid.node != call.node or _hidden(call, task):
        raise param_error("upid", "no such task")
    return task


def _hidden(call: Call, task: Task) -> bool:
    window = call.api.faults.no_such_task_window
    return window > 0 and call.world.clock.now() - task.created < window


async def list_tasks(call: Call) -> Any:
    params = call.params
    source = params.get("source", "archive")
    tasks = [t for t in call.world.tasks.tasks.values() if t.upid.node == call.node]
    if source == "archive":
        tasks = [t for t in tasks if t.status == "stopped"]
    elif source == "active":
        tasks = [t for t in tasks if t.status == "running"]
    tasks = [t for t in tasks if _matches(t, params)]
    tasks.sort(key=lambda t: (t.upid.starttime, t.upid.pid), reverse=True)
    start = int(params.get("start", 0))
    limit = int(params.get("limit", 50))
    return [t.list_view() for t in tasks[start : start + limit]]


def _matches(task: Task, params: dict[str, Any]) -> bool:
    if "vmid" in params and task.upid.id != str(params["vmid"]):
        return False
    if params.get("typefilter") and task.upid.type != params["typefilter"]:
        return False
    if params.get("userfilter") and params["userfilter"] not in task.upid.user:
        return False
    if params.get("errors") and (task.status == "running" or task.ok):
        return False
    if "since" in params and task.upid.starttime < int(params["since"]):
        return False
    if "until" in params and task.upid.starttime > int(params["until"]):
        return False
    wanted = [s for s in str(params.get("statusfilter", "")).split(",") if s]
    return not wanted or _status_class(task) in wanted


def _status_class(task: Task) -> str:
    if task.status == "running":
        return "running"
    if task.exitstatus == "OK":
        return "ok"
    if (task.exitstatus or "").startswith("WARNINGS"):
        return "warning"
    return "unknown" if task.exitstatus == "unexpected status" else "error"


async def task_index(call: Call) -> Any:
    _task(call)
    return [{"name": "log"}, {"name": "status"}]


async def task_status(call: Call) -> Any:
    return _task(call).status_view()


async def task_log(call: Call) -> Any:
    task = _task(call)
    lines = [{"n": n, "t": t} for n, t in enumerate(task.lines, start=1)]
    if not lines and task.status == "stopped":
        lines = [{"n": 1, "t": "no content"}]
    start = int(call.params.get("start", 0))
    limit = int(call.params.get("limit", 50))
    return Result(lines[start : start + limit], {"total": len(lines)})


async def stop_task(call: Call) -> Any:
    task = _task(call)
    call.world.tasks.interrupt(task.text)


ROUTES: list[Route] = [
    route(
        "GET",
        "/nodes/{node}/tasks",
        list_tasks,
        schema(
            node=NODE,
            errors=BOOLEAN,
            limit=Param("integer", minimum=0),
            start=Param("integer", minimum=0),
            source=enum("archive", "active", "all"),
            typefilter=STRING,
            userfilter=STRING,
            vmid=OPT_VMID,
            since=INTEGER,
            until=INTEGER,
            statusfilter=STRING,
        ),
    ),
    route("GET", "/nodes/{node}/tasks/{upid}", task_index, schema(TASK)),
    route("GET", "/nodes/{node}/tasks/{upid}/status", task_status, schema(TASK)),
    route(
        "GET",
        "/nodes/{node}/tasks/{upid}/log",
        task_log,
        schema(
            {
                **TASK,
                "start": Param("integer", minimum=0),
                "limit": Param("integer", minimum=0),
                "download": BOOLEAN,
            }
        ),
    ),
    route("DELETE", "/nodes/{node}/tasks/{upid}", stop_task, schema(TASK)),
]
