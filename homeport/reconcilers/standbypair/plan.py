"""The StandbyPair plan: pure. Healthy → (Detecting) → Fencing → Promoting → Rerouting →
Degraded → (standby rebuilt) → Healthy, never promoting before the primary is fenced.

A failover is one plan of ordered actions (start, cut ingress, fence, promote, reroute,
finish), executed in one reconcile for speed; the plan emits the phase changes between the
steps as actions too (``EnterPhase``; the allowed ones are ``transitions.py``'s table), so
a daemon that dies half-way resumes at the recorded phase, with the recorded epoch. A
Healthy pair is decided by ``HEALTHY_GUARDS``: named rules, in order, the first that
applies wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from homeport.clients.caddy_config import Exposure, RouteSpec, reverse_proxy_route
from homeport.clients.caddy_config import upstream as dial
from homeport.kinds import StandbyPair
from homeport.kinds.app import HealthCheck
from homeport.reconcilers.base import Action, ConditionUpdate, Plan
from homeport.reconcilers.pairroutes import MemberTimeouts
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
from homeport.reconcilers.standbypair.finalsync import AnswerFinalSync, due, plan_final_sync
from homeport.reconcilers.standbypair.hungstandby import reset_hung_standby
from homeport.reconcilers.standbypair.replkeys import (
    FenceReplication,
    destination,
    key_path,
    known_hosts_path,
)
from homeport.reconcilers.standbypair.selffence import InstallSelfFence, guard_actions
from homeport.reconcilers.standbypair.state import PairState, Phase
from homeport.reconcilers.standbypair.storagerepl import StorageView, plan_storage

REQUEST_EXPIRY = timedelta(minutes=10)


@dataclass(frozen=True)
class Member:
    """One App of the pair, as the world shows it."""

    app: str
    host: str | None = None
    port: int = 0
    unit: str = ""
    env_path: str = ""
    data_dir: str = ""
    vmid: int | None = None
    node: str | None = None
    node_online: bool | None = True
    """None: unknown (the node listing failed); True also when the node is not listed."""
    app_ready: bool = False
    app_epoch: int | None = None
    maintenance: bool = False
    vm_unresponsive: bool = False
    """Proxmox says its VM runs, but the guest does not answer (the VM is not Ready)."""
    vm: str = ""
    health: HealthCheck = field(default_factory=HealthCheck)
    """The App's declared health check (type, path, expected status, startup grace)."""


@dataclass(frozen=True)
class ProbeView:
    healthy: bool | None = None
    healthy_since: datetime | None = None
    """Start of the current run of passed probes."""
    failures: int = 0
    failed_since: datetime | None = None
    detected_at: datetime | None = None
    last_error: str | None = None
    window_misses: int = 0
    """Misses among the last ``probe.window`` probes (``probewindow.py``)."""


@dataclass(frozen=True)
class PairRoute:
    name: str
    host: str
    path_prefix: str | None = None
    health_check: bool = True
    timeouts: MemberTimeouts | None = None
    """Derived from the pair's probe (``pairroutes.py``), as the ProxyRoute writes them."""
    exposure: Exposure = "public"


@dataclass(frozen=True)
class PairObserved:
    name: str
    memory: PairState
    primary: Member
    standby: Member
    primary_probe: ProbeView = field(default_factory=ProbeView)
    standby_probe: ProbeView = field(default_factory=ProbeView)
    routes: tuple[PairRoute, ...] = ()
    request: Mapping[str, Any] | None = None
    requested_at: datetime | None = None
    """The request's ``at`` (None: absent or not a time)."""
    ssh_port: int = 22
    power_held: str | None = None
    """Why the pair (or its primary App) is held by a planned estate shutdown
    (``powerhold.py``), if it is."""
    primary_held: str | None = None
    """Why the primary App is held by an estate shutdown (its VM stops next), if it is."""
    standby_held: bool = False
    """The standby App was held by an earlier layer of an estate shutdown (its VM is
    stopped): nothing to sync to."""
    power_released_at: datetime | None = None
    """When the last ``homeport estate start`` released the pair."""
    storage: StorageView | None = None
    """Proxmox storage replication jobs and support (None: not read, e.g. API down)."""


# -- Caddy routes ---------------------------------------------------------------------


