"""The durable-memory registry (``homeport/reconcilers/slots.py``): every slot declared
once, today's stored documents read and written unchanged, and no module outside it
addressing memory by a spelled-out string."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from homeport.controller.approvals import approve
from homeport.controller.clock import FakeClock
from homeport.controller.store import Store
from homeport.reconcilers import slots
from homeport.reconcilers.estate.holds import with_held, with_released
from homeport.reconcilers.powerhold import held, released_at

ROOT = Path(__file__).resolve().parent.parent / "homeport"

EXEMPT = (ROOT / "reconcilers" / "slots.py",)

# (row kind, name, slot, document): the row kind spelled as homeport wrote it before the registry,
# and a document exactly as today's writers produce it.
TODAY: list[tuple[str, str, Any, dict[str, Any]]] = [
    (
        "App.suspend",
        "web",
        slots.SUSPEND.of("App"),
        {"by": "cli", "at": "2026-01-02T03:04:05+00:00"},
    ),
    (
        "StandbyPair.request",
        "shop",
        slots.PAIR_REQUEST,
        {"op": "failover", "accept_data_loss": True, "at": "2026-01-02T03:04:05+00:00"},
    ),
    (
        "StandbyPair.request",
        "shop",
        slots.PAIR_REQUEST,
        {"op": "failback", "at": "2026-01-02T03:04:05+00:00"},
    ),
    (
        "StandbyPair",
        "shop",
        slots.PAIR_MEMORY,
        {
            "epoch": 3,
            "primary": "shop-b",
            "standby": "shop-a",
            "phase": "Healthy",
            "quarantine": None,
        },
    ),
    (
        "StandbyPair",
        "shop",
        slots.PAIR_MEMORY,
        {
            "epoch": 1,
            "primary": "shop-a",
            "standby": "shop-b",
            "final_sync": {
                "hold": "stopped by `homeport estate shutdown` #2 (layer 3, apps)",
                "at": "2026-01-02T03:04:05+00:00",
                "outcome": "synced",
                "message": "shop-a stopped and synced to shop-b before the shutdown",
            },
        },
    ),
    (
        "Estate.request",
        "power",
        slots.ESTATE_POWER_REQUEST,
        {
            "id": 2,
            "op": "shutdown",
            "target": 3,
            "at": "2026-01-02T03:04:05+00:00",
            "by": "alice",
            "state": "running",
            "timeout": 600.0,
            "layers": {
                "4": {
                    "name": "user-facing",
                    "startedAt": "2026-01-02T03:04:06+00:00",
                    "finishedAt": "2026-01-02T03:04:36+00:00",
                    "seconds": 30.0,
                    "vms": {"dev-1": "stopped"},
                    "tasks": {
                        "dev-1": "UPID:pve1:0000A1B2:00C3D4E5:6789ABCD:qmshutdown:105:root@pam:"
                    },
                    "pairsHeld": True,
                }
            },
        },
    ),
    (
        "Estate.history",
        "power",
        slots.ESTATE_POWER_HISTORY,
        {
            "operations": [
                {
                    "id": 1,
                    "op": "start",
                    "target": 1,
                    "at": "2026-01-01T03:04:05+00:00",
                    "by": "alice",
                    "state": "failed",
                    "finishedAt": "2026-01-01T03:14:05+00:00",
                    "message": "layer 1 (infrastructure) is not healthy after 600s",
                }
            ]
        },
    ),
    (
        "Estate",
        "power",
        slots.ESTATE_HOLD,
        {
            "held": {"VM/db": "estate shutdown #4"},
            "released": {"App/web": "2026-01-02T03:04:05+00:00"},
        },
    ),
    (
        "VM.removal",
        "db",
        slots.VM_REMOVAL,
        {"since": "2026-01-02T03:04:05+00:00", "vmid": 101, "policy": "Hold"},
    ),
    (
        "VM.removal",
        "db",
        slots.VM_REMOVAL,
        {
            "since": "2026-01-02T03:04:05+00:00",
            "vmid": 101,
            "policy": "Delete",
            "held": True,
            "node": "pve1",
            "disks": ["local-lvm:vm-101-disk-0"],
            "lastBackup": None,
            "heldAt": "2026-01-02T04:00:00+00:00",
            "retained": True,
        },
    ),
    (
        "VM.destroy-approval",
        "db",
        slots.VM_DESTROY_APPROVAL,
        {"since": "2026-01-02T03:04:05+00:00", "by": "alice", "at": "2026-01-02T05:00:00+00:00"},
    ),
    ("VM.data-disks", "db", slots.VM_DATA_DISKS, {"slots": {"scsi1": "postgres"}}),
    ("VM.tailnet-node", "db", slots.VM_TAILNET_NODE, {"nodeId": "nTESTJ31CNTRL"}),
    (
        "App.build",
        "web",
        slots.APP_BUILD_FAILURE,
        {"release": "a" * 40, "commandSha": "b" * 64, "exitStatus": 2},
    ),
    (
        "App.artifact",
        "web",
        slots.APP_ARTIFACT_FAILURE,
        {
            "url": "https://releases.example.com/web-1.4.2.tar.gz",
            "sha256": "c" * 64,
            "received": "d" * 64,
        },
    ),
    (
        "BackupPolicy",
        "nightly",
        slots.BACKUP_POLICY_MEMORY,
        {
            "coveredSince": {"db": "2026-01-02T03:04:05+00:00"},
            "reported": ["UPID:pve1:0000A1B2:00C3D4E5:6789ABCD:vzdump:101:root@pam:"],
            "test": {
                "vm": "db",
                "volid": "local:backup/vzdump-qemu-101-2026_01_02-03_04_05.vma.zst",
                "vmid": 9001,
                "node": "pve1",
                "storage": "local-lvm",
                "startedAt": "2026-01-02T03:04:05+00:00",
                "phase": "checking",
                "bootedAt": "2026-01-02T03:05:00+00:00",
            },
            "tests": {
                "db": {
                    "result": "passed",
                    "at": "2026-01-02T03:06:00+00:00",
                    "volid": "local:backup/vzdump-qemu-101-2026_01_02-03_04_05.vma.zst",
                    "durationSeconds": 55.2,
                    "reason": None,
                }
            },
            "history": [{"vm": "db", "result": "passed", "at": "2026-01-02T03:06:00+00:00"}],
        },
    ),
    (
        "BackupPolicy.request",
        "nightly",
        slots.BACKUP_REQUEST,
        {
            "op": "backup-now",
            "vm": "db",
            "at": "2026-01-02T03:04:05+00:00",
            "by": "alice",
            "state": "done",
            "storage": None,
            "vmid": 101,
            "upid": "UPID:pve1:0000A1B2:00C3D4E5:6789ABCD:vzdump:101:root@pam:",
            "volid": "local:backup/vzdump-qemu-101-2026_01_02-03_04_05.vma.zst",
            "message": "backed up db (vmid 101): local:backup/vzdump-qemu-101-…",
        },
    ),
    (
        "BackupPolicy.restore",
        "nightly",
        slots.RESTORE_REQUEST,
        {
            "op": "restore",
            "vm": "db",
            "volid": "local:backup/vzdump-qemu-101-2026_01_02-03_04_05.vma.zst",
            "at": "2026-01-02T03:04:05+00:00",
            "by": "alice",
            "state": "done",
            "name": "db-copy",
            "node": None,
            "storage": None,
            "yes": False,
            "vmid": 100,
            "upid": "UPID:pve1:0000A1B2:00C3D4E5:6789ABCD:qmrestore:100:root@pam:",
            "message": "restored … as VM 100 'db-copy' on pve1 (stopped)",
        },
    ),
    (
        "Audit",
        "findings",
        slots.AUDIT_FINDINGS,
        {"keys": {"VM/db:no-backup": "2026-01-02T03:04:05+00:00"}, "count": 1},
    ),
]


def _declared() -> dict[str, Any]:
    kinds = (slots.ObjectSlot, slots.AnyKindSlot, slots.SingleSlot)
    return {n: v for n, v in vars(slots).items() if isinstance(v, kinds)}


def _address(slot: Any) -> str:
    if isinstance(slot, slots.AnyKindSlot):
        return f"*.{slot.slot}"
    if isinstance(slot, slots.SingleSlot):
        return f"{slot.kind}/{slot.name}"
    return str(slot.kind)


def _read(slot: Any, store: Store, name: str) -> Any:
    return slot.get(store) if isinstance(slot, slots.SingleSlot) else slot.get(store, name)


def _write(slot: Any, store: Store, name: str, document: dict[str, Any]) -> None:
    if isinstance(slot, slots.SingleSlot):
        slot.set(store, document, now="-")
    else:
        slot.set(store, name, document, now="-")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(tmp_path / "state.db")
    yield store
    store.close()


def test_every_slot_is_declared_once_at_its_own_address() -> None:
    declared = _declared()
    addresses = [_address(slot) for slot in declared.values()]
    assert len(set(addresses)) == len(addresses), addresses
    # Each declared slot has a stored document below.
    assert {id(s) for s in declared.values()} - {id(row[2]) for row in TODAY} <= {id(slots.SUSPEND)}


@pytest.mark.parametrize(("kind", "name", "slot", "document"), TODAY)
def test_a_document_stored_today_reads_and_writes_back_unchanged(
    store: Store, kind: str, name: str, slot: Any, document: dict[str, Any]
) -> None:
    store.memory.set(kind, name, document, now="-")  # as a store written before the registry
    assert _read(slot, store, name) == document
    store.memory.forget(kind, name)
    _write(slot, store, name, document)
    assert store.memory.get(kind, name) == document  # at the same row, the same JSON


@pytest.mark.parametrize(("kind", "name", "slot", "document"), TODAY)
def test_the_declared_payload_matches_today_s_documents_key_for_key(
    kind: str, name: str, slot: Any, document: dict[str, Any]
) -> None:
    adapter = TypeAdapter(slot.payload)
    assert adapter.validate_python(document) == document


def test_a_document_the_payload_does_not_declare_is_refused_by_the_check() -> None:
    adapter = TypeAdapter(slots.SuspendRequest)
    with pytest.raises(ValidationError):
        adapter.validate_python({"by": "cli", "at": "-", "who": "else"})
    with pytest.raises(ValidationError):
        adapter.validate_python({"by": "cli"})


def test_an_absent_or_empty_document_reads_as_none(store: Store) -> None:
    assert slots.SUSPEND.get(store, "VM", "db") is None
    store.memory.set("VM.suspend", "db", {}, now="-")
    assert slots.SUSPEND.get(store, "VM", "db") is None
    slots.SUSPEND.set(store, "VM", "db", {"by": "cli", "at": "t"}, now="t")
    slots.SUSPEND.forget(store, "VM", "db")
    assert store.memory.names() == frozenset()


def test_the_power_holds_are_the_estate_power_object_s_own_memory() -> None:
    assert slots.PAIR_REQUEST.kind == "StandbyPair.request"
    # The Estate/power reconciler writes them as its main memory (ctx.remember, no slot).
    assert (slots.ESTATE_HOLD.kind, slots.ESTATE_HOLD.name) == ("Estate", "power")
    assert slots.ESTATE_POWER_REQUEST.kind == "Estate.request"
    hold: slots.EstateHold = {"held": {"VM/db": "why"}, "released": {"App/web": "t"}}
    assert held(hold, "VM", "db") == "why"
    assert released_at(hold, "App", "web") == "t"


# -- no row kind spelled outside the registry ----------------------------------------------

MEMORY_METHODS = {"get", "set", "forget"}


def _spelled(node: ast.expr) -> bool:
    """A row kind written out: a literal, an f-string, a concatenation or an unpacked tuple."""
    literal = isinstance(node, ast.Constant) and isinstance(node.value, str)
    return literal or isinstance(node, ast.JoinedStr | ast.BinOp | ast.Starred)


def _named(node: ast.expr) -> str | None:
    """``store`` for ``store`` and ``self.store``: the store's memory, not a dict's."""
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def spelled_addresses(source: str) -> list[int]:
    """Lines of ``store.memory.get/set/forget(<spelled kind>, …)``, ``….recall(<spelled kind>,
    …)`` and ``….remember(…, slot=…)``: memory addressed without the registry."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        func = node.func
        on_memory = (
            func.attr in MEMORY_METHODS
            and isinstance(func.value, ast.Attribute)
            and func.value.attr == "memory"
            and _named(func.value.value) == "store"
        )
        first = node.args[0] if node.args else None
        spelled_kind = (
            (on_memory or func.attr == "recall") and first is not None and _spelled(first)
        )
        named_slot = func.attr == "remember" and any(k.arg == "slot" for k in node.keywords)
        if spelled_kind or named_slot:
            lines.append(node.lineno)
    return lines


