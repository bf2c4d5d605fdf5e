"""The ``status`` document: revision, objects by state, pairs, backups, the daemons'
liveness, problems — what ``homeport status`` prints and the status page shows
(``page_document`` adds every object by kind and the pairs' failover timelines).

Built from the store only; ``now`` is passed in so ages are computed once, never negative.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from itertools import pairwise
from typing import Any

from homeport.controller.adoption import UNVERIFIED_SIGNATURE
from homeport.controller.approvals import held_items
from homeport.controller.source_keys import ADOPTED, HELD, REJECTED
from homeport.controller.store import Store, StoredObject

# Not from ``coordination``, which loads asyncio: a status read starts fast (cli/lazy.py).
from homeport.controller.store.leases import LEASE_NAME
from homeport.services.views.liveness import daemons_document
from homeport.services.views.objects import message_of, state_of, summary_of

# States that mean "on its way", not "something is wrong".
BENIGN_STATES = {
    "Ready",
    "Pending",
    "Suspended",
    "Progressing",
    "Waiting",
    "DependencyNotReady",
    "Pruning",
    "DependentsExist",
    "Converged",
    "Maintenance",
}
KIND_ORDER = ("Machine", "VM", "App", "ProxyRoute", "StandbyPair", "BackupPolicy", "Agent")


def status_document(store: Store, *, now: datetime, alive_within: float) -> dict[str, Any]:
    adopted = store.source_state.get(ADOPTED) or {}
    record = store.revisions.find(adopted["sha"]) if adopted else None
    objects = store.objects.all()
    lease = store.leases.current(LEASE_NAME)
    return {
        "revision": {
            "sha": adopted.get("sha"),
            "adoptedAt": record.recorded_at if record else None,
            "message": record.message if record else None,
            "signature": adopted.get("signature"),
            "held": store.source_state.get(HELD),
            "rejected": store.source_state.get(REJECTED),
        },
        "holds": [
            {"id": h.id, "reason": h.reason, "message": h.message}
            for h in held_items(store)
            if h.reason == "DestructionHeld"
        ],
        "leader": None if lease is None else {"holder": lease.holder, "token": lease.token},
        "daemons": daemons_document(store.heartbeats.all(), now=now, alive_within=alive_within),
        "objects": {
            "total": len(objects),
            "ready": sum(1 for o in objects if state_of(o) == "Ready"),
            "byState": dict(sorted(Counter(state_of(o) for o in objects).items())),
        },
        "pairs": [_pair(store, o, now) for o in objects if o.kind == "StandbyPair"],
        "backups": _backups(objects, now),
        "problems": _signature_problems(store, adopted)
        + [
            {"object": f"{o.kind}/{o.name}", "state": state_of(o), "message": message_of(o)}
            for o in objects
            if state_of(o) not in BENIGN_STATES
        ],
        "recentWarnings": [
            {"at": e.at, "object": f"{e.kind}/{e.name}", "reason": e.reason, "message": e.message}
            for e in [e for e in store.events.recent(200) if e.type == "Warning"][-5:]
        ],
    }


def _signature_problems(store: Store, adopted: dict[str, Any]) -> list[dict[str, Any]]:
    """A revision held for its signature stalls the source; a running one that no longer
    passes (``homeport reconcile --reverify``) is reported until a signed one replaces it."""
    problems = []
    held = store.source_state.get(HELD) or {}
    if held.get("reason") == UNVERIFIED_SIGNATURE:
        problems.append(
            {
                "object": f"Revision/{held['sha'][:12]}",
                "state": "Stalled",
                "message": held["message"],
            }
        )
    signature = adopted.get("signature") or {}
    if signature.get("verified") is False:
        problems.append(
            {
                "object": f"Revision/{adopted['sha'][:12]}",
                "state": UNVERIFIED_SIGNATURE,
                "message": f"the running revision no longer passes: {signature.get('problem')}",
            }
        )
    return problems


def exit_code(document: dict[str, Any]) -> int:
    """``status --exit-code``: 2 when no daemon is alive, 1 when anything is not Ready."""
    if not document["daemons"]["alive"]:
        return 2
    objects = document["objects"]
    return 0 if objects["ready"] == objects["total"] else 1


def page_document(store: Store, *, now: datetime, alive_within: float) -> dict[str, Any]:
    """``status_document`` plus every object by kind and each pair's recent failovers."""
    document = status_document(store, now=now, alive_within=alive_within)
    objects = store.objects.all()
    kinds = sorted({o.kind for o in objects}, key=_kind_rank)
    document["kinds"] = [
        {"kind": kind, "objects": [_row(o) for o in objects if o.kind == kind]} for kind in kinds
    ]
    for pair in document["pairs"]:
        pair["failovers"] = [
            _failover(r) for r in reversed(store.failovers.for_pair(pair["name"], limit=5))
        ]
    return document


