"""Exponential backoff with jitter, per key.

``delay = min(base * 2**failures, cap) * (1 ± jitter)``; the random spread comes from a
seeded ``random.Random`` so tests can assert exact times (jitter 0) or exact bounds.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base: float = 1.0
    cap: float = 300.0
    jitter: float = 0.1
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    failures: dict[Hashable, int] = field(default_factory=dict)

    def next_delay(self, key: Hashable) -> float:
        """Count one more failure for ``key`` and return how long to wait before retrying."""
        count = self.failures.get(key, 0)
        self.failures[key] = count + 1
        delay: float = min(self.base * (2**count), self.cap)
        if self.jitter:
            delay *= 1 + self.rng.uniform(-self.jitter, self.jitter)
        return delay

    def reset(self, key: Hashable) -> None:
        self.failures.pop(key, None)

    def failures_of(self, key: Hashable) -> int:
        return self.failures.get(key, 0)