def serving_route(route: PairRoute, member: Member, epoch: int) -> dict[str, Any]:
    return reverse_proxy_route(
        RouteSpec(
            name=route.name,
            hosts=[route.host],
            upstreams=[dial(member.host or "", member.port)],
            path_prefix=route.path_prefix,
            health_uri=member.health.path
            if route.health_check and member.health.type == "http"
            else None,
            epoch=epoch,
            **(route.timeouts.route_fields() if route.timeouts else {}),
        )
    )


def cut_route(route: PairRoute, member: Member, epoch: int) -> dict[str, Any]:
    """The same route (same @id and matchers), answering 503 while the pair fails over."""
    serving = serving_route(route, member, epoch)
    serving["handle"] = [
        {
            "handler": "static_response",
            "status_code": 503,
            "headers": {"Retry-After": ["1"]},
            "body": "failover in progress",
        }
    ]
    return serving


# -- replication ----------------------------------------------------------------------


def rsync_command(
    source: Member, target: Member, port: int, *, pair: str, epoch: int
) -> tuple[str, ...]:
    """Run on the source VM: mirror its data directory onto the target's, over SSH, with
    the pair's own key; the target's forced command maps ``epoch-N/`` to its data directory
    and refuses the run once the pair is past epoch N (``replkeys.py``)."""
    ssh = (
        f"ssh -i {key_path(pair)} -p {port} -o StrictHostKeyChecking=yes "
        f"-o UserKnownHostsFile={known_hosts_path(pair)} -o BatchMode=yes"
    )
    return (
        "rsync",
        "-a",
        "--delete",
        "-e",
        ssh,
        f"{source.data_dir}/",
        f"root@{target.host}:{destination(epoch)}",
    )


def lag_seconds(memory: PairState, at: datetime) -> float | None:
    if memory.last_sync is None:
        return None
    return max(0.0, (at - memory.last_sync).total_seconds())


# -- the plan -------------------------------------------------------------------------


def plan_pair(desired: StandbyPair | None, seen: PairObserved, *, now: datetime) -> Plan:
    if desired is None:
        return Plan(
            reason="pair removed from git; its Apps and routes are left as they are", gone=True
        )
    memory = seen.memory
    details = _details(desired, seen, now)
    if memory.phase.in_flight and memory.failover:
        return Plan(actions=tuple(_resume(desired, seen, now)), details=details)
    if seen.request is not None:
        handled = _request(desired, seen, now)
        if handled is not None:
            return Plan(actions=tuple(handled), details=details)
    stale = seen.standby
    # Stopped once, on its return: the App reconciler then redeploys it as the standby. Also
    # when its App already redeployed it while it was failing (its epoch is current): the
    # App reconciler holds a quarantined App that serves until this stop, whatever its epoch.
    quarantine = memory.quarantine
    quarantined = (
        quarantine is not None and quarantine.app == stale.app and quarantine.awaiting_stop
    )
    if quarantined and seen.standby_probe.healthy and stale.host:
        return Plan(actions=(StopStaleApp(stale.app, stale.host, stale.unit),), details=details)
    if memory.phase == Phase.HEALTHY:
        healthy = _healthy(desired, seen, now, details)
        # Held by an estate shutdown: its final sync at most, no replication job change.
        return healthy if seen.power_held else _with_storage(desired, seen, healthy)
    answer = _degraded_final_sync(desired, seen)
    if answer is not None:
        return Plan(actions=(answer,), details=details)
    return _with_storage(desired, seen, _degraded(desired, seen, now, details))


def _degraded_final_sync(desired: StandbyPair, seen: PairObserved) -> Action | None:
    """A Degraded pair answers an estate shutdown's hold as a Healthy one does (unanswered,
    the shutdown waited half the layer's timeout for it): while its standby is not back,
    there is nothing to sync to."""
    memory, standby = seen.memory, seen.standby
    if seen.primary_held is None or not due(memory, seen.primary_held):
        return None
    if not (standby.app_ready and standby.app_epoch == memory.epoch):
        return AnswerFinalSync(
            seen.primary_held, f"the pair is Degraded: {standby.app} is not the standby again yet"
        )
    return _final_sync(desired, seen, seen.primary_held)


