"""What a StandbyPair remembers across reconciles and crashes, typed: its ``Phase`` and its
``PairState`` (the store's ``StandbyPair`` memory, ``slots.PAIR_MEMORY``).

The epoch (fencing token) only ever increases; ``phase`` names the step a failover is in,
so a restarted daemon resumes exactly there; ``failover`` is the timeline being written.
The state is frozen and holds real ``datetime``s: it is read from the stored JSON document
in ``PairState.load`` and written back in ``PairState.dump``, and nowhere else, so the pure
plan compares times and never parses a string. The document keeps the keys and the
ISO-string times it always had: a store written by an older homeport loads unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from homeport.reconcilers.errors import PermanentError
from homeport.reconcilers.slots import (
    FailoverDocument,
    FinalSyncDocument,
    PairMemoryDocument,
    QuarantineDocument,
    StepDocument,
)

CHANNEL = "restricted-epoch-v1"
"""Per-pair, per-direction key, forced receive wrapper, epoch-fenced (``replkeys.py``)."""


class Phase(StrEnum):
    """Where the pair is. String-valued: the stored document keeps the names it always had."""

    HEALTHY = "Healthy"
    FENCING = "Fencing"
    PROMOTING = "Promoting"
    REROUTING = "Rerouting"
    DEGRADED = "Degraded"

    @property
    def in_flight(self) -> bool:
        """A failover is running: a restarted daemon resumes it at this phase."""
        return self in IN_FLIGHT


IN_FLIGHT = frozenset({Phase.FENCING, Phase.PROMOTING, Phase.REROUTING})


class UnreadablePairState(PermanentError):
    """A stored pair state this homeport cannot read (a newer one wrote it, or it was
    edited): the pair stalls, and nothing probes, fences, promotes or reroutes on a guess
    of its phase or epoch."""

    def __init__(self, what: str) -> None:
        known = ", ".join(p.value for p in Phase)
        super().__init__(
            f"its stored state cannot be read: {what}; nothing is done to the pair meanwhile",
            reason="UnreadablePairState",
            fix=f"run the homeport that wrote it, or a newer one (this one knows the phases "
            f"{known} and whole-number epochs)",
        )


def _phase(value: object) -> Phase:
    if not value:
        return Phase.HEALTHY
    try:
        return Phase(str(value))
    except ValueError:
        raise UnreadablePairState(f"phase {value!r} is unknown to this homeport") from None


def _epoch(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UnreadablePairState(f"epoch {value!r} is not a whole number")
    try:
        return int(value)
    except ValueError:
        raise UnreadablePairState(f"epoch {value!r} is not a whole number") from None


def parse_time(value: object) -> datetime | None:
    """A stored ISO time (None: absent, or not a time, as a hand-written request's ``at``)."""
    if not isinstance(value, str) or not value[:4].isdigit():
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Step:
    """One line of a failover's timeline (``homeport describe standbypair``)."""

    phase: str
    at: datetime
    detail: str = ""

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Step:
        at = parse_time(data.get("at"))
        if at is None:
            raise ValueError(f"a failover step without a time: {dict(data)!r}")
        return cls(str(data.get("phase", "")), at, str(data.get("detail", "")))

    def dump(self) -> StepDocument:
        return {"phase": str(self.phase), "at": self.at.isoformat(), "detail": self.detail}


@dataclass(frozen=True)
class Failover:
    """The failover in progress: its epoch, trigger, from/to and timeline."""

    epoch: int
    from_app: str
    to_app: str
    trigger: str = ""
    reason: str = ""
    started_at: datetime | None = None
    rpo_seconds: float | None = None
    steps: tuple[Step, ...] = ()
    restarted: tuple[str, ...] = ()
    """The Apps the promotion restarted already (a retried promotion restarts no more)."""

    @property
    def automatic(self) -> bool:
        return self.trigger == "automatic"

    def step(self, phase: str, at: datetime, detail: str) -> Failover:
        return replace(self, steps=(*self.steps, Step(phase, at, detail)))

    def at(self, phase: str) -> datetime | None:
        """When the timeline first reached ``phase``."""
        return next((s.at for s in self.steps if s.phase == phase), None)

    def timeline(self) -> list[StepDocument]:
        return [s.dump() for s in self.steps]

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Failover:
        rpo = data.get("rpo_seconds")
        return cls(
            epoch=int(data["epoch"]),
            from_app=str(data.get("from") or ""),
            to_app=str(data.get("to") or ""),
            trigger=str(data.get("trigger") or ""),
            reason=str(data.get("reason") or ""),
            started_at=parse_time(data.get("started_at")),
            rpo_seconds=float(rpo) if isinstance(rpo, int | float) else None,
            steps=tuple(Step.load(s) for s in data.get("steps") or ()),
            restarted=tuple(str(a) for a in data.get("restarted") or ()),
        )

    def dump(self) -> FailoverDocument:
        document: FailoverDocument = {
            "epoch": self.epoch,
            "trigger": self.trigger,
            "from": self.from_app,
            "to": self.to_app,
            "reason": self.reason,
            "started_at": _stamp(self.started_at),
            "rpo_seconds": self.rpo_seconds,
            "steps": self.timeline(),
        }
        if self.restarted:
            document["restarted"] = list(self.restarted)
        return document


@dataclass(frozen=True)
class Quarantine:
    """An old primary that could not be stopped (node unreachable): stop it first on return."""

    app: str
    since: datetime | None = None
    vmid: int | None = None
    node: str | None = None
    stopped_at: datetime | None = None
    """When its unit was stopped on its return (then its App redeploys it as the standby)."""

    @property
    def awaiting_stop(self) -> bool:
        return self.stopped_at is None

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Quarantine:
        vmid, node = data.get("vmid"), data.get("node")
        return cls(
            app=str(data.get("app") or ""),
            since=parse_time(data.get("since")),
            vmid=int(vmid) if vmid is not None else None,
            node=str(node) if node is not None else None,
            stopped_at=parse_time(data.get("stopped_at")),
        )

    def dump(self) -> QuarantineDocument:
        document: QuarantineDocument = {
            "app": self.app,
            "vmid": self.vmid,
            "node": self.node,
            "since": _stamp(self.since),
        }
        if self.stopped_at is not None:
            document["stopped_at"] = self.stopped_at.isoformat()
        return document


@dataclass(frozen=True)
class PairState:
    primary: str
    standby: str
    epoch: int = 1
    phase: Phase = Phase.HEALTHY
    failover: Failover | None = None
    quarantine: Quarantine | None = None
    last_sync: datetime | None = None
    last_sync_error: str | None = None
    automatic_failovers: tuple[datetime, ...] = ()
    """Times of automatic failovers (the failover budget counts the last hour)."""
    replication_keys: tuple[str, ...] = ()
    """The (primary, standby) Apps whose VMs hold the replication key."""
    replication_channel: str = ""
    """Which kind of channel they hold (``CHANNEL``); an older one is set up anew."""
    self_fence_on: tuple[str, ...] = ()
    """Apps whose VMs run the self-fence guard (``selffence.py``); the primary's is renewed."""
    established: bool = False
    """Both members were healthy (and synced) once; before that nothing fails over."""
    standby_reset_at: datetime | None = None
    """When homeport last reset a hung standby's VM (``hungstandby.py``)."""
    final_sync: FinalSyncDocument | None = None
    """The pair's answer to the estate shutdown's hold of its primary (``finalsync.py``)."""

    @classmethod
    def load(cls, data: Mapping[str, Any] | None, *, primary: str, standby: str) -> PairState:
        """The state a stored document holds (a pair never stored starts Healthy, epoch 1)."""
        if not data:
            return cls(primary=primary, standby=standby)
        failover, quarantine = data.get("failover"), data.get("quarantine")
        return cls(
            primary=str(data.get("primary") or primary),
            standby=str(data.get("standby") or standby),
            epoch=_epoch(data.get("epoch", 1)),
            phase=_phase(data.get("phase")),
            failover=Failover.load(failover) if failover else None,
            quarantine=Quarantine.load(quarantine) if quarantine else None,
            last_sync=parse_time(data.get("last_sync")),
            last_sync_error=data.get("last_sync_error"),
            automatic_failovers=tuple(
                t for t in map(parse_time, data.get("automatic_failovers") or ()) if t is not None
            ),
            replication_keys=tuple(data.get("replication_keys") or ()),
            replication_channel=str(data.get("replication_channel") or ""),
            self_fence_on=tuple(data.get("self_fence_on") or ()),
            established=bool(data.get("established", False)),
            standby_reset_at=parse_time(data.get("standby_reset_at")),
            final_sync=data.get("final_sync") or None,
        )

    def dump(self) -> PairMemoryDocument:
        document = self._dump()
        if self.final_sync is not None:  # absent until the first estate shutdown
            document["final_sync"] = self.final_sync
        return document

    def _dump(self) -> PairMemoryDocument:
        return {
            "primary": self.primary,
            "standby": self.standby,
            "epoch": self.epoch,
            "phase": self.phase.value,
            "failover": self.failover.dump() if self.failover else None,
            "quarantine": self.quarantine.dump() if self.quarantine else None,
            "last_sync": _stamp(self.last_sync),
            "last_sync_error": self.last_sync_error,
            "automatic_failovers": [t.isoformat() for t in self.automatic_failovers],
            "replication_keys": list(self.replication_keys),
            "replication_channel": self.replication_channel,
            "self_fence_on": list(self.self_fence_on),
            "established": self.established,
            "standby_reset_at": _stamp(self.standby_reset_at),
        }

    def channel_ready(self) -> bool:
        """The replication channel runs primary → standby, of the current kind."""
        return (
            self.replication_keys == (self.primary, self.standby)
            and self.replication_channel == CHANNEL
        )

    def quarantines(self, app: str) -> bool:
        return self.quarantine is not None and self.quarantine.app == app
