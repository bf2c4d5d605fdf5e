"""Counts of external calls, reads apart from mutations, per operation.

``proxmox_transport`` (and the other clients) record every call here; the controller
reports the counts per resync, and convergence tests assert "zero mutating calls when
converged". Counts are logical calls; retries are counted separately.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CallCounts:
    """A snapshot of ``CallStats``."""

    reads: dict[str, int]
    mutations: dict[str, int]
    retries: dict[str, int]

    @property
    def total_reads(self) -> int:
        return sum(self.reads.values())

    @property
    def total_mutations(self) -> int:
        return sum(self.mutations.values())

    def minus(self, earlier: CallCounts) -> CallCounts:
        """The calls made since ``earlier`` was taken."""
        return CallCounts(
            _diff(self.reads, earlier.reads),
            _diff(self.mutations, earlier.mutations),
            _diff(self.retries, earlier.retries),
        )


def _diff(now: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in now.items() if v - before.get(k, 0)}


@dataclass
class CallStats:
    """Mutable counters a client increments; ``snapshot()`` for reporting and tests."""

    _reads: Counter[str] = field(default_factory=Counter)
    _mutations: Counter[str] = field(default_factory=Counter)
    _retries: Counter[str] = field(default_factory=Counter)

    def record(self, operation: str, *, mutating: bool) -> None:
        (self._mutations if mutating else self._reads)[operation] += 1

    def record_retry(self, operation: str) -> None:
        self._retries[operation] += 1

    def snapshot(self) -> CallCounts:
        return CallCounts(dict(self._reads), dict(self._mutations), dict(self._retries))

    def reset(self) -> None:
        self._reads.clear()
        self._mutations.clear()
        self._retries.clear()
