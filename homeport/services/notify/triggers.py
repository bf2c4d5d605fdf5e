"""What is worth a notification: events and conditions in the store, as ``Trigger`` values.

Pure. Events (``FailoverStarted``, ``FailoverCompleted``, ``BackupFailed``,
``OffsiteCopyFailed``, ``RestoreTestFailed``, ``AuditFinding``, ``LeaderChanged``,
``UnverifiedSignature``, ``DestructionHeld`` and ``Retained`` of a VM that left git) trigger
once per occurrence within the dedupe window; conditions (``Stalled`` → ReconcileStalled,
``BackupStale`` → BackupStale) trigger once per transition to True.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from homeport.controller.store import Event, StoredObject

EVENT_TOPICS = {
    "FailoverStarted": "FailoverStarted",
    "FailoverCompleted": "FailoverCompleted",
    "BackupFailed": "BackupFailed",
    "OffsiteCopyFailed": "BackupFailed",
    "RestoreTestFailed": "RestoreTestFailed",
    "AuditFinding": "AuditFinding",
    "LeaderChanged": "LeaderChanged",
    # A revision held (or the running one found) failing the signature policy: the source
    # stalls until someone pushes a signed revision, maybe an attempted intrusion.
    "UnverifiedSignature": "ReconcileStalled",
    "DestructionHeld": "VMRemoval",
    "Retained": "VMRemoval",
}
CONDITION_TOPICS = {"Stalled": "ReconcileStalled", "BackupStale": "BackupStale"}


@dataclass(frozen=True)
class Trigger:
    topic: str
    kind: str
    name: str
    at: str
    message: str
    reason: str = ""
    once: bool = False
    """Sent once ever (a condition's transition), not once per dedupe window."""

    @property
    def key(self) -> str:
        what = self.at if self.once else self.message
        digest = hashlib.sha256(f"{self.reason}|{what}".encode()).hexdigest()[:16]
        return f"{self.topic}:{self.kind}/{self.name}:{digest}"


def from_event(event: Event) -> Trigger | None:
    topic = EVENT_TOPICS.get(event.reason)
    if topic is None:
        return None
    return Trigger(topic, event.kind, event.name, event.at, event.message, event.reason)


def from_conditions(obj: StoredObject) -> list[Trigger]:
    return [
        Trigger(
            CONDITION_TOPICS[c.type],
            obj.kind,
            obj.name,
            c.last_transition_time.isoformat(),
            c.message,
            c.reason,
            once=True,
        )
        for c in obj.status.conditions
        if c.type in CONDITION_TOPICS and c.status == "True"
    ]
