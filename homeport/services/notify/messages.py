"""Rendering a ``Trigger`` as the ``Message`` every sink sends (pure).

Failovers carry their timeline and the data-loss window (RPO) from the pair's failover
record (``store.failovers``), in the text and, structured, in ``details``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeport.clients.notify import Message
from homeport.services.notify.triggers import Trigger

TITLES = {
    "FailoverStarted": "failover started: StandbyPair {name}",
    "FailoverCompleted": "failover finished: StandbyPair {name}",
    "ReconcileStalled": "{kind}/{name} stalled ({reason})",
    "BackupStale": "backups stale: {kind}/{name}",
    "BackupFailed": "backup failed: {kind}/{name}",
    "RestoreTestFailed": "restore test failed: {kind}/{name}",
    "AuditFinding": "audit finding on {kind}/{name}",
    "LeaderChanged": "control-plane leader changed",
    "VMRemoval": "{kind}/{name} left git: {reason}",
}
INFO = {"LeaderChanged", "FailoverCompleted"}


def render(trigger: Trigger, failover: Mapping[str, Any] | None = None) -> Message:
    title = TITLES[trigger.topic].format(
        kind=trigger.kind, name=trigger.name, reason=trigger.reason
    )
    lines = [trigger.message]
    details: dict[str, Any] = {"reason": trigger.reason}
    if failover is not None and trigger.topic.startswith("Failover"):
        details.update(_failover_details(failover))
        lines += _failover_lines(details)
    return Message(
        id=trigger.key.rsplit(":", 1)[-1],
        topic=trigger.topic,
        title=title,
        text="\n".join(lines),
        kind=trigger.kind,
        name=trigger.name,
        at=trigger.at,
        severity="info" if trigger.topic in INFO else "warning",
        details=details,
    )


def _failover_details(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "epoch": record.get("epoch"),
        "trigger": record.get("trigger"),
        "from": record.get("from_app"),
        "to": record.get("to_app"),
        "phase": record.get("phase"),
        "outcome": record.get("outcome"),
        "startedAt": record.get("started_at"),
        "finishedAt": record.get("finished_at") or None,
        "rpoSeconds": record.get("rpo_seconds"),
        "timeline": list(record.get("timeline") or []),
    }


def _failover_lines(details: Mapping[str, Any]) -> list[str]:
    rpo = details.get("rpoSeconds")
    lines = [
        "",
        f"{details.get('from')} → {details.get('to')}, epoch {details.get('epoch')} "
        f"({details.get('trigger')}), {details.get('outcome')}",
        f"RPO (data-loss window): {rpo:.1f}s" if isinstance(rpo, int | float) else "RPO: unknown",
        "timeline:",
    ]
    lines += [
        f"  {step.get('at')}  {step.get('phase')}: {step.get('detail')}"
        for step in details.get("timeline", [])
    ]
    return lines