def _with_storage(desired: StandbyPair, seen: PairObserved, plan: Plan) -> Plan:
    """Add the pair's storage replication job to a plan that has nothing more urgent to
    do: its conditions and status always, its actions only when the plan has none."""
    storage = plan_storage(
        desired,
        seen.storage,
        primary_vmid=seen.primary.vmid,
        primary_node=seen.primary.node,
        standby_node=seen.standby.node,
    )
    if not (storage.actions or storage.conditions or storage.details):
        return plan
    details = {**plan.details, **storage.details}
    degraded = any(c.type == "Degraded" for c in plan.conditions)
    extra = tuple(c for c in storage.conditions if not (degraded and c.type == "Degraded"))
    if plan.actions or not storage.actions:
        return replace(plan, details=details, conditions=plan.conditions + extra)
    return Plan(actions=tuple(storage.actions), details=details, conditions=plan.conditions + extra)


def _details(desired: StandbyPair, seen: PairObserved, now: datetime) -> dict[str, Any]:
    memory = seen.memory
    lag = lag_seconds(memory, now)
    return {
        "primary": memory.primary,
        "standby": memory.standby,
        "epoch": memory.epoch,
        "phase": memory.phase.value,
        "lastSync": memory.last_sync.isoformat() if memory.last_sync else None,
        "lagSeconds": round(lag, 1) if lag is not None else None,
        "primaryHealthy": seen.primary_probe.healthy,
        "standbyHealthy": seen.standby_probe.healthy,
        "quarantine": memory.quarantine.dump() if memory.quarantine else None,
        "detecting": seen.primary_probe.failures > 0 and memory.phase == Phase.HEALTHY,
        "pendingRequest": seen.request.get("op") if seen.request else None,
    }


def _crossed(desired: StandbyPair, probe: ProbeView) -> bool:
    """Down: K consecutive misses, or K misses among the last N probes (a flapping App)."""
    threshold = desired.spec.probe.failure_threshold
    return (probe.healthy is False and probe.failures >= threshold) or (
        probe.window_misses >= threshold
    )


def _planned_outage(seen: PairObserved, probe: ProbeView) -> bool:
    """The failures come from a planned estate shutdown: held now, or a failure streak that
    began before ``homeport estate start`` released the pair. Never a reason to fail over."""
    if seen.power_held:
        return True
    released, since = seen.power_released_at, probe.failed_since
    return bool(released and since and since <= released)


@dataclass(frozen=True)
class Facts:
    """What every guard of a Healthy pair reads: the pair, its world, the time, its status."""

    desired: StandbyPair
    seen: PairObserved
    now: datetime
    details: dict[str, Any]

    @property
    def memory(self) -> PairState:
        return self.seen.memory


Guard = Callable[[Facts], Plan | None]
"""One rule of a Healthy pair: the plan when it applies, None to ask the next one."""


def estate_final_sync(facts: Facts) -> Plan | None:
    """An estate shutdown holds the primary (its VM stops next): one last sync to the
    standby first, or the answer that there is nothing to sync (``finalsync.py``)."""
    seen, memory = facts.seen, facts.memory
    if seen.primary_held is None or not due(memory, seen.primary_held):
        return None
    return Plan(
        actions=(_final_sync(facts.desired, seen, seen.primary_held),), details=facts.details
    )


def _final_sync(desired: StandbyPair, seen: PairObserved, hold: str) -> Action:
    command = rsync_command(
        seen.primary, seen.standby, seen.ssh_port, pair=seen.name, epoch=seen.memory.epoch
    )
    return plan_final_sync(
        desired,
        seen.memory,
        seen.primary,
        seen.standby,
        hold=hold,
        standby_held=seen.standby_held,
        command=command,
    )


def estate_held(facts: Facts) -> Plan | None:
    """A planned estate shutdown holds the pair: nothing fails over."""
    if not facts.seen.power_held:
        return None
    return Plan(
        waiting=f"automatic failover suspended: {facts.seen.power_held}",
        state_reason="EstateShutdown",
        details=facts.details,
    )


def primary_crossed_threshold(facts: Facts) -> Plan | None:
    """The primary is down (K misses of the last N), the pair armed, not a planned outage."""
    seen = facts.seen
    if not (
        _crossed(facts.desired, seen.primary_probe)
        and facts.memory.established
        and not _planned_outage(seen, seen.primary_probe)
    ):
        return None
    return _automatic(facts.desired, seen, facts.now, facts.details)


def primary_in_maintenance(facts: Facts) -> Plan | None:
    """The primary's Machine is in maintenance and the standby can serve: switch over."""
    seen = facts.seen
    if not (seen.primary.maintenance and seen.standby_probe.healthy) or seen.standby.maintenance:
        return None
    why = "primary's Machine is in maintenance"
    switch = _switchover(facts.desired, seen, facts.now, "maintenance", why)
    return Plan(actions=tuple(switch), details=facts.details)