def _modules() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*.py")):
        if not any(path == e or e in path.parents for e in EXEMPT):
            yield path


def test_no_module_outside_the_registry_spells_a_memory_address() -> None:
    found = [
        f"{path.relative_to(ROOT.parent)}:{line}"
        for path in _modules()
        for line in spelled_addresses(path.read_text())
    ]
    assert not found, f"address durable memory through homeport/reconcilers/slots.py: {found}"


@pytest.mark.parametrize(
    "call",
    [
        'store.memory.get("StandbyPair.request", name)',
        'self.store.memory.set(f"{kind}.suspend", name, {}, now=now)',
        "store.memory.set(*MEMORY, {}, now=now)",
        'store.memory.forget(kind + ".suspend", name)',
        'ctx.recall("StandbyPair", pair)',
        'ctx.recall(f"VM.{REMOVAL_SLOT}")',
        "ctx.remember({}, slot=REMOVAL_SLOT)",
    ],
)
def test_the_check_finds_a_spelled_address(call: str) -> None:
    assert spelled_addresses(call) == [1]


@pytest.mark.parametrize(
    "call",
    [
        "VM_REMOVAL.get(store, name)",
        "store.memory.get(kind, name)",
        "ctx.recall()",
        "ctx.remember(memory)",
        'settings.get("memory")',
        'seen.memory.get("tests", {})',
    ],
)
def test_the_check_lets_registry_and_generic_calls_through(call: str) -> None:
    assert spelled_addresses(call) == []


# -- what today's writers store matches the payloads ----------------------------------------


def _stored(store: Store, slot: Any, name: str) -> Any:
    return TypeAdapter(slot.payload).validate_python(_read(slot, store, name))


def test_the_power_holds_and_an_approval_store_their_declared_payloads(store: Store) -> None:
    document = with_held({}, ["VM/db", "App/web"], "estate shutdown #1")
    document = with_released(document, ["App/web"], FakeClock().now())
    slots.ESTATE_HOLD.set(store, document, now="t0")
    assert _stored(store, slots.ESTATE_HOLD, "power")["held"] == {"VM/db": "estate shutdown #1"}
    removal: slots.VmRemoval = {"since": "t0", "vmid": 101, "policy": "Hold", "held": True}
    slots.VM_REMOVAL.set(store, "db", removal, now="t0")
    approve(store, "VM/db", by="alice", now="t1")
    approval = _stored(store, slots.VM_DESTROY_APPROVAL, "db")
    assert approval == {"since": "t0", "by": "alice", "at": "t1"}
