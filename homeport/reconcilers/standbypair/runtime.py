"""The pairs' background loops: a health probe of both members every ``probe.interval``,
independent of the resync, waking the pair's reconcile the moment the primary crosses
its failure threshold; and the periodic replication of the primary's data to the standby.

One task per pair, so a slow probe never delays another pair; each probe is bounded by
its own timeout. Replication only runs on the leader and only while the pair is Healthy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import datetime
from typing import Any

from homeport.clients.errors import SSHError
from homeport.clients.probes import ProbeResult
from homeport.kinds import StandbyPair
from homeport.reconcilers.base import BackgroundEnv, ReconcileContext
from homeport.reconcilers.standbypair import selffence_act
from homeport.reconcilers.standbypair.observe import load_memory, member
from homeport.reconcilers.standbypair.plan import Member, ProbeView, rsync_command
from homeport.reconcilers.standbypair.probekind import probe_target, run_probe
from homeport.reconcilers.standbypair.probewindow import ProbeTracker
from homeport.reconcilers.standbypair.state import Phase, UnreadablePairState

log = logging.getLogger(__name__)


ROLES = ("primary", "standby")
ProbeObserver = Callable[[str, str, ProbeResult], None]
"""Told (pair, role, result) after every probe (telemetry: the probe-latency metric)."""


class PairRuntime:
    def __init__(self, ssh_port: int, *, on_probe: ProbeObserver | None = None) -> None:
        self.ssh_port = ssh_port
        self.on_probe = on_probe
        self.trackers: dict[str, ProbeTracker] = {}
        self.lease_renewed: dict[str, datetime] = {}
        """When each App's self-fence lease was last renewed (issued-at of the renewal)."""
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._renewals: dict[str, asyncio.Task[None]] = {}
        self._held: dict[tuple[str, str], str] = {}
        """(pair, loop) → why it is held now (``held``): said once, not every second."""

    def views(self) -> dict[str, ProbeView]:
        return {app: tracker.view for app, tracker in self.trackers.items()}

    async def run(self, env: BackgroundEnv) -> None:
        try:
            while not env.stop.is_set():
                pairs = {p.name for p, _ in env.objects("StandbyPair")}
                for name in pairs - set(self._tasks):
                    self._tasks[name] = asyncio.create_task(self._pair_loop(name, env))
                for name in set(self._tasks) - pairs:
                    self._tasks.pop(name).cancel()
                await env.sleep(1.0)
        finally:
            tasks = [*self._tasks.values(), *self._renewals.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.clear()
            self._renewals.clear()

    async def _pair_loop(self, name: str, env: BackgroundEnv) -> None:
        """Probes and replication as two tasks: a hung rsync must never delay a probe."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._probe_loop(name, env))
            group.create_task(self._replication_loop(name, env))

    def held(self, name: str, loop: str, why: UnreadablePairState | None) -> None:
        """A pair's ``loop`` (probes, replication) does nothing while its stored state
        cannot be read: a warning when that starts or changes, and when it ends, rather
        than an error with its traceback every interval (the pair's Stalled condition
        says what to do)."""
        key = (name, loop)
        if why is None:
            if self._held.pop(key, None) is not None:
                log.warning("%s of StandbyPair %s resumed", loop, name)
            return
        if self._held.get(key) != str(why):
            self._held[key] = str(why)
            log.warning("%s of StandbyPair %s held: %s (%s)", loop, name, why, why.fix)

    def _pair(self, name: str, env: BackgroundEnv) -> tuple[StandbyPair | None, ReconcileContext]:
        ctx = env.context("StandbyPair", name)
        pair = ctx.desired("StandbyPair", name)
        return (pair if isinstance(pair, StandbyPair) else None), ctx

    async def _probe_loop(self, name: str, env: BackgroundEnv) -> None:
        while not env.stop.is_set():
            pair, ctx = self._pair(name, env)
            if pair is None:
                return
            started = env.monotonic()
            try:
                self._renew_lease(pair, ctx, env)
                await self._probe_both(pair, ctx, env)
                self.held(name, "probes", None)
            except UnreadablePairState as exc:
                self.held(name, "probes", exc)
            except Exception:  # a bug must not silence the probes for good
                log.exception("probes of StandbyPair %s failed", name)
            await env.sleep(
                max(0.0, pair.spec.probe.interval_seconds - (env.monotonic() - started))
            )

    async def _replication_loop(self, name: str, env: BackgroundEnv) -> None:
        last_attempt = -1e9
        while not env.stop.is_set():
            pair, ctx = self._pair(name, env)
            if pair is None:
                return
            try:
                if self._sync_due(pair, ctx, env, last_attempt):
                    last_attempt = env.monotonic()
                    await self.replicate(pair, ctx)
                self.held(name, "replication", None)
            except UnreadablePairState as exc:
                self.held(name, "replication", exc)
            except Exception:
                log.exception("replication of StandbyPair %s failed", name)
            await env.sleep(min(1.0, pair.spec.replication.interval_seconds))

    def _sync_due(
        self, pair: StandbyPair, ctx: ReconcileContext, env: BackgroundEnv, last_attempt: float
    ) -> bool:
        """Sync when the last success is an interval old (at once when never synced);
        retry a failed sync after a few seconds, not a whole interval."""
        if pair.spec.replication.method != "rsync" or not env.is_leader():
            return False
        interval = pair.spec.replication.interval_seconds
        if env.monotonic() - last_attempt < min(interval, 5.0):
            return False
        last_sync = load_memory(pair, ctx).last_sync
        if last_sync is None:
            return True
        return (env.now() - last_sync).total_seconds() >= interval

    def _renew_lease(self, pair: StandbyPair, ctx: ReconcileContext, env: BackgroundEnv) -> None:
        """Renew the primary's self-fence lease, and release a returned old primary, once per
        probe interval beside the probes (never delaying them); no renewal while a failover
        runs: the old primary's lease must lapse."""
        memory = load_memory(pair, ctx)
        if memory.phase.in_flight or not env.is_leader():
            return
        lease = pair.spec.lease_seconds()
        primary, standby = member(memory.primary, ctx), member(memory.standby, ctx)
        if primary.app in memory.self_fence_on and primary.host:
            self._spawn(f"{pair.name}/renew", self._renew(ctx, primary, env.now(), lease))
        quarantined = memory.quarantines(standby.app)
        if quarantined and standby.app in memory.self_fence_on and standby.host:
            self._spawn(f"{pair.name}/release", self._release(ctx, env, standby, lease))

    def _spawn(self, slot: str, work: Coroutine[Any, Any, None]) -> None:
        """One task per slot at a time: a renewal stuck on a hung VM is not stacked up."""
        running = self._renewals.get(slot)
        if running is not None and not running.done():
            work.close()
            return
        self._renewals[slot] = asyncio.create_task(work)

    async def _release(
        self, ctx: ReconcileContext, env: BackgroundEnv, target: Member, timeout: float
    ) -> None:
        """A returned old primary that its guard stopped stays down until homeport lets it
        rejoin: drop its lapsed lease once it is stopped (the App reconciler then starts it
        as the standby; a stale one answering is stopped by the plan)."""
        assert target.host is not None
        ssh = ctx.clients.ssh
        try:
            if await selffence_act.release(ssh, target.host, target.unit, timeout=timeout):
                env.wake("App", target.app)  # it may start now, as the standby
        except (SSHError, TimeoutError) as exc:
            log.debug("lease release of %s failed: %s", target.app, exc)

    async def _renew(
        self, ctx: ReconcileContext, target: Member, issued_at: datetime, lease: float
    ) -> None:
        assert target.host is not None
        ssh = ctx.clients.ssh
        try:
            if await selffence_act.renew(
                ssh, target.host, target.unit, issued_at=issued_at, lease=lease
            ):
                self.lease_renewed[target.app] = issued_at
        except (SSHError, TimeoutError) as exc:
            log.debug("lease renewal of %s failed: %s", target.app, exc)

    async def _probe_both(
        self, pair: StandbyPair, ctx: ReconcileContext, env: BackgroundEnv
    ) -> None:
        memory = load_memory(pair, ctx)
        members = [member(memory.primary, ctx), member(memory.standby, ctx)]
        results = await asyncio.gather(
            *(self._probe(pair, m, role, ctx) for m, role in zip(members, ROLES, strict=True))
        )
        now = env.now()
        for target, (ok, error) in zip(members, results, strict=True):
            if target.host is None and not memory.established:
                # The member's VM has no address yet (a first convergence): there was
                # nothing to probe, which is not a failed probe.
                continue
            tracker = self.trackers.setdefault(target.app, ProbeTracker())
            was_healthy = tracker.view.healthy
            probe = pair.spec.probe
            crossed = tracker.record(ok, error, now, probe.failure_threshold, probe.window)
            if crossed and target.app == memory.primary:
                # Before the pair is established its Apps are still being deployed and
                # nothing fails over: misses are expected then, not worth a warning.
                report = log.warning if memory.established else log.info
                report(
                    "StandbyPair %s: primary %s failed %d probes: %s",
                    pair.name,
                    target.app,
                    pair.spec.probe.failure_threshold,
                    error,
                )
                env.wake("StandbyPair", pair.name)
            elif target.app == memory.standby and (crossed or (ok and was_healthy is False)):
                env.wake("StandbyPair", pair.name)  # the standby went down or came back
        primary = self.trackers.get(memory.primary)
        if memory.phase == Phase.HEALTHY and primary is not None and primary.view.failures == 1:
            env.wake("StandbyPair", pair.name)  # report Detecting at once

    async def _probe(
        self, pair: StandbyPair, target: Member, role: str, ctx: ReconcileContext
    ) -> tuple[bool, str | None]:
        how = probe_target(pair.spec.probe, target)
        if how is None:
            return False, "address unknown"
        result = await run_probe(how, ctx)
        if self.on_probe is not None:
            self.on_probe(pair.name, role, result)
        return result.ok, result.error

    async def replicate(self, pair: StandbyPair, ctx: ReconcileContext) -> None:
        """One rsync of the primary's data onto the standby; the memory records the outcome.

        Only between two healthy ends, under the pair's current epoch (the standby's
        wrapper refuses the run once the pair moved on), and abandoned after one probe
        window (``interval * failureThreshold``): a run still going when a failover could
        start is one homeport no longer vouches for."""
        memory = load_memory(pair, ctx)
        if memory.phase != Phase.HEALTHY or not memory.channel_ready():
            return
        primary, standby = member(memory.primary, ctx), member(memory.standby, ctx)
        if not (
            primary.host and standby.host and self._healthy(primary) and self._healthy(standby)
        ):
            return
        started = ctx.now()
        ssh = ctx.clients.ssh
        command = rsync_command(primary, standby, self.ssh_port, pair=pair.name, epoch=memory.epoch)
        window = pair.spec.probe.interval_seconds * pair.spec.probe.failure_threshold
        error: str | None = None
        try:
            result = await ssh.run(primary.host, list(command), timeout=window, check=False)
            if not result.ok:
                stderr = result.stderr.decode(errors="replace").strip().splitlines()
                error = stderr[0] if stderr else f"rsync exited {result.exit_status}"
        except SSHError as exc:
            error = str(exc)
        fresh = load_memory(pair, ctx)  # re-read: a failover may have started meanwhile
        if fresh.phase != Phase.HEALTHY or fresh.epoch != memory.epoch:
            return
        if error is None:
            fresh = replace(fresh, last_sync=started, last_sync_error=None)
        else:
            fresh = replace(fresh, last_sync_error=error)
            ctx.event(
                "ReplicationFailed", f"{memory.primary} → {memory.standby}: {error}", warning=True
            )
        ctx.remember(fresh.dump())

    def _healthy(self, target: Member) -> bool:
        return bool(self.trackers.get(target.app, ProbeTracker()).view.healthy)