def failback_due(facts: Facts) -> Plan | None:
    """Automatic failback: the declared primary was a healthy standby long enough."""
    if not _failback_due(facts.desired, facts.seen, facts.now):
        return None
    reason = (
        f"{facts.memory.standby} healthy for "
        f"{facts.desired.spec.failback.after_healthy_seconds:.0f}s (automatic failback)"
    )
    switch = _switchover(facts.desired, facts.seen, facts.now, "failback", reason)
    return Plan(actions=tuple(switch), details=facts.details)


def replication_keys_missing(facts: Facts) -> Plan | None:
    """rsync replication without its channel primary → standby (of the current kind)."""
    seen = facts.seen
    if (
        facts.desired.spec.replication.method != "rsync"
        or facts.memory.channel_ready()
        or not (seen.primary.host and seen.standby.host)
    ):
        return None
    return Plan(actions=(_setup_replication(facts.desired, seen),), details=facts.details)


def standby_hung(facts: Facts) -> Plan | None:
    """The standby's VM runs but its guest answered nothing for the grace period."""
    reset = reset_hung_standby(facts.desired, facts.seen, facts.now)
    return Plan(actions=(reset,), details=facts.details) if reset is not None else None


def self_fence_guards_missing(facts: Facts) -> Plan | None:
    """The self-fence guards are not where the spec wants them (or where it no longer does)."""
    spec = facts.desired.spec
    guards = guard_actions(
        spec.self_fence.enabled, list(facts.memory.self_fence_on), _members(facts.seen)
    )
    return Plan(actions=tuple(guards), details=facts.details) if guards else None


def primary_not_probed_yet(facts: Facts) -> Plan | None:
    if facts.seen.primary_probe.healthy is not None:
        return None
    interval = facts.desired.spec.probe.interval_seconds
    return Plan(waiting="probing the primary", requeue_after=interval, details=facts.details)


def not_established(facts: Facts) -> Plan | None:
    """Both members never served (and synced) yet: arm the failover once they have."""
    return (
        None if facts.memory.established else _establish(facts.desired, facts.seen, facts.details)
    )


def primary_failing(facts: Facts) -> Plan | None:
    """The primary misses probes below the threshold: Detecting."""
    probe, spec = facts.seen.primary_probe, facts.desired.spec
    if not probe.failures:
        return None
    return Plan(
        waiting=f"primary failing its probe ({probe.failures}/"
        f"{spec.probe.failure_threshold}): {probe.last_error}",
        state_reason="Detecting",
        requeue_after=spec.probe.interval_seconds,
        details=facts.details,
        conditions=_replication_lagging(facts),
    )


HEALTHY_GUARDS: tuple[Guard, ...] = (
    estate_final_sync,
    estate_held,
    primary_crossed_threshold,
    primary_in_maintenance,
    failback_due,
    replication_keys_missing,
    standby_hung,
    self_fence_guards_missing,
    primary_not_probed_yet,
    not_established,
    primary_failing,
)
"""A Healthy pair's rules, in order: the first that applies decides the plan; when none
does, the pair serves (``serving``). The order is the policy: a held estate before any
failover, a failover before a switchover, setting things up before reporting."""


def _healthy(
    desired: StandbyPair, seen: PairObserved, now: datetime, details: dict[str, Any]
) -> Plan:
    facts = Facts(desired, seen, now, details)
    for guard in HEALTHY_GUARDS:
        plan = guard(facts)
        if plan is not None:
            return plan
    return serving(facts)


def _replication_lagging(facts: Facts) -> tuple[ConditionUpdate, ...]:
    spec, memory = facts.desired.spec, facts.memory
    lag = lag_seconds(memory, facts.now)
    if spec.replication.method != "rsync" or (
        lag is not None and lag <= spec.replication.max_lag_seconds
    ):
        return ()
    shown = "never synced" if lag is None else f"lag {lag:.0f}s"
    return (
        ConditionUpdate(
            "Degraded",
            "True",
            "ReplicationLagging",
            f"replication {shown} exceeds {spec.replication.max_lag_seconds:.0f}s"
            + (f": {memory.last_sync_error}" if memory.last_sync_error else ""),
        ),
    )