def _kind_rank(kind: str) -> int:
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def _row(obj: StoredObject) -> dict[str, Any]:
    state = state_of(obj)
    return {
        "name": obj.name,
        "state": state,
        "message": "" if state == "Ready" else message_of(obj),
        "details": summary_of(obj),
    }


def _pair(store: Store, obj: StoredObject, now: datetime) -> dict[str, Any]:
    d = obj.status.details
    history = store.failovers.for_pair(obj.name, limit=1)
    last = history[-1] if history else None
    return {
        "name": obj.name,
        "state": state_of(obj),
        "message": message_of(obj),
        "primary": d.get("primary"),
        "standby": d.get("standby"),
        "epoch": d.get("epoch"),
        "phase": d.get("phase"),
        "lagSeconds": d.get("lagSeconds"),
        "lastFailover": None
        if last is None
        else {
            "epoch": last["epoch"],
            "trigger": last["trigger"],
            "to": last["to_app"],
            "at": last["started_at"],
            "rpoSeconds": last["rpo_seconds"],
            "outcome": last["outcome"],
        },
    }


def _failover(record: dict[str, Any]) -> dict[str, Any]:
    """One failover with each step's duration since the step before it."""
    steps = record.get("timeline") or []
    times = [datetime.fromisoformat(str(s["at"])) for s in steps]
    took = [None, *((b - a).total_seconds() for a, b in pairwise(times))]
    return {
        "epoch": record["epoch"],
        "trigger": record["trigger"],
        "from": record["from_app"],
        "to": record["to_app"],
        "startedAt": record["started_at"],
        "outcome": record.get("outcome") or "in progress",
        "rpoSeconds": record.get("rpo_seconds"),
        "steps": [
            {
                "at": s["at"],
                "phase": s["phase"],
                "detail": s.get("detail", ""),
                "seconds": None if t is None else max(t, 0.0),
            }
            for s, t in zip(steps, took, strict=True)
        ],
    }


def _backups(objects: list[StoredObject], now: datetime) -> list[dict[str, Any]]:
    backups = []
    for obj in (o for o in objects if o.kind == "BackupPolicy"):
        for vm, d in sorted((obj.status.details.get("vms") or {}).items()):
            test = d.get("lastRestoreTest") or {}
            backups.append(
                {
                    "policy": obj.name,
                    "vm": vm,
                    "ageHours": _age_hours(d, now),
                    "stale": d.get("stale"),
                    "threeTwoOne": d.get("threeTwoOne"),
                    "restoreTest": test.get("result"),
                }
            )
    return backups


def _age_hours(details: dict[str, Any], now: datetime) -> float | None:
    """The newest backup's age now (not when the policy last reconciled), never negative."""
    newest = details.get("newestBackupAt")
    if isinstance(newest, str):
        at = datetime.fromisoformat(newest)
        if at.tzinfo is not None:
            return round(max((now - at).total_seconds(), 0.0) / 3600, 2)
    hours = details.get("ageHours")
    return max(float(hours), 0.0) if isinstance(hours, int | float) else None
