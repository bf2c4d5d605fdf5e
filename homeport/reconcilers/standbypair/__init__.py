"""StandbyPair: a primary App and its warm standby on another Machine; automatic,
fenced failover; explicit switchover and failback; rebuild of the standby afterwards.

``plan.py`` is the state machine (pure), ``observe.py`` reads, ``runtime.py`` probes and
replicates in the background, ``act`` below performs each step and moves the pair's
durable phase on, recording the failover's timeline (``homeport describe standbypair``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from homeport.clients.errors import ClientError, ProxmoxError
from homeport.clients.secret import Secret
from homeport.kinds import App, StandbyPair
from homeport.reconcilers.appfiles import ENV_DIR, render_env_for
from homeport.reconcilers.apphealth import check_health
from homeport.reconcilers.base import Action, BackgroundEnv, Plan, ReconcileContext, Reconciler
from homeport.reconcilers.errors import TemporaryError
from homeport.reconcilers.ownership import marker
from homeport.reconcilers.standbypair import replfence, selffence_act
from homeport.reconcilers.standbypair.actions import (
    ClearRequest,
    CutIngress,
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
from homeport.reconcilers.standbypair.hungstandby import ResetStandby
from homeport.reconcilers.standbypair.inflight import DRAINED_STEP, in_flight_wait
from homeport.reconcilers.standbypair.memory import (
    CHANNEL,
    FENCING,
    HEALTHY,
    PROMOTING,
    REROUTING,
    PairMemory,
)
from homeport.reconcilers.standbypair.observe import (
    JOBS,
    REQUEST_SLOT,
    load_memory,
    observe_pair,
    storage_jobs,
)
from homeport.reconcilers.standbypair.plan import PairObserved, plan_pair
from homeport.reconcilers.standbypair.replfence import RemovedPair, removed_channel
from homeport.reconcilers.standbypair.replkeys import FenceReplication, RemoveReplication
from homeport.reconcilers.standbypair.runtime import PairRuntime, ProbeObserver
from homeport.reconcilers.standbypair.selffence import InstallSelfFence, RemoveSelfFence
from homeport.reconcilers.standbypair.stopfailure import stop_failure
from homeport.reconcilers.standbypair.storagerepl import (
    CreateStorageJob,
    RemoveStorageJob,
    StorageView,
    UpdateStorageJob,
)

log = logging.getLogger(__name__)
FENCE_TIMEOUT = 30.0

__all__ = ["PairObserved", "StandbyPairReconciler", "plan_pair"]


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
        if isinstance(action, RemoveReplication):  # the pair is gone from git
            await replfence.remove(ctx.clients.ssh, action)
            leftover = dict(ctx.recall())
            ctx.remember({**leftover, "replication_keys": [], "self_fence_on": []})
            return
        pair = ctx.desired("StandbyPair", ctx.key[1])
        if not isinstance(pair, StandbyPair):
            raise TemporaryError("the pair disappeared from the adopted revision", delay=0)
        memory = load_memory(pair, ctx)
        if isinstance(action, StartFailover):
            self._start(action, memory, ctx)
        elif isinstance(action, CutIngress):
            await self._routes(action.routes, ctx)
            self._step(memory, ctx, "IngressCut", action.describe())
        elif isinstance(action, FencePrimary):
            detail = await self._fence(action, memory, ctx)
            memory = load_memory(pair, ctx)
            detail += await self._wait_out_lease(action, memory, pair, ctx)
            memory.phase = PROMOTING
            self._step(memory, ctx, "Fenced", detail)
        elif isinstance(action, FinalSync):
            await self._rsync(action.source_host, action.command, ctx)
            memory.last_sync = ctx.now().isoformat()
            self._step(memory, ctx, "FinalSync", "data synced after the drain")
        elif isinstance(action, Promote):
            await self._promote(action, memory, pair, ctx)
        elif isinstance(action, Reroute):
            await self._wait_out_in_flight(action, memory, ctx)
            await self._routes(action.routes, ctx)
            self._step(memory, ctx, "Rerouted", action.describe())
        elif isinstance(action, FinishFailover):
            self._finish(action, memory, ctx)
        elif isinstance(action, ResetStandby):
            await self._reset_standby(action, memory, ctx)
        elif isinstance(action, StopStaleApp):
            await self._stop_stale(action, memory, ctx)
        elif isinstance(action, FenceReplication):
            await replfence.fence(ctx.clients.ssh, action.host, action.pair, action.epoch)
            self._step(load_memory(pair, ctx), ctx, "ReplicationFenced", action.describe())
        elif isinstance(action, InstallSelfFence | RemoveSelfFence):
            await self._guard(action, pair, ctx)
        elif isinstance(action, SetUpReplication):
            await replfence.set_up(ctx.clients.ssh, action)
            memory = load_memory(pair, ctx)
            memory.replication_keys = list(action.apps)
            memory.replication_channel = CHANNEL
            ctx.remember(memory.dump())
        elif isinstance(action, Resync):
            await self._rsync(action.source_host, action.command, ctx)
            memory.last_sync = ctx.now().isoformat()
            memory.last_sync_error = None
            ctx.remember(memory.dump())
        elif isinstance(action, FinishRebuild):
            memory.phase = HEALTHY
            memory.quarantine = None
            ctx.remember(memory.dump())
            ctx.event("StandbyRebuilt", action.describe())
        elif isinstance(action, Establish):
            memory.established = True
            ctx.remember(memory.dump())
            ctx.event("Established", action.describe())
        elif isinstance(action, CreateStorageJob | UpdateStorageJob | RemoveStorageJob):
            await self._storage_job(action, ctx)
        elif isinstance(action, ClearRequest):
            ctx.remember({}, slot=REQUEST_SLOT)
            if action.why != "done":
                ctx.event("RequestDropped", action.describe(), warning=True)
        else:
            raise TypeError(f"the StandbyPair reconciler cannot perform {action!r}")

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

    def _start(self, action: StartFailover, memory: PairMemory, ctx: ReconcileContext) -> None:
        now = ctx.now().isoformat()
        steps = []
        if action.failed_since:
            steps.append(
                {
                    "phase": "FailureStarted",
                    "at": action.failed_since,
                    "detail": "first failed probe",
                }
            )
        if action.detected_at:
            steps.append({"phase": "Detected", "at": action.detected_at, "detail": action.reason})
        steps.append({"phase": "Fencing", "at": now, "detail": f"epoch {action.epoch}"})
        memory.phase = FENCING
        memory.failover = {
            "epoch": action.epoch,
            "trigger": action.trigger,
            "from": action.from_app,
            "to": action.to_app,
            "reason": action.reason,
            "started_at": now,
            "rpo_seconds": action.rpo_seconds,
            "steps": steps,
        }
        if action.trigger == "automatic":
            memory.automatic_failovers = [*memory.automatic_failovers[-20:], now]
        ctx.remember(memory.dump())
        ctx.record_failover(
            action.epoch,
            {
                "trigger": action.trigger,
                "from_app": action.from_app,
                "to_app": action.to_app,
                "phase": FENCING,
                "started_at": now,
                "timeline": steps,
                "rpo_seconds": action.rpo_seconds,
                "outcome": "in progress",
            },
        )
        ctx.event("FailoverStarted", action.describe(), warning=action.trigger == "automatic")

    def _step(self, memory: PairMemory, ctx: ReconcileContext, phase: str, detail: str) -> None:
        if memory.failover is None:
            ctx.remember(memory.dump())
            return
        memory.failover["steps"] = [
            *memory.failover["steps"],
            {"phase": phase, "at": ctx.now().isoformat(), "detail": detail},
        ]
        ctx.remember(memory.dump())
        ctx.record_failover(
            int(memory.failover["epoch"]),
            {"phase": memory.phase, "timeline": memory.failover["steps"]},
        )

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
            await caddy.upsert_route(route, target.exposure)
            if not await caddy.verify_route(route):
                raise TemporaryError(
                    f"Caddy does not run route {target.name} as written; retrying", delay=0.2
                )

    async def _fence(self, action: FencePrimary, memory: PairMemory, ctx: ReconcileContext) -> str:
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
        self, action: ResetStandby, memory: PairMemory, ctx: ReconcileContext
    ) -> None:
        """Stop the hung standby's VM; its VM reconciler starts it again (a reset)."""
        px = ctx.clients.proxmox
        task = await px.stop_vm(action.node, action.vmid, timeout=5)
        if task is not None:
            await px.tasks.wait(task, timeout=FENCE_TIMEOUT)
        memory.standby_reset_at = ctx.now().isoformat()
        ctx.remember(memory.dump())
        ctx.event("StandbyReset", action.describe(), warning=True)
        ctx.wake("VM", action.vm)

    async def _stop_stale(
        self, action: StopStaleApp, memory: PairMemory, ctx: ReconcileContext
    ) -> None:
        """Stop the returned old primary once (the engine's event for the action says so;
        the Warning was given when it was quarantined); its App then redeploys it."""
        systemd = ctx.clients.systemd
        await systemd.stop(action.host, action.unit)
        if action.app in memory.self_fence_on:  # it returns as the standby: unarmed
            await selffence_act.disarm(ctx.clients.ssh, action.host, action.unit)
        memory.quarantine = {**(memory.quarantine or {}), "stopped_at": ctx.now().isoformat()}
        ctx.remember(memory.dump())
        ctx.wake("App", action.app)

    async def _wait_out_lease(
        self, action: FencePrimary, memory: PairMemory, pair: StandbyPair, ctx: ReconcileContext
    ) -> str:
        """A quarantined primary with a self-fence guard: promote only once its lease has
        lapsed, so it stops its App the moment it runs again."""
        quarantined = (memory.quarantine or {}).get("app") == action.app
        if not (quarantined and action.app in memory.self_fence_on):
            return ""
        lease = pair.spec.lease_seconds()
        renewed = self.runtime.lease_renewed.get(action.app)
        start = await selffence_act.wait_out_lease(renewed, lease, ctx.now())
        return (
            f"; its self-fence lease (renewed {start.isoformat()}, {lease:g}s) has lapsed: "
            f"its guard stops {action.unit} the moment it runs again"
        )

    async def _wait_out_in_flight(
        self, action: Reroute, memory: PairMemory, ctx: ReconcileContext
    ) -> None:
        """Before the new primary serves: let what Caddy forwarded to an old primary that
        was not confirmed stopped end (``inflight.py``)."""
        wait = in_flight_wait(memory, action.in_flight_seconds, ctx.now())
        if wait is None:
            return
        if wait.seconds > 0:
            await asyncio.sleep(wait.seconds)
        self._step(memory, ctx, DRAINED_STEP, wait.detail)

    async def _guard(
        self, action: InstallSelfFence | RemoveSelfFence, pair: StandbyPair, ctx: ReconcileContext
    ) -> None:
        ssh = ctx.clients.ssh
        if isinstance(action, InstallSelfFence):
            await selffence_act.install(ssh, action.host, action.unit)
        else:
            await selffence_act.remove(ssh, action.host, action.unit)
        memory = load_memory(pair, ctx)
        others = [a for a in memory.self_fence_on if a != action.app]
        memory.self_fence_on = others + (
            [action.app] if isinstance(action, InstallSelfFence) else []
        )
        ctx.remember(memory.dump())
        ctx.event("SelfFence", action.describe())

    def _quarantine(
        self, action: FencePrimary, memory: PairMemory, ctx: ReconcileContext, why: str
    ) -> str:
        memory.quarantine = {
            "app": action.app,
            "vmid": action.vmid,
            "node": action.node,
            "since": ctx.now().isoformat(),
        }
        ctx.remember(memory.dump())
        ctx.event(
            "Quarantined",
            f"{action.app}: {why}; ingress cut, it is stopped first when it returns",
            warning=True,
        )
        return f"{why}: ingress cut and {action.app} quarantined"

    async def _promote(
        self, action: Promote, memory: PairMemory, pair: StandbyPair, ctx: ReconcileContext
    ) -> None:
        record = memory.failover or {}
        memory.epoch = max(memory.epoch, action.epoch)
        old = str(record.get("from") or memory.primary)
        memory.primary, memory.standby = action.app, old if old != action.app else memory.standby
        ctx.remember(memory.dump())  # the new epoch and roles are what the env files render
        # A retried promotion (the App was slower than its startup grace) must not restart
        # the App again; the failover record says which restarts already happened, so a
        # daemon that died between writing the env file and the restart still restarts.
        targets = [(action.app, action.host, action.unit, action.env_path)]
        if action.demote is not None:
            targets.append(action.demote)
        for app, host, unit, env_path in targets:
            if app != action.app and app in memory.self_fence_on:  # demoted: no lease to lapse
                await selffence_act.disarm(ctx.clients.ssh, host, unit)
            restarted = list((memory.failover or {}).get("restarted") or [])
            await self._restart_with_env(app, host, unit, env_path, ctx, again=app in restarted)
            if memory.failover is not None and app not in restarted:
                memory.failover["restarted"] = [*restarted, app]
                ctx.remember(memory.dump())
        await self._wait_healthy(action, ctx)
        memory = load_memory(pair, ctx)
        memory.phase = REROUTING
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

    def _finish(self, action: FinishFailover, memory: PairMemory, ctx: ReconcileContext) -> None:
        now = ctx.now()
        record = dict(memory.failover or {})
        steps = [
            *record.get("steps", []),
            {"phase": action.phase, "at": now.isoformat(), "detail": "done"},
        ]
        memory.phase = action.phase
        memory.failover = None
        if record.get("trigger") != "automatic":
            memory.replication_keys = []
        ctx.remember(memory.dump())
        summary = _summary(steps, record.get("rpo_seconds"))
        ctx.record_failover(
            action.epoch,
            {
                "phase": action.phase,
                "finished_at": now.isoformat(),
                "timeline": steps,
                "outcome": "completed",
            },
        )
        ctx.event(
            "FailoverCompleted",
            f"{record.get('from')} → {record.get('to')} (epoch {action.epoch}): {summary}",
        )
        self._wake_member(str(record.get("from") or ""), ctx)

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


def _summary(steps: list[dict[str, Any]], rpo: object) -> str:
    def at(phase: str) -> datetime | None:
        found = next((s["at"] for s in steps if s["phase"] == phase), None)
        return datetime.fromisoformat(found) if found else None

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
    if isinstance(rpo, int | float):
        parts.append(f"data-loss window {rpo:.1f}s")
    return ", ".join(parts) or "done"
