"""Scheduled backup jobs (`/cluster/backup`, `jobs.cfg`) and the scheduler that runs them.

A job is stored as PVE stores it (`prune-backups` as a property string) and shown as
`GET /cluster/backup` shows it (`prune-backups` as an object, a computed `next-run`). Like
`pvescheduler`, the loop runs a due job once per check, on every reachable node it applies
to, through `backups.request_vzdump` as `root@pam`; a job's state is its last run time.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeport.simulator.calendar_event import parse_calendar_event
from homeport.simulator.errors import PveError, param_error
from homeport.simulator.pve.backups import keep_object, request_vzdump

if TYPE_CHECKING:
    from homeport.simulator.pve.world import World

SCHEDULE_KEYS = (
    "id",
    "type",
    "schedule",
    "enabled",
    "comment",
    "repeat-missed",
    "next-run",
    "starttime",
    "dow",
)
OBJECT_KEYS = ("prune-backups", "fleecing", "performance")


@dataclass
class BackupJob:
    id: str
    props: dict[str, Any]
    last_run: float

    def next_run(self) -> float | None:
        if not self.props.get("enabled", 1):
            return None
        return parse_calendar_event(str(self.props["schedule"])).next_after(self.last_run)


@dataclass
class BackupJobs:
    jobs: dict[str, BackupJob] = field(default_factory=dict)
    wake: asyncio.Event | None = None

    def view(self, job: BackupJob) -> dict[str, Any]:
        view: dict[str, Any] = {"id": job.id, "type": "vzdump"}
        for key, value in job.props.items():
            view[key] = _object(value) if key in OBJECT_KEYS else value
        next_run = job.next_run()
        if next_run is not None:
            view["next-run"] = int(next_run)
        return view

    def get(self, job_id: str) -> BackupJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise PveError(f"Job '{job_id}' does not exist")
        return job

    def create(self, world: World, params: dict[str, Any]) -> None:
        params = dict(params)
        job_id = str(params.pop("id", "") or f"backup-{_short_uuid(world)}")
        if job_id in self.jobs:
            raise PveError(f"Job '{job_id}' already exists")
        _convert_legacy(params)
        if "schedule" not in params:
            raise param_error("schedule", "property is missing and it is not optional")
        select_guests_check(params)
        params.setdefault("enabled", 1)
        self.jobs[job_id] = BackupJob(job_id, params, world.clock.now())
        self.kick()
        world.changed()

    def update(self, world: World, job_id: str, params: dict[str, Any]) -> None:
        job = self.get(job_id)
        params = dict(params)
        deletes = [k for k in str(params.pop("delete", "")).split(",") if k]
        _convert_legacy(params)
        props = {k: v for k, v in job.props.items() if k not in deletes}
        props.update(params)
        select_guests_check(props)
        if "schedule" not in props:
            raise param_error("schedule", "property is missing and it is not optional")
        job.props = props
        self.kick()
        world.changed()

    def remove(self, world: World, job_id: str) -> None:
        self.get(job_id)
        del self.jobs[job_id]
        world.changed()

    def purge_vmid(self, vmid: int) -> None:
        for job in self.jobs.values():
            listed = [v for v in str(job.props.get("vmid", "")).split(",") if v]
            if str(vmid) in listed:
                listed.remove(str(vmid))
                job.props["vmid"] = ",".join(listed)
                if not listed:
                    job.props.pop("vmid")

    def kick(self) -> None:
        if self.wake is not None:
            self.wake.set()

    async def run(self, world: World) -> None:
        """The scheduler loop (one per simulator)."""
        self.wake = asyncio.Event()
        while True:
            due = [j.next_run() for j in self.jobs.values()]
            upcoming = min((t for t in due if t is not None), default=None)
            self.wake.clear()
            timeout = 3600.0 if upcoming is None else max(0.0, upcoming - world.clock.now())
            if timeout > 0:
                await world.clock.wait(self.wake.wait(), timeout)
            self._run_due(world)

    def _run_due(self, world: World) -> None:
        now = world.clock.now()
        for job in list(self.jobs.values()):
            next_run = job.next_run()
            if next_run is None or next_run > now:
                continue
            job.last_run = now
            world.changed()
            for node in world.nodes.values():
                if node.reachable and job.props.get("node", node.name) == node.name:
                    _start_job(world, job, node.name)


def _start_job(world: World, job: BackupJob, node: str) -> None:
    params = {k: v for k, v in job.props.items() if k not in SCHEDULE_KEYS and k != "node"}
    params["job-id"] = job.id
    try:
        request_vzdump(world, node, params, "root@pam")
    except PveError as err:
        world.internal_errors.append(f"backup job {job.id} on {node}: {err.message}")


def select_guests_check(params: dict[str, Any]) -> None:
    if params.get("all") and params.get("vmid"):
        raise param_error("all", "option conflicts with option 'vmid'")
    if not (params.get("all") or params.get("exclude") or params.get("pool")) and not params.get(
        "vmid"
    ):
        raise param_error("vmid", "property is missing and it is not optional")


def _convert_legacy(params: dict[str, Any]) -> None:
    starttime = params.pop("starttime", None)
    dow = params.pop("dow", None)
    if starttime is not None and "schedule" not in params:
        days = str(dow or "mon,tue,wed,thu,fri,sat,sun")
        params["schedule"] = (
            starttime if days == "mon,tue,wed,thu,fri,sat,sun" else f"{days} {starttime}"
        )


def _object(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if "=" in value and "keep-" in value:
        return keep_object(value)
    return dict(item.split("=", 1) for item in value.split(",") if "=" in item)


def _short_uuid(world: World) -> str:
    text = str(uuid.UUID(int=world.rng.getrandbits(128), version=4))
    return f"{text[:8]}-{text[9:13]}"
