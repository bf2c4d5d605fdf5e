"""The steps of a StandbyPair's life, as values: each is journaled before it runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from homeport.clients.caddy_config import Exposure
from homeport.kinds.app import HealthCheck
from homeport.reconcilers.base import Action
from homeport.reconcilers.standbypair.state import Phase


@dataclass(frozen=True)
class RouteTarget:
    """One ProxyRoute of the pair, as Caddy should run it."""

    name: str
    route: Mapping[str, Any]
    exposure: Exposure = "public"
    """The server block the route lives in (a failover never moves it to another)."""


@dataclass(frozen=True)
class StartFailover(Action):
    epoch: int
    trigger: str  # automatic | manual (primary down) | failover | failback | maintenance
    from_app: str
    to_app: str
    reason: str
    detected_at: datetime | None = None
    failed_since: datetime | None = None
    rpo_seconds: float | None = None
    verb = "failover"
    phase: ClassVar[Phase] = Phase.FENCING
    """A failover starts by fencing (``transitions.py``)."""

    def describe(self) -> str:
        rpo = (
            f", data-loss window ≤ {self.rpo_seconds:.1f}s" if self.rpo_seconds is not None else ""
        )
        return f"{self.trigger} failover {self.from_app} → {self.to_app} (epoch {self.epoch}): {self.reason}{rpo}"


@dataclass(frozen=True)
class CutIngress(Action):
    routes: tuple[RouteTarget, ...]
    from_app: str
    verb = "cut-ingress"

    def describe(self) -> str:
        if not self.routes:  # e.g. a database pair: its clients reach the primary directly
            return f"cut {self.from_app} from the ingress: no ProxyRoute routes to the pair"
        names = ", ".join(r.name for r in self.routes)
        return f"cut {self.from_app} from the ingress ({names} answer 503 meanwhile)"


@dataclass(frozen=True)
class FencePrimary(Action):
    app: str
    node: str | None
    vmid: int | None
    host: str | None
    unit: str
    stop_vm: bool
    """True: stop the VM through Proxmox (failover); False: stop the unit only (switchover)."""
    verb = "fence"

    def describe(self) -> str:
        if self.stop_vm:
            return f"fence {self.app}: stop VM {self.vmid} on {self.node} through the Proxmox API and confirm it stopped"
        return f"fence {self.app}: stop {self.unit} on {self.host}"


@dataclass(frozen=True)
class FinalSync(Action):
    source_host: str
    command: tuple[str, ...]
    verb = "final-sync"

    def describe(self) -> str:
        return f"final sync of the data from {self.source_host} before the switchover"


@dataclass(frozen=True)
class Promote(Action):
    app: str
    host: str
    unit: str
    env_path: str
    epoch: int
    port: int
    health: HealthCheck
    timeout: float
    """The App's startup grace: how long the promoted App may take to pass its check."""
    demote: tuple[str, str, str, str] | None = None
    """(app, host, unit, env path) of the old primary to restart as standby (switchover)."""
    verb = "promote"

    def describe(self) -> str:
        demote = f"; {self.demote[0]} restarts as standby" if self.demote else ""
        return f"promote {self.app} with epoch {self.epoch} and wait until it is healthy{demote}"


@dataclass(frozen=True)
class Reroute(Action):
    routes: tuple[RouteTarget, ...]
    to_app: str
    epoch: int
    in_flight_seconds: float = 0.0
    """How long after the ingress cut a request forwarded to the old primary before it can
    still be answered (``MemberTimeouts.in_flight``): waited out before the new primary
    serves when the old one was not confirmed stopped."""
    verb = "reroute"

    def describe(self) -> str:
        if not self.routes:
            return f"no ProxyRoute to move: {self.to_app} serves (epoch {self.epoch}) on its own address"
        names = ", ".join(r.name for r in self.routes)
        return f"route {names} to {self.to_app} (epoch {self.epoch}) and read Caddy's config back"


@dataclass(frozen=True)
class EnterPhase(Action):
    """The failover of ``epoch`` moves on to ``phase``: the step before it is done, so a
    daemon that dies from here on resumes at ``phase`` (``plan.py``'s ``_resume``)."""

    epoch: int
    phase: Phase
    verb = "enter-phase"
    reported = True  # the failover's record and timeline say it; no event of its own

    def describe(self) -> str:
        return f"failover to epoch {self.epoch} enters {self.phase}"


@dataclass(frozen=True)
class FinishFailover(Action):
    epoch: int
    phase: Phase
    verb = "failover-done"

    def describe(self) -> str:
        return f"failover to epoch {self.epoch} done; pair is {self.phase}"


@dataclass(frozen=True)
class StopStaleApp(Action):
    app: str
    host: str
    unit: str
    # The engine's event for it is the one event of the stop (the Warning was given when
    # the primary was quarantined); the reconciler adds none.
    verb = "quarantine"

    def describe(self) -> str:
        return f"stop the returned old primary {self.app} ({self.unit} on {self.host}) before anything else"


@dataclass(frozen=True)
class SetUpReplication(Action):
    hosts: tuple[tuple[str, str], ...]
    """(app, host) of the primary, then the standby."""
    apps: tuple[str, str]
    port: int
    pair: str = ""
    epoch: int = 1
    data_dir: str = ""
    """The standby's data directory: the only place the pair's key may write."""
    verb = "replication-keys"

    def describe(self) -> str:
        (source, _), (target, host) = self.hosts
        return (
            f"authorize {source} → {target} replication on {host} (a key for this pair and "
            f"direction, restricted to rsync into {self.data_dir}, epoch {self.epoch})"
        )


@dataclass(frozen=True)
class Resync(Action):
    source_host: str
    command: tuple[str, ...]
    verb = "resync"

    def describe(self) -> str:
        return f"rebuild the standby's data from the primary ({self.source_host})"


@dataclass(frozen=True)
class FinishRebuild(Action):
    standby: str
    verb = "rebuilt"
    phase: ClassVar[Phase] = Phase.HEALTHY
    reported = True  # the reconciler's own event

    def describe(self) -> str:
        return f"{self.standby} is the warm standby again; pair is Healthy"


@dataclass(frozen=True)
class ClearRequest(Action):
    request: str
    why: str
    verb = "request"

    def describe(self) -> str:
        return f"drop the request {self.request}: {self.why}"


@dataclass(frozen=True)
class Establish(Action):
    primary: str
    standby: str
    verb = "established"
    reported = True  # the reconciler's own event

    def describe(self) -> str:
        return f"{self.primary} serves and {self.standby} is a warm, synced standby: automatic failover is armed"
