"""``homeport status``: the one-screen answer to "is everything fine, and if not, what
exactly is wrong" — revision, objects by state, pairs, backups, leader, problems.

Built from the store only (read-only, never blocks the daemon).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console

from homeport.cli.views import age, message_of, state_of
from homeport.controller.adoption import UNVERIFIED_SIGNATURE
from homeport.controller.approvals import held_items
from homeport.controller.coordination import LEASE_NAME
from homeport.controller.revisions import ADOPTED, HELD, REJECTED
from homeport.controller.store import Store
from homeport.source.signatures import describe_signer

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


def status_document(store: Store) -> dict[str, Any]:
    adopted = store.source_state.get(ADOPTED) or {}
    record = store.revisions.find(adopted["sha"]) if adopted else None
    objects = store.objects.all()
    lease = store.leases.current(LEASE_NAME)
    pairs = []
    for obj in (o for o in objects if o.kind == "StandbyPair"):
        d = obj.status.details
        history = store.failovers.for_pair(obj.name, limit=1)
        last = history[-1] if history else None
        pairs.append(
            {
                "name": obj.name,
                "state": state_of(obj),
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
        )
    backups = []
    for obj in (o for o in objects if o.kind == "BackupPolicy"):
        for vm, d in sorted((obj.status.details.get("vms") or {}).items()):
            test = d.get("lastRestoreTest") or {}
            backups.append(
                {
                    "policy": obj.name,
                    "vm": vm,
                    "ageHours": d.get("ageHours"),
                    "stale": d.get("stale"),
                    "threeTwoOne": d.get("threeTwoOne"),
                    "restoreTest": test.get("result"),
                }
            )
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
        "objects": {
            "total": len(objects),
            "byState": dict(sorted(Counter(state_of(o) for o in objects).items())),
        },
        "pairs": pairs,
        "backups": backups,
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


def signature_line(signature: dict[str, Any] | None) -> str | None:
    """``signed by alice@example.com (SSH key SHA256:...)``, for status and describe."""
    if not signature:
        return None
    if signature.get("verified") is False:
        return f"signature NOT verified: {signature.get('problem')}"
    return f"signed by {describe_signer(signature)}"


def _three_two_one(value: object) -> str:
    if isinstance(value, dict):
        return "3-2-1 ok" if value.get("holds") else f"3-2-1: {value.get('missing') or 'not met'}"
    return "3-2-1 ok" if value is True else "3-2-1 not met" if value is False else ""


def render_status(document: dict[str, Any], out: Console) -> None:
    revision = document["revision"]
    if revision["sha"]:
        out.print(
            f"Revision  {revision['sha'][:12]}, adopted {age(revision['adoptedAt'])} ago",
            markup=False,
        )
    else:
        out.print(
            "Revision  none adopted yet (push manifests to the control plane's repository)",
            markup=False,
        )
    signed = signature_line(revision["signature"])
    if signed:
        out.print(f"          {signed}", markup=False)
    if revision["held"]:
        stalled = revision["held"].get("reason") == UNVERIFIED_SIGNATURE
        label = "[red]Stalled[/]   " if stalled else "[yellow]Held[/]      "
        out.print(f"{label}{revision['held']['sha'][:12]}: ", end="")
        out.print(revision["held"]["message"], markup=False)
    for hold in document["holds"]:
        out.print(
            f"Held      {hold['id']} destruction: {hold['message']}; "
            f"approve with `homeport approve {hold['id']}`",
            markup=False,
            style="yellow",
        )
    if revision["rejected"]:
        out.print(f"[red]Rejected[/]  {revision['rejected']['sha'][:12]}:")
        for line in revision["rejected"]["errors"][:10]:
            out.print(f"  {line}", markup=False)
    if document["leader"]:
        leader = document["leader"]
        out.print(f"Leader    {leader['holder']} (fencing token {leader['token']})", markup=False)
    counts = ", ".join(f"{n} {state}" for state, n in document["objects"]["byState"].items())
    out.print(f"Objects   {document['objects']['total']} ({counts or 'none'})", markup=False)
    for pair in document["pairs"]:
        lag = pair["lagSeconds"]
        line = (
            f"Pair      {pair['name']}: {pair['primary']} serves (epoch {pair['epoch']}, {pair['phase']}), "
            f"standby {pair['standby']}, lag {lag if lag is not None else '?'}s"
        )
        last = pair["lastFailover"]
        if last:
            rpo = last["rpoSeconds"]
            line += f"; last failover {age(last['at'])} ago to {last['to']}" + (
                f", lost ≤ {rpo:.1f}s" if isinstance(rpo, int | float) else ""
            )
        out.print(line, markup=False, style=None if pair["state"] == "Ready" else "yellow")
    for backup in document["backups"]:
        hours = backup["ageHours"]
        fresh = "no backup yet" if hours is None else f"newest {hours:.1f}h old"
        parts = [fresh, _three_two_one(backup["threeTwoOne"])]
        if backup["restoreTest"]:
            parts.append(f"restore test {backup['restoreTest']}")
        out.print(
            f"Backup    {backup['vm']} ({backup['policy']}): {', '.join(p for p in parts if p)}",
            markup=False,
            style="yellow" if backup["stale"] else None,
        )
    if document["problems"]:
        out.print("Problems", style="bold red")
        for problem in document["problems"]:
            out.print(
                f"  {problem['object']}: {problem['state']}: {problem['message']}", markup=False
            )
    else:
        out.print("Problems  none", markup=False)
