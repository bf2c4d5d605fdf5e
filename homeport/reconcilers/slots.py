"""Every slot of the store's durable memory, declared once with its payload.

The store keeps JSON documents keyed by (row kind, name) (``controller/store``'s
``Memory``); reconcilers reach them through ``ctx.recall``/``ctx.remember``, the CLI and
the controller's side services through ``store.memory``. A slot here names one kind of
document — its row kind (``<Kind>`` for an object's main memory, ``<Kind>.<slot>`` for a
separate document of that object) and its payload as a ``TypedDict`` — so mypy checks
every read and write, and "who writes X" is a search for one name. No other module spells
a row kind (``tests/test_memory_slots.py`` checks it).

Payloads are ``TypedDict``s, not models: a document is stored and read back exactly as
it was written (the keys in use today, camelCase included), with no conversion that an
older store could trip over. Documents are read as written; the registry's test checks
that the documents today's writers produce match these declarations key for key.

Shared by the CLI, the controller and the reconcilers (the lowest layer all three may
import), so it imports nothing of homeport.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic reads typing's own only from 3.12


class MemoryRows(Protocol):
    """The store's memory table (``controller/store``'s ``Memory``)."""

    def get(self, kind: str, name: str) -> dict[str, Any]: ...

    def set(self, kind: str, name: str, value: dict[str, Any], *, now: str) -> None: ...

    def forget(self, kind: str, name: str) -> None: ...


class HasMemory(Protocol):
    """A store (``controller/store``'s ``Store``)."""

    @property
    def memory(self) -> MemoryRows: ...


class Recalls(Protocol):
    """A reconciler's view of memory (``ReconcileContext``'s ``recall``/``remember``)."""

    def recall(self, kind: str | None = None, name: str | None = None) -> dict[str, Any]: ...

    def remember(self, value: Mapping[str, Any], *, slot: str | None = None) -> None: ...


T = TypeVar("T")


def _document(value: object) -> dict[str, Any]:
    return cast(dict[str, Any], value)


@dataclass(frozen=True)
class ObjectSlot(Generic[T]):
    """One document per object of ``owner``: its main memory (``slot`` None, row kind
    ``<owner>``) or a separate document (row kind ``<owner>.<slot>``), forgotten with the
    object."""

    owner: str
    slot: str | None
    payload: type[T]

    @property
    def kind(self) -> str:
        """The row kind the store keys the document by."""
        return f"{self.owner}.{self.slot}" if self.slot else self.owner

    def get(self, store: HasMemory, name: str) -> T | None:
        """The document of ``name`` (None: none, or an empty one)."""
        document = store.memory.get(self.kind, name)
        return cast(T, document) if document else None

    def set(self, store: HasMemory, name: str, value: T, *, now: str) -> None:
        store.memory.set(self.kind, name, _document(value), now=now)

    def forget(self, store: HasMemory, name: str) -> None:
        store.memory.forget(self.kind, name)

    def recall(self, ctx: Recalls, name: str | None = None) -> T | None:
        """Inside a reconcile: the document of ``name`` (default: the object reconciled)."""
        document = ctx.recall(self.kind, name)
        return cast(T, document) if document else None

    def remember(self, ctx: Recalls, value: T) -> None:
        """Inside a reconcile of an ``owner`` object: replace its document."""
        ctx.remember(_document(value), slot=self.slot)

    def clear(self, ctx: Recalls) -> None:
        """Inside a reconcile of an ``owner`` object: drop its document (a slot's row goes)."""
        ctx.remember({}, slot=self.slot)


@dataclass(frozen=True)
class AnyKindSlot(Generic[T]):
    """The same separate document for objects of any kind (row kind ``<Kind>.<slot>``)."""

    slot: str
    payload: type[T]

    def of(self, kind: str) -> ObjectSlot[T]:
        return ObjectSlot(kind, self.slot, self.payload)

    def get(self, store: HasMemory, kind: str, name: str) -> T | None:
        return self.of(kind).get(store, name)

    def set(self, store: HasMemory, kind: str, name: str, value: T, *, now: str) -> None:
        self.of(kind).set(store, name, value, now=now)

    def forget(self, store: HasMemory, kind: str, name: str) -> None:
        self.of(kind).forget(store, name)


@dataclass(frozen=True)
class SingleSlot(Generic[T]):
    """One document for the whole estate, at a fixed (row kind, name)."""

    kind: str
    name: str
    payload: type[T]

    def get(self, store: HasMemory) -> T | None:
        document = store.memory.get(self.kind, self.name)
        return cast(T, document) if document else None

    def set(self, store: HasMemory, value: T, *, now: str) -> None:
        store.memory.set(self.kind, self.name, _document(value), now=now)

    def recall(self, ctx: Recalls) -> T | None:
        document = ctx.recall(self.kind, self.name)
        return cast(T, document) if document else None

    def remember(self, ctx: Recalls, value: T) -> None:
        """Inside a reconcile of the object (``kind``, ``name``) itself: its own memory."""
        ctx.remember(_document(value))


# -- payloads ------------------------------------------------------------------------------

STORED = ConfigDict(extra="forbid", strict=True)
"""How the registry's test holds today's documents against a payload (pydantic reads the
``TypedDict``): every key declared, every value of its declared JSON type."""


@with_config(STORED)
class SuspendRequest(TypedDict):
    """``homeport suspend``: the engine skips the object until ``homeport resume``."""

    by: str
    at: str
    """ISO time of the suspension."""


@with_config(STORED)
class _PairRequestBase(TypedDict):
    op: str
    """``failover`` or ``failback``."""
    at: str
    """ISO time of the request; the pair drops a request older than its own decision."""


@with_config(STORED)
class PairRequest(_PairRequestBase, total=False):
    """``homeport failover``/``failback``: an operator's request the StandbyPair
    reconciler takes, then clears."""

    accept_data_loss: bool


@with_config(STORED)
class StepDocument(TypedDict, total=False):
    """One line of a failover's timeline."""

    phase: str
    at: str
    detail: str


# The functional form: "from" is a Python keyword.
FailoverDocument = TypedDict(
    "FailoverDocument",
    {
        "epoch": int,
        "trigger": str,
        "from": str,
        "to": str,
        "reason": str,
        "started_at": str | None,
        "rpo_seconds": float | None,
        "steps": list[StepDocument],
        "restarted": list[str],
    },
    total=False,
)
"""The failover in progress (``standbypair/state.py``'s ``Failover``)."""
with_config(STORED)(FailoverDocument)


@with_config(STORED)
class QuarantineDocument(TypedDict, total=False):
    """An old primary the pair could not stop (``standbypair/state.py``'s ``Quarantine``)."""

    app: str
    vmid: int | None
    node: str | None
    since: str | None
    stopped_at: str


@with_config(STORED)
class FinalSyncDocument(TypedDict, total=False):
    """The pair's answer to an estate shutdown's hold of its primary: the last sync before
    the primary's VM stops (``standbypair/finalsync.py``); read through ``PairView``."""

    hold: str
    """The hold it answers (why its primary App is held: names the shutdown and layer)."""
    at: str
    outcome: str
    """``synced``, ``skipped`` (nothing to sync through) or ``failed``."""
    message: str


@with_config(STORED)
class PairMemoryDocument(TypedDict, total=False):
    """The StandbyPair's own memory as stored; typed, loaded and dumped only by
    ``standbypair/state.py``'s ``PairState`` (times are ISO strings here)."""

    primary: str
    standby: str
    epoch: int
    phase: str
    failover: FailoverDocument | None
    quarantine: QuarantineDocument | None
    last_sync: str | None
    last_sync_error: str | None
    automatic_failovers: list[str]
    replication_keys: list[str]
    replication_channel: str
    self_fence_on: list[str]
    established: bool
    standby_reset_at: str | None
    final_sync: FinalSyncDocument | None


@with_config(STORED)
class EstateHold(TypedDict, total=False):
    """The power holds of a planned estate shutdown (``reconcilers/powerhold.py``)."""

    held: dict[str, str]
    """``Kind/name`` → why it is held."""
    released: dict[str, str]
    """``Kind/name`` → ISO time the last ``estate start`` let it go."""


@with_config(STORED)
class PowerLayerProgress(TypedDict, total=False):
    """One layer of an estate power request, as its reconciler records it."""

    name: str
    startedAt: str
    finishedAt: str
    seconds: float
    vms: dict[str, str]
    """VM name → ``pending``, then ``stopped``/``running``/``absent`` once the layer is done."""
    tasks: dict[str, str]
    """VM name → the UPID of its shutdown or start task (a crash resumes by following it)."""
    pairsHeld: bool
    """The layer's StandbyPairs are held (after their final syncs, for a shutdown)."""


@with_config(STORED)
class _PowerRequestBase(TypedDict):
    id: int
    """The operation's number (``shutdown #3``): one more than the last one's."""
    op: str
    """``shutdown`` or ``start``."""
    target: int
    """The lowest layer a shutdown stops (1: everything); 1 for a start."""
    at: str
    by: str
    state: str
    """``requested``, ``running``, ``done``, ``failed`` or ``superseded``."""


@with_config(STORED)
class PowerRequest(_PowerRequestBase, total=False):
    """``homeport estate shutdown|start``: an operator's estate power event, run layer by
    layer by the ``Estate/power`` reconciler (``reconcilers/estate``) and answered here."""

    timeout: float
    """Seconds one layer may take to stop, or to start and pass its health checks."""
    layers: dict[str, PowerLayerProgress]
    finishedAt: str
    message: str
    """The outcome in one line (the failure's reason), as the CLI prints it."""


@with_config(STORED)
class PowerHistory(TypedDict):
    """The last estate power requests answered (or superseded), newest last."""

    operations: list[PowerRequest]


@with_config(STORED)
class VmRemoval(TypedDict, total=False):
    """A VM that left git, by its deletionPolicy (``reconcilers/vm/removal.py``)."""

    since: str
    vmid: int
    policy: str
    held: bool
    node: str
    disks: list[str]
    lastBackup: str | None
    heldAt: str
    retained: bool


@with_config(STORED)
class VmDestroyApproval(TypedDict):
    """``homeport approve VM/<name>``: names the removal it approves by its ``since``."""

    since: str
    by: str
    at: str


@with_config(STORED)
class VmDataDisks(TypedDict):
    """The VM's data-disk slots homeport attached: config slot (``scsi1``) → disk name."""

    slots: dict[str, str]


@with_config(STORED)
class VmTailnetNode(TypedDict):
    """The tailnet node the VM's guest joined as: ``tailscale status --json``'s ``Self.ID``,
    the API's ``nodeId``, read in the guest right after the join."""

    nodeId: str


@with_config(STORED)
class AppBuildFailure(TypedDict):
    """The App's last failed build, so the same release and command is not built again."""

    release: str
    commandSha: str
    exitStatus: int | None


@with_config(STORED)
class AppArtifactFailure(TypedDict):
    """The App's last checksum mismatch, so the same url and checksum are not downloaded
    again until the manifest changes."""

    url: str
    sha256: str
    received: str


@with_config(STORED)
class BackupPolicyMemory(TypedDict, total=False):
    """A BackupPolicy's own memory (``reconcilers/backuppolicy``)."""

    coveredSince: dict[str, str]
    """VM name → ISO time the policy's job began covering it (its first backup is due)."""
    reported: list[str]
    """UPIDs of failed backups already reported (the last few)."""
    test: dict[str, Any]
    """The restore test in progress: its VM, phase and what it has done so far."""
    tests: dict[str, dict[str, Any]]
    """VM name → the result of its last restore test."""
    history: list[dict[str, Any]]
    """The last restore tests' results, oldest first."""


@with_config(STORED)
class _BackupRequestBase(TypedDict):
    op: str
    """``backup-now``."""
    vm: str
    at: str
    """ISO time of the request: a vzdump of the VM started since is this request's run."""
    by: str
    state: str
    """``requested``, ``running`` (its vzdump task runs), ``done`` or ``failed``."""


@with_config(STORED)
class BackupRequest(_BackupRequestBase, total=False):
    """``homeport backup now``: an operator's on-demand backup the BackupPolicy reconciler
    covering the VM runs (journaled, under the leader's fencing token) and answers here."""

    storage: str | None
    """The storage asked for (None: the policy's)."""
    vmid: int
    upid: str
    """The vzdump task, once started (or found running after a crash)."""
    volid: str | None
    message: str
    """The outcome in one line, as the CLI prints it."""


@with_config(STORED)
class _RestoreRequestBase(TypedDict):
    op: str
    """``restore``."""
    vm: str
    volid: str
    at: str
    by: str
    state: str
    """``requested``, ``running`` (its qmrestore task runs), ``done`` or ``failed``."""


@with_config(STORED)
class RestoreRequest(_RestoreRequestBase, total=False):
    """``homeport restore``: restore one of a VM's archives into a new VM (``name``) or
    over the VM itself (``yes``), run by the BackupPolicy reconciler covering the VM."""

    name: str | None
    """The new VM's name (None: over the VM itself)."""
    node: str | None
    """The node asked for (None: the VM's); once restoring, the node it restores on."""
    storage: str | None
    yes: bool
    vmid: int
    """The vmid restored into (a new VM's, chosen and recorded before its qmrestore)."""
    upid: str
    message: str
    code: int
    """The command's exit status for a failed request: 2 a wrong request, 1 a failure."""


@with_config(STORED)
class AuditFindings(TypedDict):
    """The audit's findings of its last run: finding key → ISO time first seen."""

    keys: dict[str, str]
    count: int


# -- the slots -----------------------------------------------------------------------------

SUSPEND = AnyKindSlot("suspend", SuspendRequest)
"""Written by ``homeport suspend``/``resume``; read by the engine."""

PAIR_REQUEST = ObjectSlot("StandbyPair", "request", PairRequest)
"""Written by ``homeport failover``/``failback``; taken and cleared by the StandbyPair
reconciler."""

PAIR_MEMORY = ObjectSlot("StandbyPair", None, PairMemoryDocument)
"""The StandbyPair's own memory (epoch, roles, phase, quarantine, ...): loaded and dumped
only by ``reconcilers/standbypair/state.py``; everyone else reads it through its
``PairView`` (``reconcilers/pairview.py``). Written by the StandbyPair reconciler alone."""

ESTATE_HOLD = SingleSlot("Estate", "power", EstateHold)
"""The ``Estate/power`` object's own memory: written by its reconciler
(``reconcilers/estate``); read by the engine, the StandbyPair and the CLI."""

ESTATE_POWER_REQUEST = ObjectSlot("Estate", "request", PowerRequest)
"""Written by ``homeport estate shutdown|start``; run and answered by the ``Estate/power``
reconciler."""

ESTATE_POWER_HISTORY = ObjectSlot("Estate", "history", PowerHistory)
"""Written by the ``Estate/power`` reconciler (and by the CLI when a new request supersedes
an open one); read by ``homeport estate status``."""

VM_REMOVAL = ObjectSlot("VM", "removal", VmRemoval)
"""Written by the VM reconciler; read by it and by ``homeport approve``."""

VM_DESTROY_APPROVAL = ObjectSlot("VM", "destroy-approval", VmDestroyApproval)
"""Written by ``homeport approve VM/<name>``; read and cleared by the VM reconciler."""

VM_DATA_DISKS = ObjectSlot("VM", "data-disks", VmDataDisks)
"""Written and read by the VM reconciler."""

VM_TAILNET_NODE = ObjectSlot("VM", "tailnet-node", VmTailnetNode)
"""Written by the VM reconciler's join, read by its look (``reconcilers/vm/observe.py``)."""

APP_BUILD_FAILURE = ObjectSlot("App", "build", AppBuildFailure)
"""Written, read and cleared by the App reconciler."""

APP_ARTIFACT_FAILURE = ObjectSlot("App", "artifact", AppArtifactFailure)
"""Written, read and cleared by the App reconciler (``reconcilers/app/download.py``)."""

BACKUP_POLICY_MEMORY = ObjectSlot("BackupPolicy", None, BackupPolicyMemory)
"""Written and read by the BackupPolicy reconciler."""

BACKUP_REQUEST = ObjectSlot("BackupPolicy", "request", BackupRequest)
"""Written by ``homeport backup now``; run and answered by the BackupPolicy reconciler."""

RESTORE_REQUEST = ObjectSlot("BackupPolicy", "restore", RestoreRequest)
"""Written by ``homeport restore``; run and answered by the BackupPolicy reconciler."""

AUDIT_FINDINGS = SingleSlot("Audit", "findings", AuditFindings)
"""Written and read by the audit loop."""
