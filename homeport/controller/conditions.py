"""Kubernetes-style conditions: set one, keeping lastTransitionTime when nothing changed."""

from __future__ import annotations

from datetime import datetime

from homeport.kinds import Condition


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: str,
    reason: str,
    message: str,
    now: datetime,
) -> list[Condition]:
    """Return ``conditions`` with ``type_`` set; the transition time moves only on a status change."""
    result = []
    found = False
    for condition in conditions:
        if condition.type != type_:
            result.append(condition)
            continue
        found = True
        since = condition.last_transition_time if condition.status == status else now
        result.append(
            Condition.model_validate(
                {
                    "type": type_,
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": since,
                }
            )
        )
    if not found:
        result.append(
            Condition.model_validate(
                {
                    "type": type_,
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": now,
                }
            )
        )
    return result


def drop_condition(conditions: list[Condition], type_: str) -> list[Condition]:
    return [c for c in conditions if c.type != type_]


def condition_of(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)
