"""The reconciler contract: ``observe`` → pure ``plan`` → ``act``, one module per kind.

``homeport.controller.engine`` drives it for one key at a time: it observes through the
clients (``ReconcileContext``), asks the pure ``plan(desired, observed, *, now)`` for
typed ``Action`` values (what ``homeport plan`` prints), journals each mutating action,
then ``act``s it. ``desired`` is ``None`` when the object was removed from git: the plan
is then the prune (only what homeport owns, never with ``homeport.dev/prune: disabled``).
"""

from __future__ import annotations

import asyncio
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from homeport.kinds import Resource
from homeport.reconcilers.errors import TemporaryError

if TYPE_CHECKING:
    # Types only: plan modules import this one and must not load a client (see the
    # purity contract in pyproject.toml).
    from homeport.clients.bundle import ClientName, Clients

D = TypeVar("D", bound=Resource)
Key = tuple[str, str]
O = TypeVar("O")  # noqa: E741 - the observation type


class Action(ABC):
    """One change to the world, as a frozen value that renders a human diff.

    Subclasses are frozen dataclasses. ``describe()`` must mask secrets: it is journaled,
    logged and printed by ``homeport plan``.
    """

    verb: ClassVar[str] = "change"
    mutating: ClassVar[bool] = True
    reported: ClassVar[bool] = False
    """The reconciler records its own, named event for this action (``Established``):
    the engine adds no generic one, or the action would be reported twice."""

    @abstractmethod
    def describe(self) -> str:
        """One line saying what changes, e.g. ``clone template 9000 → vmid 1004 on pve2``."""

    @property
    def corrects_drift(self) -> bool:
        """This action undoes a change made outside homeport (counted as a drift correction),
        rather than applying a change of the desired state."""
        return False

    def identity(self) -> str:
        """Stable text identifying this action for its idempotency key."""
        return self.describe()

    def idempotency_key(self, kind: str, name: str, generation: int) -> str:
        digest = hashlib.sha256(self.identity().encode()).hexdigest()[:16]
        return f"{kind}/{name}/g{generation}/{self.verb}/{digest}"


