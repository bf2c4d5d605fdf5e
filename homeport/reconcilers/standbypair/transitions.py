"""The StandbyPair's state machine as data: which action moves the pair from which phase to
which, and when the plan emits it. ``plan.py`` decides; the actions carry the phase they
enter (``phase``); ``docs/failover.md``'s transition table is generated from ``TRANSITIONS``
(``homeport docs``), and the tests hold every phase change the plan emits against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeport.reconcilers.base import Action
from homeport.reconcilers.standbypair.actions import (
    EnterPhase,
    FinishFailover,
    FinishRebuild,
    StartFailover,
)
from homeport.reconcilers.standbypair.state import Phase


@dataclass(frozen=True)
class Transition:
    source: Phase
    target: Phase
    action: type[Action]
    when: str
    """What the plan has seen when it emits the action (one line of the docs' table)."""


TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        Phase.HEALTHY,
        Phase.FENCING,
        StartFailover,
        "the primary crossed its failure threshold (automatic, within the hourly budget, "
        "the standby healthy and fresh enough); or a switchover: `homeport failover` / "
        "`failback`, the primary's Machine in maintenance, an automatic failback",
    ),
    Transition(
        Phase.FENCING,
        Phase.PROMOTING,
        EnterPhase,
        "ingress cut and the old primary fenced: its VM stopped and confirmed (unplanned), "
        "its unit stopped (planned), or quarantined when neither could be confirmed",
    ),
    Transition(
        Phase.PROMOTING,
        Phase.REROUTING,
        EnterPhase,
        "the standby refuses the old primary's replication, restarted with the new epoch "
        "and passes its health check",
    ),
    Transition(
        Phase.REROUTING,
        Phase.DEGRADED,
        FinishFailover,
        "unplanned failover: the routes serve the new primary; the pair waits for the old "
        "primary to return as its standby",
    ),
    Transition(
        Phase.REROUTING,
        Phase.HEALTHY,
        FinishFailover,
        "planned switchover: the routes serve the new primary; the old one was drained, "
        "synced and restarted as the standby",
    ),
    Transition(
        Phase.DEGRADED,
        Phase.HEALTHY,
        FinishRebuild,
        "the old primary is back as the standby on the current epoch, resynced",
    ),
)


def entered(action: Action) -> Phase | None:
    """The phase ``action`` moves the pair to (None: it changes no phase)."""
    if isinstance(action, StartFailover | EnterPhase | FinishFailover | FinishRebuild):
        return action.phase
    return None


def allowed(source: Phase, action: Action) -> bool:
    """``action`` may move a pair in ``source`` on (an action that changes no phase may)."""
    target = entered(action)
    if target is None:
        return True
    return any(
        t.source == source and t.target == target and isinstance(action, t.action)
        for t in TRANSITIONS
    )


def markdown_table() -> str:
    """``TRANSITIONS`` as the Markdown table ``docs/failover.md`` shows."""
    rows = [
        "| from | to | action | when |",
        "|---|---|---|---|",
        *(f"| {t.source} | {t.target} | `{t.action.__name__}` | {t.when} |" for t in TRANSITIONS),
    ]
    return "\n".join(rows) + "\n"


BEGIN = "<!-- transitions: generated from standbypair/transitions.py by `homeport docs` -->"
END = "<!-- /transitions -->"


def with_table(page: str) -> str:
    """``page`` (``docs/failover.md``) with the table between its markers regenerated."""
    head, begin, rest = page.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not (begin and end):
        raise ValueError(f"the page has no {BEGIN} … {END} block for the transition table")
    return f"{head}{BEGIN}\n{markdown_table()}{END}{tail}"
