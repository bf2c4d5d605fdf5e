"""The StandbyPair reconciler: observe and plan wired for the engine, and ``act``, one I/O
handler per action type (``HANDLERS``), which performs each step and moves the pair's
durable phase on, recording the failover's timeline (``homeport describe standbypair``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from homeport.clients.errors import ClientError, ProxmoxError
from homeport.clients.secret import Secret
from homeport.kinds import App, StandbyPair
from homeport.reconcilers.appfiles import ENV_DIR, render_env_for
from homeport.reconcilers.apphealth import check_health
from homeport.reconcilers.base import (
    Action,
    BackgroundEnv,
    Plan,
    ReconcileContext,
    Reconciler,
    own_desired,
)
from homeport.reconcilers.errors import TemporaryError
from homeport.reconcilers.freshlook import CADDY_ROUTES
from homeport.reconcilers.ownership import marker
from homeport.reconcilers.slots import PAIR_MEMORY, PAIR_REQUEST
from homeport.reconcilers.standbypair import finalsync_act, replfence, selffence_act
from homeport.reconcilers.standbypair.actions import (
    ClearRequest,
    CutIngress,
    EnterPhase,
    Establish,
    FencePrimary,
    FinalSync,
    FinishFailover,
    FinishRebuild,
    Promote,
    Reroute,
    Resync,
    RouteTarget,
    SetUpReplication,
    StartFailover,
    StopStaleApp,
)
from homeport.reconcilers.standbypair.finalsync import AnswerFinalSync, EstateFinalSync
from homeport.reconcilers.standbypair.hungstandby import ResetStandby
from homeport.reconcilers.standbypair.inflight import DRAINED_STEP, in_flight_wait
from homeport.reconcilers.standbypair.observe import (
    JOBS,
    load_memory,
    observe_pair,
    save_memory,
    storage_jobs,
)
from homeport.reconcilers.standbypair.plan import PairObserved, plan_pair
from homeport.reconcilers.standbypair.replfence import RemovedPair, removed_channel
from homeport.reconcilers.standbypair.replkeys import FenceReplication, RemoveReplication
from homeport.reconcilers.standbypair.runtime import PairRuntime, ProbeObserver
from homeport.reconcilers.standbypair.selffence import InstallSelfFence, RemoveSelfFence
from homeport.reconcilers.standbypair.state import (
    CHANNEL,
    Failover,
    PairState,
    Quarantine,
    Step,
)
from homeport.reconcilers.standbypair.stopfailure import stop_failure
from homeport.reconcilers.standbypair.storagerepl import (
    CreateStorageJob,
    RemoveStorageJob,
    StorageView,
    UpdateStorageJob,
)
from homeport.reconcilers.standbypair.transitions import with_table

log = logging.getLogger(__name__)
Handler = Callable[[Any, Any, ReconcileContext], Awaitable[None]]
"""``(reconciler, action, ctx)``: performs one action type (``HANDLERS``)."""
FENCE_TIMEOUT = 30.0

__all__ = [
    "PairObserved",
    "ProbeObserver",
    "StandbyPairReconciler",
    "plan_pair",
    "with_table",
]


class StandbyPairReconciler(
    Reconciler[StandbyPair, PairObserved | StorageView | RemovedPair | None]
):
    kind: ClassVar[str] = "StandbyPair"
    uses = frozenset({"proxmox", "ssh", "systemd", "caddy", "prober"})
    # Never wait for the primary to be Ready: that is exactly when a pair must act.
    gated_by: ClassVar[frozenset[str] | None] = frozenset()

    def __init__(
        self, *, secrets_dir: Path, ssh_port: int, on_probe: ProbeObserver | None = None
    ) -> None:
        self.secrets_dir = secrets_dir
        self.ssh_port = ssh_port
        self.runtime = PairRuntime(ssh_port, on_probe=on_probe)

    async def background(self, env: BackgroundEnv) -> None:
        await self.runtime.run(env)

    async def observe(
        self, desired: StandbyPair | None, name: str, ctx: ReconcileContext
    ) -> PairObserved | StorageView | RemovedPair | None:
        if desired is None:
            # A removed pair takes its own storage replication job and channel with it.
            comment = marker("StandbyPair", name)
            jobs = await storage_jobs(ctx)
            storage = StorageView(tuple(j for j in jobs if j.comment == comment))
            channel = removed_channel(name, ctx)
            return storage if channel is None else RemovedPair(storage, channel)
        return await observe_pair(desired, ctx, self.runtime.views(), self.ssh_port)

    def plan(
        self,
        desired: StandbyPair | None,
        observed: PairObserved | StorageView | RemovedPair | None,
        *,
        now: datetime,
    ) -> Plan:
        if desired is None or not isinstance(observed, PairObserved):
            channel = observed.channel if isinstance(observed, RemovedPair) else None
            if isinstance(observed, RemovedPair):
                observed = observed.storage
            leftover = observed.jobs if isinstance(observed, StorageView) else ()
            return Plan(
                actions=tuple(
                    RemoveStorageJob(j.id, "the pair was removed")
                    for j in leftover
                    if not j.removing
                )
                + ((channel,) if channel else ()),
                reason="pair removed from git; its Apps and routes are left as they are",
                gone=True,
            )
        return plan_pair(desired, observed, now=now)

    # -- acting ----------------------------------------------------------------------
    async def act(self, action: Action, ctx: ReconcileContext) -> None:
        """One I/O handler per action type (``HANDLERS``); each stores what it changed."""
        handler = self.HANDLERS.get(type(action))
        if handler is None:
            raise TypeError(f"the StandbyPair reconciler cannot perform {action!r}")
        await handler(self, action, ctx)

    def _memory(self, ctx: ReconcileContext) -> PairState:
        return load_memory(own_desired(ctx, StandbyPair), ctx)

    async def _on_remove_replication(
        self, action: RemoveReplication, ctx: ReconcileContext
    ) -> None:
        """The pair is gone from git: its channel and guards go with it."""
        await replfence.remove(ctx.clients.ssh, action)
        left = PairState.load(PAIR_MEMORY.recall(ctx), primary="", standby="")
        save_memory(replace(left, replication_keys=(), self_fence_on=()), ctx)

    async def _on_start(self, action: StartFailover, ctx: ReconcileContext) -> None:
        self._start(action, self._memory(ctx), ctx)

    async def _on_enter_phase(self, action: EnterPhase, ctx: ReconcileContext) -> None:
        memory = replace(self._memory(ctx), phase=action.phase)
        save_memory(memory, ctx)
        if memory.failover is not None:
            ctx.record_failover(action.epoch, {"phase": action.phase.value})

    async def _on_cut(self, action: CutIngress, ctx: ReconcileContext) -> None:
        memory = self._memory(ctx)
        await self._routes(action.routes, ctx)
        self._step(memory, ctx, "IngressCut", action.describe())

    async def _on_fence(self, action: FencePrimary, ctx: ReconcileContext) -> None:
        pair = own_desired(ctx, StandbyPair)
        detail = await self._fence(action, load_memory(pair, ctx), ctx)
        memory = load_memory(pair, ctx)
        detail += await self._wait_out_lease(action, memory, pair, ctx)
        self._step(memory, ctx, "Fenced", detail)

    async def _on_final_sync(self, action: FinalSync, ctx: ReconcileContext) -> None:
        memory = self._memory(ctx)
        await self._rsync(action.source_host, action.command, ctx)
        memory = replace(memory, last_sync=ctx.now())
        self._step(memory, ctx, "FinalSync", "data synced after the drain")

    async def _on_estate_final_sync(self, action: EstateFinalSync, ctx: ReconcileContext) -> None:
        save_memory(await finalsync_act.final_sync(action, self._memory(ctx), ctx), ctx)

    async def _on_answer_final_sync(self, action: AnswerFinalSync, ctx: ReconcileContext) -> None:
        save_memory(finalsync_act.answer(action, self._memory(ctx), ctx), ctx)

    async def _on_promote(self, action: Promote, ctx: ReconcileContext) -> None:
        pair = own_desired(ctx, StandbyPair)
        await self._promote(action, load_memory(pair, ctx), pair, ctx)

    async def _on_reroute(self, action: Reroute, ctx: ReconcileContext) -> None:
        memory = await self._wait_out_in_flight(action, self._memory(ctx), ctx)
        await self._routes(action.routes, ctx)
        self._step(memory, ctx, "Rerouted", action.describe())

    async def _on_finish(self, action: FinishFailover, ctx: ReconcileContext) -> None:
        self._finish(action, self._memory(ctx), ctx)

    async def _on_reset_standby(self, action: ResetStandby, ctx: ReconcileContext) -> None:
        await self._reset_standby(action, self._memory(ctx), ctx)

    async def _on_stop_stale(self, action: StopStaleApp, ctx: ReconcileContext) -> None:
        await self._stop_stale(action, self._memory(ctx), ctx)

    async def _on_fence_replication(self, action: FenceReplication, ctx: ReconcileContext) -> None:
        pair = own_desired(ctx, StandbyPair)
        await replfence.fence(ctx.clients.ssh, action.host, action.pair, action.epoch)
        self._step(load_memory(pair, ctx), ctx, "ReplicationFenced", action.describe())

    async def _on_guard(
        self, action: InstallSelfFence | RemoveSelfFence, ctx: ReconcileContext
    ) -> None:
        await self._guard(action, own_desired(ctx, StandbyPair), ctx)

    async def _on_set_up_replication(self, action: SetUpReplication, ctx: ReconcileContext) -> None:
        pair = own_desired(ctx, StandbyPair)
        await replfence.set_up(ctx.clients.ssh, action)
        memory = load_memory(pair, ctx)
        keys = tuple(action.apps)
        save_memory(replace(memory, replication_keys=keys, replication_channel=CHANNEL), ctx)

    async def _on_resync(self, action: Resync, ctx: ReconcileContext) -> None:
        memory = self._memory(ctx)
        await self._rsync(action.source_host, action.command, ctx)
        save_memory(replace(memory, last_sync=ctx.now(), last_sync_error=None), ctx)

    async def _on_finish_rebuild(self, action: FinishRebuild, ctx: ReconcileContext) -> None:
        memory = self._memory(ctx)
        save_memory(replace(memory, phase=action.phase, quarantine=None), ctx)
        ctx.event("StandbyRebuilt", action.describe())

    async def _on_establish(self, action: Establish, ctx: ReconcileContext) -> None:
        save_memory(replace(self._memory(ctx), established=True), ctx)
        ctx.event("Established", action.describe())

    async def _on_storage_job(
        self,
        action: CreateStorageJob | UpdateStorageJob | RemoveStorageJob,
        ctx: ReconcileContext,
    ) -> None:
        own_desired(ctx, StandbyPair)
        await self._storage_job(action, ctx)

    async def _on_clear_request(self, action: ClearRequest, ctx: ReconcileContext) -> None:
        own_desired(ctx, StandbyPair)
        PAIR_REQUEST.clear(ctx)
        if action.why != "done":
            ctx.event("RequestDropped", action.describe(), warning=True)

    HANDLERS: ClassVar[Mapping[type[Action], Handler]] = {
        RemoveReplication: _on_remove_replication,
        StartFailover: _on_start,
        EnterPhase: _on_enter_phase,
        CutIngress: _on_cut,
        FencePrimary: _on_fence,
        FinalSync: _on_final_sync,
        EstateFinalSync: _on_estate_final_sync,
        AnswerFinalSync: _on_answer_final_sync,
        Promote: _on_promote,
        Reroute: _on_reroute,
        FinishFailover: _on_finish,
        ResetStandby: _on_reset_standby,
        StopStaleApp: _on_stop_stale,
        FenceReplication: _on_fence_replication,
        InstallSelfFence: _on_guard,
        RemoveSelfFence: _on_guard,
        SetUpReplication: _on_set_up_replication,
        Resync: _on_resync,
        FinishRebuild: _on_finish_rebuild,
        Establish: _on_establish,
        CreateStorageJob: _on_storage_job,
        UpdateStorageJob: _on_storage_job,
        RemoveStorageJob: _on_storage_job,
        ClearRequest: _on_clear_request,
    }
    """Action type → the one handler that performs it (a new action adds a row here)."""

    async def _storage_job(
        self,
        action: CreateStorageJob | UpdateStorageJob | RemoveStorageJob,
        ctx: ReconcileContext,
    ) -> None:
        px = ctx.clients.proxmox
        if isinstance(action, CreateStorageJob):
            await px.replication.create_job(
                action.job_id,
                target=action.target,
                schedule=action.schedule,
                rate=action.rate,
                comment=action.comment,
            )
        elif isinstance(action, UpdateStorageJob):
            await px.replication.update_job(
                action.job_id,
                schedule=action.schedule,
                rate=action.rate,
                delete=() if action.rate is not None else ("rate",),
            )
        else:
            await px.replication.delete_job(action.job_id)
        ctx.invalidate(JOBS)

    def _start(self, action: StartFailover, memory: PairState, ctx: ReconcileContext) -> None:
        now = ctx.now()
        steps = []
        if action.failed_since:
            steps.append(Step("FailureStarted", action.failed_since, "first failed probe"))
        if action.detected_at:
            steps.append(Step("Detected", action.detected_at, action.reason))
        steps.append(Step(action.phase, now, f"epoch {action.epoch}"))
        record = Failover(
            epoch=action.epoch,
            from_app=action.from_app,
            to_app=action.to_app,
            trigger=action.trigger,
            reason=action.reason,
            started_at=now,
            rpo_seconds=action.rpo_seconds,
            steps=tuple(steps),
        )
        budget = memory.automatic_failovers
        if record.automatic:
            budget = (*budget[-20:], now)
        memory = replace(memory, phase=action.phase, failover=record, automatic_failovers=budget)
        save_memory(memory, ctx)
        ctx.record_failover(
            action.epoch,
            {
                "trigger": action.trigger,
                "from_app": action.from_app,
                "to_app": action.to_app,
                "phase": action.phase.value,
                "started_at": now.isoformat(),
                "timeline": record.timeline(),
                "rpo_seconds": action.rpo_seconds,
                "outcome": "in progress",
            },
        )
        ctx.event("FailoverStarted", action.describe(), warning=action.trigger == "automatic")

    def _step(self, memory: PairState, ctx: ReconcileContext, phase: str, detail: str) -> PairState:
        """Store ``memory`` with one more line on its failover's timeline: the state stored."""
        if memory.failover is None:
            save_memory(memory, ctx)
            return memory
        record = memory.failover.step(phase, ctx.now(), detail)
        memory = replace(memory, failover=record)
        save_memory(memory, ctx)
        ctx.record_failover(
            record.epoch, {"phase": memory.phase.value, "timeline": record.timeline()}
        )
        return memory

    async def _routes(self, routes: tuple[RouteTarget, ...], ctx: ReconcileContext) -> None:
        if not routes:
            return  # a pair nobody routes to fails over without Caddy
        caddy = ctx.clients.caddy
        await caddy.ensure_server()
        for target in routes:
            if not caddy.serves(target.exposure):
                # A tailnet route without a tailnet listener is served nowhere (its
                # ProxyRoute waits for the config): there is nothing to cut or move.
                continue
            route = dict(target.route)
            try:
                await caddy.upsert_route(route, target.exposure)
            finally:
                ctx.invalidate(CADDY_ROUTES)  # the routes' next look sees the reroute
            if not await caddy.verify_route(route):
                raise TemporaryError(
                    f"Caddy does not run route {target.name} as written; retrying", delay=0.2
                )

    async def _fence(self, action: FencePrimary, memory: PairState, ctx: ReconcileContext) -> str:
        if not action.stop_vm:
            if action.host:
                systemd = ctx.clients.systemd
                await systemd.stop(action.host, action.unit)
            return f"{action.unit} stopped on {action.host}"
        if action.node is None or action.vmid is None:
            return self._quarantine(action, memory, ctx, "its VM is unknown")
        px = ctx.clients.proxmox
        try:
            async with asyncio.timeout(FENCE_TIMEOUT):
                task = await px.stop_vm(action.node, action.vmid, timeout=5)
                if task is not None:
                    await px.tasks.wait(task, timeout=FENCE_TIMEOUT)
                status = await px.vm_status(action.node, action.vmid)
            if status.status == "stopped":
                return f"VM {action.vmid} stopped on {action.node} (confirmed)"
            raise TemporaryError(
                f"VM {action.vmid} still {status.status} after stop; fencing again", delay=0.2
            )
        except (ProxmoxError, ClientError, TimeoutError) as exc:
            cluster = None
            with contextlib.suppress(ProxmoxError, ClientError):
                cluster = await px.cluster_status()
            if cluster is not None and cluster.quorate and action.node not in cluster.online_nodes:
                # Fenced for the quorate cluster, but a partitioned node's VM may still run:
                # quarantined too, so on its return it is stopped before anything else.
                why = f"node {action.node} is down according to the quorate cluster"
                self._quarantine(action, memory, ctx, why)
                return (
                    f"{why}; VM {action.vmid} counts as fenced and is stopped first if it returns"
                )
            why = stop_failure(action.node, action.vmid, exc, FENCE_TIMEOUT)
            return self._quarantine(action, memory, ctx, why)

    async def _reset_standby(
        self, action: ResetStandby, memory: PairState, ctx: ReconcileContext
    ) -> None:
        """Stop the hung standby's VM; its VM reconciler starts it again (a reset)."""
        px = ctx.clients.proxmox
        task = await px.stop_vm(action.node, action.vmid, timeout=5)
        if task is not None:
            await px.tasks.wait(task, timeout=FENCE_TIMEOUT)
        save_memory(replace(memory, standby_reset_at=ctx.now()), ctx)
        ctx.event("StandbyReset", action.describe(), warning=True)
        ctx.wake("VM", action.vm)

    async def _stop_stale(
        self, action: StopStaleApp, memory: PairState, ctx: ReconcileContext
    ) -> None:
        """Stop the returned old primary once (the engine's event for the action says so;
        the Warning was given when it was quarantined); its App then redeploys it."""
        systemd = ctx.clients.systemd
        await systemd.stop(action.host, action.unit)
        if action.app in memory.self_fence_on:  # it returns as the standby: unarmed
            await selffence_act.disarm(ctx.clients.ssh, action.host, action.unit)
        quarantine = memory.quarantine or Quarantine(action.app)
        save_memory(replace(memory, quarantine=replace(quarantine, stopped_at=ctx.now())), ctx)
        ctx.wake("App", action.app)

    async def _wait_out_lease(
        self, action: FencePrimary, memory: PairState, pair: StandbyPair, ctx: ReconcileContext
    ) -> str:
        """A quarantined primary with a self-fence guard: promote only once its lease has
        lapsed, so it stops its App the moment it runs again."""
        if not (memory.quarantines(action.app) and action.app in memory.self_fence_on):
            return ""
        lease = pair.spec.lease_seconds()
        renewed = self.runtime.lease_renewed.get(action.app)
        start = await selffence_act.wait_out_lease(renewed, lease, ctx.now())
        return (
            f"; its self-fence lease (renewed {start.isoformat()}, {lease:g}s) has lapsed: "
            f"its guard stops {action.unit} the moment it runs again"
        )

    async def _wait_out_in_flight(
        self, action: Reroute, memory: PairState, ctx: ReconcileContext
    ) -> PairState:
        """Before the new primary serves: let what Caddy forwarded to an old primary that
        was not confirmed stopped end (``inflight.py``). The state as it is then."""
        wait = in_flight_wait(memory, action.in_flight_seconds, ctx.now())
        if wait is None:
            return memory
        if wait.seconds > 0:
            await asyncio.sleep(wait.seconds)
        return self._step(memory, ctx, DRAINED_STEP, wait.detail)

    async def _guard(
        self, action: InstallSelfFence | RemoveSelfFence, pair: StandbyPair, ctx: ReconcileContext
    ) -> None:
        ssh = ctx.clients.ssh
        if isinstance(action, InstallSelfFence):
            await selffence_act.install(ssh, action.host, action.unit)
        else:
            await selffence_act.remove(ssh, action.host, action.unit)
        memory = load_memory(pair, ctx)
        others = tuple(a for a in memory.self_fence_on if a != action.app)
        guarded = others + ((action.app,) if isinstance(action, InstallSelfFence) else ())
        save_memory(replace(memory, self_fence_on=guarded), ctx)
        ctx.event("SelfFence", action.describe())

    def _quarantine(
        self, action: FencePrimary, memory: PairState, ctx: ReconcileContext, why: str
    ) -> str:
        quarantine = Quarantine(action.app, ctx.now(), action.vmid, action.node)
        save_memory(replace(memory, quarantine=quarantine), ctx)
        ctx.event(
            "Quarantined",
            f"{action.app}: {why}; ingress cut, it is stopped first when it returns",
            warning=True,
        )
        return f"{why}: ingress cut and {action.app} quarantined"

    async def _promote(
        self, action: Promote, memory: PairState, pair: StandbyPair, ctx: ReconcileContext
    ) -> None:
        old = memory.failover.from_app if memory.failover else ""
        old = old or memory.primary
        memory = replace(
            memory,
            epoch=max(memory.epoch, action.epoch),
            primary=action.app,
            standby=old if old != action.app else memory.standby,
        )
        save_memory(memory, ctx)  # the new epoch and roles are what the env files render
        # A retried promotion (the App was slower than its startup grace) must not restart
        # the App again; the failover record says which restarts already happened, so a
        # daemon that died between writing the env file and the restart still restarts.
        targets = [(action.app, action.host, action.unit, action.env_path)]
        if action.demote is not None:
            targets.append(action.demote)
        for app, host, unit, env_path in targets:
            if app != action.app and app in memory.self_fence_on:  # demoted: no lease to lapse
                await selffence_act.disarm(ctx.clients.ssh, host, unit)
            record = memory.failover
            restarted = record.restarted if record else ()
            await self._restart_with_env(app, host, unit, env_path, ctx, again=app in restarted)
            if record is not None and app not in restarted:
                memory = replace(memory, failover=replace(record, restarted=(*restarted, app)))
                save_memory(memory, ctx)
        await self._wait_healthy(action, ctx)
        memory = load_memory(pair, ctx)
        self._step(memory, ctx, "Promoted", f"{action.app} serves with epoch {action.epoch}")

    async def _restart_with_env(
        self,
        app_name: str,
        host: str,
        unit: str,
        env_path: str,
        ctx: ReconcileContext,
        *,
        again: bool = False,
    ) -> None:
        app = ctx.desired("App", app_name)
        if not isinstance(app, App):
            raise TemporaryError(f"App {app_name} is not in the adopted revision", delay=1)
        ssh = ctx.clients.ssh
        systemd = ctx.clients.systemd
        content = render_env_for(app, self.secrets_dir, ctx)
        await ssh.run(host, ["install", "-d", "-m", "0700", ENV_DIR])
        changed = await ssh.install_file(
            host, env_path, Secret(content.decode()), mode=0o600, owner="root", group="root"
        )
        if changed or not again or not await systemd.is_active(host, unit):
            await systemd.restart(host, unit)

    async def _wait_healthy(self, action: Promote, ctx: ReconcileContext) -> None:
        prober = ctx.clients.prober
        loop = asyncio.get_running_loop()
        deadline = loop.time() + action.timeout
        while True:
            result = await check_health(prober, action.health, action.host, action.port)
            if result.ok:
                return
            if loop.time() > deadline:
                raise TemporaryError(
                    f"{action.app} did not become healthy after promotion: {result.error}", delay=1
                )
            await asyncio.sleep(0.05)

    def _finish(self, action: FinishFailover, memory: PairState, ctx: ReconcileContext) -> None:
        now = ctx.now()
        record = (memory.failover or Failover(action.epoch, "", "")).step(action.phase, now, "done")
        keys = memory.replication_keys if record.automatic else ()
        save_memory(replace(memory, phase=action.phase, failover=None, replication_keys=keys), ctx)
        summary = _summary(record)
        ctx.record_failover(
            action.epoch,
            {
                "phase": action.phase.value,
                "finished_at": now.isoformat(),
                "timeline": record.timeline(),
                "outcome": "completed",
            },
        )
        ctx.event(
            "FailoverCompleted",
            f"{record.from_app or None} → {record.to_app or None} (epoch {action.epoch}): "
            f"{summary}",
        )
        self._wake_member(record.from_app, ctx)

    def _wake_member(self, app_name: str, ctx: ReconcileContext) -> None:
        """The old primary's VM and App converge now (restart, redeploy as standby)."""
        app = ctx.desired("App", app_name)
        if isinstance(app, App):
            ctx.wake("VM", app.spec.vm)
            ctx.wake("App", app.name)

    async def _rsync(self, host: str, command: tuple[str, ...], ctx: ReconcileContext) -> None:
        ssh = ctx.clients.ssh
        result = await ssh.run(host, list(command), timeout=600, check=False)
        if not result.ok:
            error = result.stderr.decode(errors="replace").strip()[-300:]
            raise TemporaryError(f"replication from {host} failed: {error}", delay=2)


def _summary(record: Failover) -> str:
    at, rpo = record.at, record.rpo_seconds

    parts = []
    pairs = [
        ("detection", "FailureStarted", "Detected"),
        ("fencing", "Fencing", "Fenced"),
        ("promotion", "Fenced", "Promoted"),
    ]
    if at(DRAINED_STEP):  # the wait for what was in flight to an unstopped old primary
        pairs += [
            ("in-flight wait", "Promoted", DRAINED_STEP),
            ("reroute", DRAINED_STEP, "Rerouted"),
        ]
    else:
        pairs.append(("reroute", "Promoted", "Rerouted"))
    for label, begin, end in pairs:
        a, b = at(begin), at(end)
        if a and b:
            parts.append(f"{label} {(b - a).total_seconds():.2f}s")
    if rpo is not None:
        parts.append(f"data-loss window {rpo:.1f}s")
    return ", ".join(parts) or "done"
