"""One App's probe history judged as a sliding window: K misses among the last N probes
(``probe.failureThreshold`` of ``probe.window``) mean down, as HAProxy's fall counter.

A consecutive-miss counter never fails over a primary that flaps: one good probe resets
it, so a primary down more than half the time keeps serving errors. The window keeps the
misses of the last N probes; with N = K (the default) it is exactly K consecutive misses.

Fed by ``runtime.py`` after every probe; read by ``plan.py`` through ``ProbeView``
(``window_misses`` and the times of the verdict), which it turns into a failover.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from homeport.reconcilers.standbypair.plan import ProbeView


@dataclass(frozen=True)
class Probed:
    ok: bool
    at: datetime
    error: str | None


@dataclass
class ProbeTracker:
    """The last N probes of one App and the view the plan reads."""

    view: ProbeView = field(default_factory=ProbeView)
    recent: deque[Probed] = field(default_factory=deque)

    def record(
        self, ok: bool, error: str | None, at: datetime, threshold: int, window: int | None = None
    ) -> bool:
        """Record one probe; True when this miss makes the App down (K of the last N)."""
        size = max(window or threshold, threshold)
        self.recent.append(Probed(ok, at, error))
        while len(self.recent) > size:
            self.recent.popleft()
        misses = [p for p in self.recent if not p.ok]
        was_down = self.view.window_misses >= threshold
        down = len(misses) >= threshold
        crossed = down and not was_down
        previous = self.view
        # Frozen while down: the failure began with the oldest miss of the window that
        # crossed, however long the outage lasts (the data-loss window counts from there).
        failed_since = previous.failed_since if down and was_down else None
        if misses and failed_since is None:
            failed_since = misses[0].at
        detected = at if crossed else (previous.detected_at if down else None)
        last_error = error if not ok else (misses[-1].error if misses else None)
        if ok:
            since = previous.healthy_since if previous.healthy else at
            self.view = ProbeView(
                healthy=True,
                healthy_since=since,
                failed_since=failed_since,
                detected_at=detected,
                last_error=last_error,
                window_misses=len(misses),
            )
            return False
        self.view = ProbeView(
            healthy=False,
            failures=previous.failures + 1,
            failed_since=failed_since,
            detected_at=detected,
            last_error=last_error,
            window_misses=len(misses),
        )
        return crossed
