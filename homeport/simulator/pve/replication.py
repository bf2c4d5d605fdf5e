"""Storage replication (`pvesr`): jobs in `replication.cfg` and their per-node state.

Jobs run on the node their guest lives on, when `next_sync` comes due: the schedule's next
event after `last_sync` (a never-synced job is due at once), or after a failure
`last_try + 60 * (5 * fail_count, at most 30)` minutes. A sync fails if the target node is
unreachable or `faults` stalls the job; success moves `last_sync` to the sync's start time.
`migrate` turns a job around after migrating to its target (`switch_direction`).

Which volumes replicate is `replicated_volids` (qemu-server's `get_replicatable_volumes`):
every local volume the guest owns, except CD-ROMs, cloud-init drives and drives with
`replicate=0`; each must be on a storage with the `replicate` feature (ZFS), or creating the
job (and any sync) fails with `missing replicate feature on volume '<volid>'`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeport.simulator.calendar_event import parse_calendar_event
from homeport.simulator.errors import PveError
from homeport.simulator.propstring import parse_propstring
from homeport.simulator.pve import qemu_config as qc

if TYPE_CHECKING:
    from homeport.simulator.pve.vms import Vm
    from homeport.simulator.pve.world import World

DEFAULT_SCHEDULE = "*/15"
CONFIG_KEYS = ("schedule", "rate", "comment", "disable", "source", "remove_job")
_FALSE = ("0", "no", "off", "false")
_OWNER_RE = re.compile(r"^(?:vm|base)-(\d+)-")


def replicated_volids(world: World, vm: Vm, *, noerr: bool = False) -> list[str]:
    """The volumes storage replication copies for `vm`, in config order (sorted keys).

    As qemu-server's `get_replicatable_volumes`: CD-ROMs and cloud-init drives are not
    replicated, nor drives with `replicate=0`, volumes on shared storage or owned by another
    guest; `unusedN` volumes are. A replicated volume on a storage without the `replicate`
    feature (anything but ZFS) raises `missing replicate feature on volume '<volid>'`
    (`noerr`: is left out).
    """
    volids: list[str] = []
    for key in sorted(vm.conf):
        value = str(vm.conf[key])
        if qc.is_unused_key(key):
            volid = value
        elif qc.is_drive_key(key):
            options = parse_propstring(value, "file")
            if options.get("media") == "cdrom" or qc.is_cloudinit_drive(value):
                continue
            if str(options.get("replicate", "1")).lower() in _FALSE:
                continue
            volid = str(options.get("file", ""))
        else:
            continue
        storage_id, sep, name = volid.partition(":")
        if not sep or volid in volids:
            continue
        storage = world.storages.get(storage_id)
        if storage is None:
            if noerr:
                continue
            raise PveError(f"storage '{storage_id}' does not exist")
        owner = _OWNER_RE.match(name.split("/")[-1])
        if storage.shared or owner is None or int(owner.group(1)) != vm.vmid:
            continue
        if not storage.can_replicate:
            if noerr:
                continue
            raise PveError(f"missing replicate feature on volume '{volid}'")
        volids.append(volid)
    return volids


@dataclass
class ReplicationState:
    last_sync: int = 0
    last_try: int = 0
    fail_count: int = 0
    error: str | None = None
    duration: float = 0.0
    pid: int | None = None
    log: list[str] = field(default_factory=list)
    run_now: bool = False
    remove_at: float = 0.0


@dataclass
class ReplicationJob:
    id: str
    guest: int
    jobnum: int
    target: str
    props: dict[str, Any] = field(default_factory=dict)
    state: ReplicationState = field(default_factory=ReplicationState)

    @property
    def schedule(self) -> str:
        return str(self.props.get("schedule") or DEFAULT_SCHEDULE)

    def next_sync(self) -> float:
        state = self.state
        if self.props.get("remove_job"):
            return state.remove_at
        if state.run_now:
            return 0
        if state.fail_count:
            minutes = 5 * state.fail_count if state.fail_count <= 3 else 30
            return state.last_try + 60 * minutes
        return parse_calendar_event(self.schedule).next_after(state.last_sync) or 0

    def config_view(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": self.id,
            "type": "local",
            "guest": self.guest,
            "jobnum": self.jobnum,
            "target": self.target,
        }
        view.update(self.props)
        return view


@dataclass
class ReplicationJobs:
    jobs: dict[str, ReplicationJob] = field(default_factory=dict)
    wake: asyncio.Event | None = None

    def jobs_of(self, vmid: int) -> list[ReplicationJob]:
        return [j for j in self.jobs.values() if j.guest == vmid]

    def get(self, job_id: str) -> ReplicationJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise PveError(f"no such replication job '{job_id}'")
        return job

    def create(self, world: World, params: dict[str, Any]) -> None:
        job_id = str(params["id"])
        guest_text, _, num = job_id.partition("-")
        guest = int(guest_text)
        if job_id in self.jobs:
            raise PveError(f"replication job '{job_id}' already exists")
        vm = world.vms.get(guest)
        if vm is None:
            raise PveError(f"guest '{guest}' does not exist")
        target = str(params["target"])
        if target not in world.nodes:
            raise PveError(f"no such cluster node '{target}'")
        if target == vm.node:
            raise PveError(f"unable to replicate to local node '{target}'")
        if any(j.target == target for j in self.jobs_of(guest)):
            raise PveError(
                f"replication job for guest '{guest}' to target '{target}' already exists"
            )
        replicated_volids(world, vm)  # every volume must have the replicate feature
        props = {k: params[k] for k in CONFIG_KEYS if k in params}
        props.setdefault("source", vm.node)
        self.jobs[job_id] = ReplicationJob(job_id, guest, int(num), target, props)
        self.kick()
        world.changed()

    def update(self, world: World, job_id: str, params: dict[str, Any]) -> None:
        job = self.get(job_id)
        for key in [k for k in str(params.get("delete", "")).split(",") if k]:
            job.props.pop(key, None)
        job.props.update({k: params[k] for k in CONFIG_KEYS if k in params})
        self.kick()
        world.changed()

    def mark_removal(self, world: World, job_id: str, *, keep: bool, force: bool) -> None:
        job = self.get(job_id)
        if force:
            del self.jobs[job_id]
        else:
            job.props["remove_job"] = "local" if keep else "full"
            # pvesr acts on removals in its next run (pvescheduler starts it every minute).
            job.state.remove_at = world.clock.now() + 60
            self.kick()
        world.changed()

    def purge_vmid(self, vmid: int) -> None:
        for job in self.jobs_of(vmid):
            del self.jobs[job.id]

    def switch_direction(self, vmid: int, source: str, target: str) -> None:
        for job in self.jobs_of(vmid):
            if job.target == target:
                job.target = source
                job.props["source"] = target

    def source_of(self, world: World, job: ReplicationJob) -> str | None:
        vm = world.vms.get(job.guest)
        return vm.node if vm is not None else None

    def status_view(self, world: World, job: ReplicationJob) -> dict[str, Any]:
        view = job.config_view()
        view.setdefault("schedule", DEFAULT_SCHEDULE)
        view["source"] = self.source_of(world, job) or view.get("source")
        view["vmtype"] = "qemu"
        state = job.state
        view.update(
            last_sync=state.last_sync,
            last_try=state.last_try,
            next_sync=int(job.next_sync()),
            duration=round(state.duration, 6),
            fail_count=state.fail_count,
        )
        if state.error:
            view["error"] = state.error
        if state.pid is not None:
            view["pid"] = state.pid
        return view

    def schedule_now(self, world: World, job_id: str) -> None:
        self.get(job_id).state.run_now = True
        self.kick()
        world.changed()

    def kick(self) -> None:
        if self.wake is not None:
            self.wake.set()

    async def run(self, world: World) -> None:
        """pvesr's scheduler loop (one per simulator; syncs run concurrently)."""
        self.wake = asyncio.Event()
        running: set[str] = set()
        while True:
            self.wake.clear()
            now = world.clock.now()
            for job in list(self.jobs.values()):
                if job.id not in running and self._due(world, job, now):
                    running.add(job.id)
                    world.background(self._sync_and_release(world, job, running), f"pvesr {job.id}")
            wakes = [
                self._next_wake(world, j, now) for j in self.jobs.values() if j.id not in running
            ]
            upcoming = min((w for w in wakes if w is not None), default=now + 3600)
            await world.clock.wait(self.wake.wait(), max(1.0, upcoming - now))

    def _next_wake(self, world: World, job: ReplicationJob, now: float) -> float | None:
        if job.props.get("disable") and not job.props.get("remove_job"):
            return None
        source = self.source_of(world, job)
        if source is None or not world.nodes[source].reachable:
            return now + 60  # pvescheduler looks again next minute
        return job.next_sync()

    def _due(self, world: World, job: ReplicationJob, now: float) -> bool:
        source = self.source_of(world, job)
        if source is None or not world.nodes[source].reachable:
            return False
        if job.props.get("remove_job"):
            return job.next_sync() <= now
        return not job.props.get("disable") and job.next_sync() <= now

    async def _sync_and_release(self, world: World, job: ReplicationJob, running: set[str]) -> None:
        try:
            if job.props.get("remove_job"):
                self.jobs.pop(job.id, None)
                world.changed()
                return
            await self._sync(world, job)
        finally:
            running.discard(job.id)
            self.kick()

    async def _sync(self, world: World, job: ReplicationJob) -> None:
        state = job.state
        source = self.source_of(world, job) or ""
        start = world.clock.now()
        state.run_now = False
        state.pid = world.nodes[source].next_pid(world.rng)
        state.log = [f"{_stamp(start)} {job.id}: start replication job"]
        state.log.append(f"{_stamp(start)} {job.id}: guest => VM {job.guest}, running => 0")
        world.changed()
        duration = world.timings.replication * (3 if not state.last_sync else 1)
        await world.clock.sleep(duration)
        state.pid = None
        if not world.nodes[source].reachable:
            return  # the node died (or lost the cluster) mid-sync: nothing gets recorded
        error = self._failure(world, job)
        now = world.clock.now()
        state.last_try = int(start)
        state.duration = now - start
        if error is None:
            state.last_sync, state.fail_count, state.error = int(start), 0, None
            state.log.append(f"{_stamp(now)} {job.id}: end replication job")
        else:
            state.fail_count += 1
            state.error = error
            state.log.append(f"{_stamp(now)} {job.id}: end replication job with error: {error}")
        world.changed()

    def _failure(self, world: World, job: ReplicationJob) -> str | None:
        stalled = world.faults.replication_error(job.id)
        if stalled is not None:
            return stalled
        vm = world.vms.get(job.guest)
        try:
            volids = replicated_volids(world, vm) if vm is not None else []
        except PveError as err:
            return str(err)
        target = world.nodes.get(job.target)
        if target is None or not target.reachable:
            ip = target.ip if target else job.target
            storages = ",".join(sorted({v.split(":", 1)[0] for v in volids}))
            scan = [f"--scan {storages}"] if storages else []
            args = " ".join([job.id, *scan, *volids, f"--last_sync {job.state.last_sync}"])
            return (
                f"command '/usr/bin/ssh -e none -o 'BatchMode=yes' -o 'HostKeyAlias={job.target}' "
                f"root@{ip} -- pvesr prepare-local-job {args}' failed: exit code 255"
            )
        return None


def _stamp(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