def serving(facts: Facts) -> Plan:
    """No guard applies: the primary serves, with what degrades the pair as conditions."""
    seen, memory = facts.seen, facts.memory
    conditions = list(_replication_lagging(facts))
    if seen.primary.maintenance and seen.standby.maintenance:
        conditions.append(
            ConditionUpdate(
                "Degraded",
                "True",
                "BothInMaintenance",
                f"the Machines of both {memory.primary} and {memory.standby} are in maintenance;"
                " the primary stays where it is until one of them ends its maintenance",
            )
        )
    if not seen.standby_probe.healthy:
        conditions.append(
            ConditionUpdate(
                "Degraded",
                "True",
                "StandbyDown",
                f"standby {memory.standby} is not healthy: {seen.standby_probe.last_error}",
            )
        )
    return Plan(
        reason=f"{memory.primary} serves (epoch {memory.epoch}), {memory.standby} is warm",
        ready=True,
        details=facts.details,
        conditions=tuple(conditions),
        requeue_after=5,  # keeps the lag and the members' health in status fresh
    )


def _failback_due(desired: StandbyPair, seen: PairObserved, now: datetime) -> bool:
    """Automatic failback: the declared primary serves again once it has been a healthy
    standby for ``afterHealthySeconds`` (a planned switchover: drained, synced, no loss)."""
    policy, memory = desired.spec.failback, seen.memory
    since = seen.standby_probe.healthy_since
    return (
        policy.mode == "automatic"
        and memory.standby == desired.spec.primary
        and memory.established
        and bool(seen.primary_probe.healthy)
        and bool(seen.standby_probe.healthy)
        and since is not None
        and (now - since).total_seconds() >= policy.after_healthy_seconds
        and not seen.standby.maintenance
    )


def _establish(desired: StandbyPair, seen: PairObserved, details: dict[str, Any]) -> Plan:
    """A pair arms its automatic failover once both members served and synced once."""
    memory = seen.memory
    missing = [m.app for m in (seen.primary, seen.standby) if not m.app_ready]
    if missing:
        waiting = "waiting for " + ", ".join(missing) + " to be deployed"
        return Plan(waiting=waiting, requeue_after=2, details=details)
    if not (seen.primary_probe.healthy and seen.standby_probe.healthy):
        waiting = "waiting for both members to pass their probes"
        return Plan(waiting=waiting, requeue_after=1, details=details)
    if desired.spec.replication.method == "rsync" and memory.last_sync is None:
        return Plan(waiting="waiting for the first replication", requeue_after=1, details=details)
    return Plan(actions=(Establish(memory.primary, memory.standby),), details=details)


def _automatic(
    desired: StandbyPair, seen: PairObserved, now: datetime, details: dict[str, Any]
) -> Plan:
    spec, memory = desired.spec, seen.memory
    down = f"primary {memory.primary} is down: {seen.primary_probe.last_error}"
    if spec.failover.mode == "manual":
        return Plan(
            waiting=f"{down}; failover is manual: run `homeport failover {desired.name}`",
            state_reason="PrimaryDown",
            details=details,
            conditions=(ConditionUpdate("Degraded", "True", "PrimaryDown", down),),
        )
    recent = [t for t in memory.automatic_failovers if now - t < timedelta(hours=1)]
    if len(recent) >= spec.failover.max_per_hour:
        message = (
            f"{down}; {len(recent)} automatic failovers in the last hour reached the budget "
            f"({spec.failover.max_per_hour}); run `homeport failover {desired.name}` to force one"
        )
        return Plan(
            waiting=message,
            state_reason="FailoverBudgetExhausted",
            details=details,
            conditions=(ConditionUpdate("Stalled", "True", "FailoverBudgetExhausted", message),),
        )
    if not seen.standby_probe.healthy:
        message = f"{down}; the standby {memory.standby} is not healthy either: {seen.standby_probe.last_error}"
        return Plan(
            waiting=message,
            state_reason="BothDown",
            requeue_after=1,
            details=details,
            conditions=(ConditionUpdate("Degraded", "True", "BothDown", message),),
        )
    gate = _data_loss_gate(desired, seen, now, accept=False)
    if gate is not None:
        return Plan(
            waiting=gate,
            state_reason="ReplicationLag",
            details=details,
            conditions=(ConditionUpdate("Stalled", "True", "ReplicationLag", gate),),
        )
    return Plan(actions=tuple(_failover(desired, seen, now, "automatic", down)), details=details)