@dataclass(frozen=True)
class ConditionUpdate:
    """A condition the plan reports besides Ready/Reconciling (e.g. Degraded)."""

    type: str
    status: str
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Plan:
    """What to do for one object, and what to report when there is nothing to do."""

    actions: tuple[Action, ...] = ()
    reason: str = ""
    """Why nothing needs doing (``VM is running with the declared config``) or a summary."""
    ready: bool = False
    """With no actions: the object is Ready (e.g. VM running and reachable)."""
    waiting: str | None = None
    """With no actions and not ready: what we wait for (guest agent, a task, a dependency)."""
    requeue_after: float | None = None
    """Look again after this many seconds (e.g. while waiting)."""
    state_reason: str | None = None
    """With no actions and not ready: the Ready condition's reason (default ``Waiting``)."""
    gone: bool = False
    """For a prune: nothing homeport owns is left; the object can be forgotten."""
    in_progress: bool = False
    """With no actions: work homeport started is still running in the world (a Proxmox
    task, a lock): not converged, though there is nothing to do but wait
    (``homeport plan`` counts it as a pending change)."""
    conditions: tuple[ConditionUpdate, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    """Observations to publish in status.details (vmid, node, address, release, ...)."""

    @property
    def empty(self) -> bool:
        return not self.actions


class AllocationTaken(Exception):
    """``ReconcileContext.allocate``: another object holds the value (pick another one).

    The only failure of ``allocate`` a reconciler answers by planning again; any other
    (the store, the shared replica) propagates as what it is."""

    def __init__(self, pool: str, value: int) -> None:
        self.pool = pool
        self.value = value
        super().__init__(f"{pool} {value} is taken by another object")


class EstateView(Protocol):
    """What a reconcile reads of the estate: the object's key, the time, other objects'
    desired state and published status, the store's backup records. Reads only (a plan
    or observe helper that looks at other objects asks for just this)."""

    @property
    def key(self) -> tuple[str, str]:
        """(kind, name) of the object being reconciled."""
        ...

    def now(self) -> datetime: ...

    def status_details(self, kind: str, name: str) -> Mapping[str, Any]:
        """Another object's published status details (e.g. an App reads its VM's address)."""
        ...

    def desired(self, kind: str, name: str) -> Resource | None:
        """Another object's desired state from the adopted revision."""
        ...

    def last_manifest(self) -> Resource | None:
        """This object's manifest as last adopted, also while it is pruned (``desired`` is
        then None): what it declared about its own removal (a VM's deletionPolicy)."""
        ...

    def is_ready(self, kind: str, name: str) -> bool:
        """Whether another object's Ready condition is True."""
        ...

    def objects(self, kind: str) -> list[tuple[Resource, Mapping[str, Any]]]:
        """Every live object of a kind with its published status details."""
        ...

    def backup_records(self, vm: str) -> list[dict[str, Any]]:
        """The store's records of a VM's archives, newest first."""
        ...


def own_desired(ctx: EstateView, model: type[D]) -> D:
    """The reconciled object's own manifest as its kind's ``model``, for an action that
    needs it; a push that removed the object meanwhile means looking again at once."""
    kind, name = ctx.key
    resource = ctx.desired(kind, name)
    if not isinstance(resource, model):
        raise TemporaryError(f"the {kind} disappeared from the adopted revision", delay=0)
    return resource


class DurableMemory(Protocol):
    """What survives a crash and is seen by other reconcilers at once: an object's memory
    documents and its allocations (vmids)."""

    def recall(self, kind: str | None = None, name: str | None = None) -> dict[str, Any]:
        """Durable memory of this object (or of another one): survives crashes, is visible
        to other reconcilers at once (unlike status, written after the reconcile)."""
        ...

    def remember(self, value: Mapping[str, Any], *, slot: str | None = None) -> None:
        """Replace this object's durable memory (written before returning); ``slot`` keeps a
        separate document (e.g. an operator's pending request)."""
        ...

    def allocated(self, pool: str) -> int | None:
        """This object's persistent allocation from ``pool`` (e.g. its vmid), if any."""
        ...

    def taken(self, pool: str) -> set[int]:
        """Every value of ``pool`` allocated to any object."""
        ...

    def allocate(
        self, pool: str, value: int, *, high: int | None = None, unavailable: Iterable[int] = ()
    ) -> int:
        """Record ``value`` as this object's allocation; ``AllocationTaken`` if another
        object holds it. With ``high``: the first free value of ``value..high`` not in
        ``unavailable`` (``AllocationTaken`` when none is)."""
        ...

    def release(self, pool: str) -> None:
        """Forget this object's allocation from ``pool`` (after a prune)."""
        ...


class Effects(Protocol):
    """What a reconcile tells the controller: events, wake-ups, the store's records of
    failovers and backups."""

    def event(
        self, reason: str, message: str, *, warning: bool = False, about: Key | None = None
    ) -> None:
        """Record an event on the object being reconciled, or on the object ``about`` that
        this one acts on (the estate's power events on the VMs they stop and start)."""
        ...

    def wake(self, kind: str, name: str) -> None:
        """Reconcile another object soon (e.g. a fenced primary's VM after a failover)."""
        ...

    def record_failover(self, epoch: int, fields: Mapping[str, Any]) -> None:
        """Create or update this StandbyPair's failover record for ``epoch`` (its timeline)."""
        ...

    def record_backup(self, volid: str, fields: Mapping[str, Any]) -> None:
        """Create or update the store's record of an archive (checksum, offsite copies,
        restore test); ``offsite`` entries merge per target."""
        ...


class ClientAccess(Protocol):
    """The world through the clients: the ones this kind declared (``Reconciler.uses``),
    typed, and per-resync shared observations."""

    @property
    def clients(self) -> Clients:
        """This kind's clients: ``ctx.clients.proxmox`` and so on; one it did not declare
        raises ``MissingClient``."""
        ...

    async def shared(self, key: str, load: Any) -> Any:
        """A per-resync shared observation (one list call serves every object of a kind)."""
        ...

    def invalidate(self, key: str) -> None:
        """Drop a shared observation after a mutation changed it."""
        ...


class ReconcileContext(EstateView, DurableMemory, Effects, ClientAccess, Protocol):
    """What reconcilers may use; implemented by the controller (``controller/context.py``).

    The union of the narrow protocols above: a helper asks for only the part it uses
    (``EstateView`` to read other objects, ``ClientAccess`` to observe), which says what it
    touches and lets a test hand it a small fake."""


class BackgroundEnv(Protocol):
    """What a reconciler's background loop (probes, replication) may use."""

    stop: asyncio.Event

    def is_leader(self) -> bool: ...

    def objects(self, kind: str) -> list[tuple[Resource, Mapping[str, Any]]]: ...

    def context(self, kind: str, name: str) -> ReconcileContext: ...

    def wake(self, kind: str, name: str) -> None:
        """Reconcile this object now (e.g. a probe crossed its failure threshold)."""
        ...

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None:
        """Sleep, returning early when ``stop`` is set."""
        ...


class Reconciler(ABC, Generic[D, O]):
    """Base of the per-kind reconcilers."""

    kind: ClassVar[str]
    gated_by: ClassVar[frozenset[str] | None] = None
    """Kinds of implicit dependencies that must be Ready before this one is reconciled
    (None: all). Explicit ``dependsOn`` always gates. A StandbyPair, for one, must never
    wait for its failed primary."""
    uses: ClassVar[frozenset[ClientName]] = frozenset()
    """The clients this kind reaches the world through, and the only ones its context
    holds (``ctx.clients``); the engine refuses to start when one is not configured."""
    standalone: ClassVar[tuple[str, ...]] = ()
    """Names of objects of this kind that exist without a manifest (``Estate/power``, which
    runs the operator's estate power requests): the engine reconciles them like the others
    — leadership, journal, fencing token, error policy — with ``desired`` None and no
    status row, dependencies or holds."""

    @abstractmethod
    async def observe(self, desired: D | None, name: str, ctx: ReconcileContext) -> O:
        """Read the world for one object (through shared snapshots where possible)."""

    @abstractmethod
    def plan(self, desired: D | None, observed: O, *, now: datetime) -> Plan:
        """Pure: no I/O, no clock. ``desired`` None means prune."""

    @abstractmethod
    async def act(self, action: Action, ctx: ReconcileContext) -> None:
        """Perform one action; raise a controller error type on failure."""

    async def background(self, env: BackgroundEnv) -> None:
        """Work that runs beside reconciles, independent of the resync (default: none)."""
        return
