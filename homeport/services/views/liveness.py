"""Whether any daemon is alive and acting, from the heartbeats in the store (pure).

A daemon is alive when its last beat is at most ``alive_within`` seconds old (the lease
duration: a leader silent that long has lost its lease anyway) and it did not stop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from homeport.controller.store import Heartbeat
from homeport.services.views.objects import age


def heartbeat_age(heartbeat: Heartbeat, now: datetime) -> float:
    return max((now - datetime.fromisoformat(heartbeat.beat_at)).total_seconds(), 0.0)


def daemons_document(
    heartbeats: list[Heartbeat], *, now: datetime, alive_within: float
) -> dict[str, Any]:
    """``alive``: some daemon beats; ``acting``: one of them leads; ``summary``: one sentence."""
    rows = [
        {
            "holder": h.holder,
            "role": h.role,
            "heartbeatAt": h.beat_at,
            "heartbeatAgeSeconds": round(heartbeat_age(h, now), 1),
            "alive": h.role != "stopped" and heartbeat_age(h, now) <= alive_within,
            "webUrl": h.web_url,
        }
        for h in heartbeats
    ]
    alive = [r for r in rows if r["alive"]]
    leading = [r for r in alive if r["role"] == "leader"]
    return {
        "alive": bool(alive),
        "acting": bool(leading),
        "daemons": rows,
        "summary": _summary(rows, alive, leading, now),
    }


def _summary(
    rows: list[dict[str, Any]],
    alive: list[dict[str, Any]],
    leading: list[dict[str, Any]],
    now: datetime,
) -> str:
    if leading:
        lead = leading[0]
        others = len(alive) - 1
        return f"{lead['holder']} leads (heartbeat {age(lead['heartbeatAt'], now)} ago)" + (
            f"; {others} more waiting" if others else ""
        )
    if alive:
        return (
            f"{len(alive)} daemon(s) alive, none leading yet: nothing is acting"
            " (waiting for the lease)"
        )
    if not rows:
        return "no daemon has run on this store: nothing is acting (start one: homeport run)"
    last = rows[0]
    how = "stopped" if last["role"] == "stopped" else "went silent"
    return (
        f"no daemon is alive: nothing is acting (the last one, {last['holder']}, {how}"
        f" {age(last['heartbeatAt'], now)} ago)"
    )
