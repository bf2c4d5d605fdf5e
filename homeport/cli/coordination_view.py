"""The control planes' part of ``homeport status`` (etcd backend): members and their health,
the leader with its fencing token, the daemons present — read live from etcd
(``services/ha/status.py``); without quorum it says that nothing acts, and why."""

from __future__ import annotations

from typing import Any

from rich.console import Console


def render_coordination(document: dict[str, Any], out: Console) -> None:
    leader = document.get("leader")
    if leader:
        out.print(
            f"Leader    {leader['holder']} (fencing token {leader['token']}, etcd lease "
            f"{document['leaseSeconds']:g}s renewed every {document['renewSeconds']:g}s)",
            markup=False,
        )
    planes = document.get("planes") or []
    out.print(f"Planes    {', '.join(planes) or 'none running'}", markup=False)
    members = document.get("members") or []
    up = sum(1 for m in members if m["healthy"])
    out.print(f"etcd      {up} of {len(members)} members healthy", markup=False)
    if document.get("leader") and not document.get("quorum"):
        out.print(
            "          (the leader above is as last written: it cannot act now)", markup=False
        )
    for member in members:
        if member["healthy"]:
            role = "leader" if member.get("leader") else "follower"
            size = member.get("dbSize", 0) / 1e6
            line = f"  {member['name']}  {member['url']}  healthy ({role}, {size:.1f} MB)"
        else:
            why = member.get("error") or "answers, but has no raft leader (no quorum)"
            line = f"  {member['name']}  {member['url']}  DOWN: {why}"
        out.print(line, markup=False, style=None if member["healthy"] else "red")
    if document.get("problem"):
        out.print(f"[red]Coordination[/]  {document['problem']}")
