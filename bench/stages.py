"""Where one push→converged went: its stages, from the benchmark's own timestamps.

Every time is in seconds since the start of ``git push``. The daemon's reconciles of the
changed object come from the engine's observers (their end and duration), its actions
from the journal (started and finished), the adoption of the revision from the store's
``revisions`` table and Ready from its event; ``stages`` is a pure function of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Reconcile:
    """One reconcile of the changed object: when it started and ended, and its result."""

    start: float
    end: float
    result: str
    requeue_after: float | None = None


@dataclass(frozen=True)
class Step:
    """One journaled action: its verb, when it started and finished."""

    verb: str
    start: float
    end: float


def since(start_epoch: float, stamp: str) -> float:
    """Seconds from ``start_epoch`` (``time.time()``) to an ISO timestamp of the store."""
    return datetime.fromisoformat(stamp).timestamp() - start_epoch


STAGES = (
    "git push (hooks, validation)",
    "push → revision adopted",
    "adopted → first reconcile",
    "acting (journaled actions)",
    "observing and planning",
    "waiting between reconciles",
    "Ready → benchmark noticed",
)


def stages(
    *,
    pushed: float,
    adopted: float,
    reconciles: list[Reconcile],
    steps: list[Step],
    ready: float,
    noticed: float,
) -> dict[str, float]:
    """The push's latency cut into ``STAGES`` (they add up to ``noticed``).

    ``reconciles`` are those of the changed object that ended after ``adopted`` and at or
    before ``ready`` (the one that wrote Ready included); their time is split into the
    actions they journaled and the rest (observing, planning, writing status); the gaps
    between them are requeue waits (a task polled, a health check's interval, a backoff).
    """
    ran = sorted((r for r in reconciles if adopted <= r.end <= ready + 1e-3), key=lambda r: r.start)
    first = ran[0].start if ran else ready
    busy = sum(r.end - r.start for r in ran)
    acting = sum(s.end - s.start for s in steps if first <= s.start <= ready + 1e-3)
    return {
        STAGES[0]: pushed,
        STAGES[1]: adopted - pushed,
        STAGES[2]: first - adopted,
        STAGES[3]: acting,
        STAGES[4]: busy - acting,
        STAGES[5]: ready - first - busy,
        STAGES[6]: noticed - ready,
    }