def _data_loss_gate(
    desired: StandbyPair, seen: PairObserved, now: datetime, *, accept: bool
) -> str | None:
    spec = desired.spec
    if spec.replication.method == "none" or accept:
        return None
    since = seen.primary_probe.failed_since
    lag = lag_seconds(seen.memory, since or now)
    if lag is None or lag > spec.replication.max_lag_seconds:
        shown = (
            "the standby was never synced" if lag is None else f"the standby is {lag:.0f}s behind"
        )
        return (
            f"automatic promotion refused: {shown} (max {spec.replication.max_lag_seconds:.0f}s); "
            f"accept the loss with `homeport failover {desired.name} --accept-data-loss`"
        )
    return None


def _rpo(desired: StandbyPair, seen: PairObserved, now: datetime) -> float | None:
    if desired.spec.replication.method == "none":
        return 0.0
    since = seen.primary_probe.failed_since
    return lag_seconds(seen.memory, since or now)


def _failover(
    desired: StandbyPair, seen: PairObserved, now: datetime, trigger: str, reason: str
) -> list[Action]:
    """Unplanned: fence the failed primary by stopping its VM, promote the standby."""
    primary, standby, epoch = seen.primary, seen.standby, seen.memory.epoch + 1
    start = StartFailover(
        epoch,
        trigger,
        primary.app,
        standby.app,
        reason,
        detected_at=seen.primary_probe.detected_at or now,
        failed_since=seen.primary_probe.failed_since,
        rpo_seconds=_rpo(desired, seen, now),
    )
    return [
        start,
        *_steps(
            seen,
            primary,
            standby,
            epoch,
            planned=False,
            phase=Phase.FENCING,
            replicated=_rsync(desired),
        ),
    ]


def _switchover(
    desired: StandbyPair, seen: PairObserved, now: datetime, trigger: str, reason: str
) -> list[Action]:
    """Planned: drain, final sync, swap, zero loss."""
    primary, standby, epoch = seen.primary, seen.standby, seen.memory.epoch + 1
    start = StartFailover(epoch, trigger, primary.app, standby.app, reason, rpo_seconds=0.0)
    return [
        start,
        *_steps(
            seen,
            primary,
            standby,
            epoch,
            planned=True,
            phase=Phase.FENCING,
            replicated=_rsync(desired),
        ),
    ]


def _steps(
    seen: PairObserved,
    old: Member,
    new: Member,
    epoch: int,
    *,
    planned: bool,
    phase: Phase,
    replicated: bool,
) -> list[Action]:
    steps: list[Action] = []
    if phase == Phase.FENCING:
        steps.append(
            CutIngress(
                tuple(
                    RouteTarget(r.name, cut_route(r, old, epoch), r.exposure) for r in seen.routes
                ),
                old.app,
            )
        )
        steps.append(
            FencePrimary(old.app, old.node, old.vmid, old.host, old.unit, stop_vm=not planned)
        )
        steps.append(EnterPhase(epoch, Phase.PROMOTING))
        if planned and old.host and new.host:
            steps.append(
                FinalSync(
                    old.host,
                    rsync_command(old, new, seen.ssh_port, pair=seen.name, epoch=seen.memory.epoch),
                )
            )
    if phase in (Phase.FENCING, Phase.PROMOTING):
        if replicated and new.host:
            # Before the standby serves, it refuses the old primary's replication for good.
            steps.append(FenceReplication(seen.name, new.app, new.host, epoch))
        demote = (old.app, old.host or "", old.unit, old.env_path) if planned and old.host else None
        steps.append(
            Promote(
                new.app,
                new.host or "",
                new.unit,
                new.env_path,
                epoch,
                new.port,
                new.health,
                new.health.startup_grace_seconds,
                demote,
            )
        )
        steps.append(EnterPhase(epoch, Phase.REROUTING))
    steps.append(
        Reroute(
            tuple(
                RouteTarget(r.name, serving_route(r, new, epoch), r.exposure) for r in seen.routes
            ),
            new.app,
            epoch,
            max((r.timeouts.in_flight() for r in seen.routes if r.timeouts), default=0.0),
        )
    )
    steps.append(FinishFailover(epoch, Phase.HEALTHY if planned else Phase.DEGRADED))
    return steps


