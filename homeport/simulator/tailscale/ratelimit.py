"""Per-token rate limiting of the simulated Tailscale API (``api.py``).

Tailscale documents no limits (tailscale/tailscale#14328), so the simulator's are a fixed
window of N requests per W simulated seconds per token, off unless configured; the
``Tailnet.throttle`` fault forces 429 on every request.
"""

from __future__ import annotations

import math


class RateLimiter:
    def __init__(self, limit: tuple[int, float] | None) -> None:
        self.limit = limit
        self._windows: dict[str, tuple[float, int]] = {}

    def retry_after(self, token: str, now: float) -> int | None:
        """Seconds to wait if this request is over the limit, else None (and count it)."""
        if self.limit is None:
            return None
        allowed, window = self.limit
        start, count = self._windows.get(token, (now, 0))
        if now - start >= window:
            start, count = now, 0
        if count >= allowed:
            return max(1, math.ceil(start + window - now))
        self._windows[token] = (start, count + 1)
        return None
