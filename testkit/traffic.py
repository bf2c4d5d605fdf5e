"""Steady HTTP traffic through Caddy during a scenario, and the checks on what it saw."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class Sample:
    at: float
    status: int | None
    app: str | None
    epoch: int | None


REQUEST_TIMEOUT = 1.0


@dataclass
class Traffic:
    url: str
    host: str
    samples: list[Sample] = field(default_factory=list)

    async def run(self, stop: asyncio.Event, interval: float = 0.02) -> None:
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT, trust_env=False) as client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    response = await client.get(self.url, headers={"Host": self.host})
                    body = response.json() if response.status_code == 200 else {}
                    self.samples.append(
                        Sample(started, response.status_code, body.get("app"), body.get("epoch"))
                    )
                except (httpx.HTTPError, ValueError):
                    self.samples.append(Sample(started, None, None, None))
                await asyncio.sleep(interval)

    def served_by(self) -> list[str]:
        """The Apps that answered, in order, runs collapsed: e.g. [a, b]."""
        order: list[str] = []
        for sample in self.samples:
            if sample.app and (not order or order[-1] != sample.app):
                order.append(sample.app)
        return order

    def check_one_primary_at_a_time(self) -> None:
        """One App per epoch; once an epoch's primary answered, no earlier (epoch, App)
        answers again (a failback to the first App comes with a newer epoch); epochs never
        go down."""
        runs: list[tuple[int | None, str]] = []
        for sample in self.samples:
            if sample.app and (not runs or runs[-1] != (sample.epoch, sample.app)):
                runs.append((sample.epoch, sample.app))
        assert len(runs) == len(set(runs)), f"two primaries reachable through Caddy: {runs}"
        apps_per_epoch: dict[int | None, set[str]] = {}
        for epoch, app in runs:
            apps_per_epoch.setdefault(epoch, set()).add(app)
        shared = {e: a for e, a in apps_per_epoch.items() if len(a) > 1}
        assert not shared, f"one epoch served by two Apps: {shared}"
        epochs = [int(s.epoch) for s in self.samples if s.epoch is not None]
        assert epochs == sorted(epochs), "a response carried an older epoch after a newer one"

    def outage(self, since: float) -> tuple[float, float] | None:
        """(first failed request, first success after it) relative to ``since``, if any failed.

        A request started up to one client timeout before the fault may fail because of it.
        """
        failed = [s for s in self.samples if s.at >= since - REQUEST_TIMEOUT and s.status != 200]
        if not failed:
            return None
        first = failed[0].at
        recovered = next(
            (s.at for s in self.samples if s.at > failed[-1].at and s.status == 200), None
        )
        assert recovered is not None, "the service never recovered"
        return first - since, recovered - since

    def failures_outside(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if s.status != 200 and not (start <= s.at <= end)]
