"""``homeport status``: the one-screen answer to "is everything fine, and if not, what
exactly is wrong" — revision, objects by state, pairs, backups, daemons, problems.

Renders the document ``services/views/status.py`` builds from the store (the status
page shows the same document).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from homeport.controller.adoption import UNVERIFIED_SIGNATURE
from homeport.services.views.objects import age


def signature_line(signature: dict[str, Any] | None) -> str | None:
    """``signed by alice@example.com (SSH key SHA256:...)``, for status and describe."""
    if not signature:
        return None
    if signature.get("verified") is False:
        return f"signature NOT verified: {signature.get('problem')}"
    # Imported here: it brings the git and signature machinery, which a status of an
    # unsigned estate never needs (the read commands start fast, cli/lazy.py).
    from homeport.source.signatures import describe_signer

    return f"signed by {describe_signer(signature)}"


def _three_two_one(value: object) -> str:
    if isinstance(value, dict):
        return "3-2-1 ok" if value.get("holds") else f"3-2-1: {value.get('missing') or 'not met'}"
    return "3-2-1 ok" if value is True else "3-2-1 not met" if value is False else ""


def pair_state(pair: dict[str, Any]) -> str:
    """The pair's state word, with the failover phase when it says more: a Degraded pair
    never reads "Healthy" (the phase can lag the conditions, e.g. a standby not rebuilt)."""
    state, phase = str(pair["state"]), pair["phase"]
    if phase == "Healthy":
        return phase if state == "Ready" else state
    if not phase or phase == state:
        return state
    return f"{state}, phase {phase}"


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
    daemons = document["daemons"]
    out.print(
        f"Daemon    {daemons['summary']}",
        markup=False,
        style=None if daemons["acting"] else "bold red",
    )
    if document["leader"]:
        leader = document["leader"]
        last = "" if daemons["acting"] else ", as last recorded"
        out.print(
            f"Leader    {leader['holder']} (fencing token {leader['token']}{last})", markup=False
        )
    pages = [d["webUrl"] for d in daemons["daemons"] if d["alive"] and d["webUrl"]]
    if pages:
        out.print(f"Page      {pages[0]}", markup=False)
    counts = ", ".join(f"{n} {state}" for state, n in document["objects"]["byState"].items())
    out.print(f"Objects   {document['objects']['total']} ({counts or 'none'})", markup=False)
    for pair in document["pairs"]:
        lag = pair["lagSeconds"]
        line = (
            f"Pair      {pair['name']}: {pair['primary']} serves (epoch {pair['epoch']}, "
            f"{pair_state(pair)}), standby {pair['standby']}, lag {lag if lag is not None else '?'}s"
            if pair["primary"]
            else f"Pair      {pair['name']}: {pair_state(pair)}, not armed yet (no primary chosen)"
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