def _resume(desired: StandbyPair, seen: PairObserved, now: datetime) -> list[Action]:
    """A daemon died mid-failover: continue at the recorded phase with the recorded epoch."""
    record = seen.memory.failover
    assert record is not None  # plan_pair resumes only a recorded failover
    members = {seen.primary.app: seen.primary, seen.standby.app: seen.standby}
    old, new = members[record.from_app], members[record.to_app]
    planned = not record.automatic
    return _steps(
        seen,
        old,
        new,
        record.epoch,
        planned=planned,
        phase=seen.memory.phase,
        replicated=_rsync(desired),
    )


def _members(seen: PairObserved) -> list[tuple[str, str | None, str]]:
    return [(m.app, m.host, m.unit) for m in (seen.primary, seen.standby)]


def _rsync(desired: StandbyPair) -> bool:
    return desired.spec.replication.method == "rsync"


def _request(desired: StandbyPair, seen: PairObserved, now: datetime) -> list[Action] | None:
    request = dict(seen.request or {})
    op = request.get("op")
    memory = seen.memory
    if op == "failback" and memory.primary == desired.spec.primary:
        return [ClearRequest("failback", f"{memory.primary} is already the primary")]
    if op in ("failover", "failback"):
        if memory.phase == Phase.DEGRADED:
            return [ClearRequest(op, "the pair is Degraded: the standby must be rebuilt first")]
        at = seen.requested_at
        if at is not None and now - at > REQUEST_EXPIRY:
            return [
                ClearRequest(op, f"expired after {REQUEST_EXPIRY.total_seconds() / 60:.0f} minutes")
            ]
        if (
            seen.primary_probe.healthy
            and seen.standby_probe.healthy
            and memory.phase == Phase.HEALTHY
        ):
            return [
                *_switchover(desired, seen, now, op, f"requested by `homeport {op}`"),
                ClearRequest(op, "done"),
            ]
        if not seen.standby_probe.healthy:
            return None  # keep the request until the standby is healthy (or it expires)
        gate = _data_loss_gate(desired, seen, now, accept=bool(request.get("accept_data_loss")))
        if gate is not None:
            return None  # keep the request; the plan reports the gate
        return [
            *_failover(desired, seen, now, "manual", f"requested by `homeport {op}`"),
            ClearRequest(op, "done"),
        ]
    return [ClearRequest(str(op), "unknown request")]


def _setup_replication(desired: StandbyPair, seen: PairObserved) -> SetUpReplication:
    hosts = (
        (seen.primary.app, seen.primary.host or ""),
        (seen.standby.app, seen.standby.host or ""),
    )
    return SetUpReplication(
        hosts,
        (seen.memory.primary, seen.memory.standby),
        seen.ssh_port,
        pair=desired.name,
        epoch=seen.memory.epoch,
        data_dir=seen.standby.data_dir,
    )


def _degraded(
    desired: StandbyPair, seen: PairObserved, now: datetime, details: dict[str, Any]
) -> Plan:
    memory = seen.memory
    standby = seen.standby
    if _crossed(desired, seen.primary_probe):
        message = f"the new primary {memory.primary} is down too while the standby is not rebuilt"
        return Plan(
            waiting=message,
            state_reason="BothDown",
            requeue_after=1,
            details=details,
            conditions=(ConditionUpdate("Degraded", "True", "BothDown", message),),
        )
    ready_again = (
        standby.app_ready and standby.app_epoch == memory.epoch and seen.standby_probe.healthy
    )
    if not ready_again:
        why = (
            f"waiting for {standby.app} to return as the standby (epoch {memory.epoch})"
            if standby.host
            else f"waiting for {standby.app}'s VM to return"
        )
        return Plan(
            waiting=why,
            state_reason="Degraded",
            requeue_after=5,
            details=details,
            conditions=(ConditionUpdate("Degraded", "True", "StandbyMissing", why),),
        )
    actions: list[Action] = []
    if desired.spec.replication.method == "rsync":
        if not memory.channel_ready():
            actions.append(_setup_replication(desired, seen))
        if seen.primary.host and standby.host:
            command = rsync_command(
                seen.primary, standby, seen.ssh_port, pair=desired.name, epoch=memory.epoch
            )
            actions.append(Resync(seen.primary.host, command))
    if desired.spec.self_fence.enabled and standby.host:
        # Its guard may be gone with a re-created VM: install again (a no-op when present).
        actions.append(InstallSelfFence(standby.app, standby.host, standby.unit))
    actions.append(FinishRebuild(standby.app))
    return Plan(actions=tuple(actions), details=details)
