"""Live reads and writes through Caddy for the no-lost-writes scenarios: every request is
its own task with a long client timeout (as a patient client's would be), so a request
stuck in flight to a hung primary is answered, or not, when that VM resumes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

PATIENT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Answer:
    kind: str  # "read" | "write"
    key: str | None
    sent: float  # monotonic
    answered: float  # monotonic
    answered_wall: datetime
    status: int | None
    app: str | None
    epoch: int | None


@dataclass
class Workload:
    url: str
    host: str
    answers: list[Answer] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _next: int = 0

    async def run(self, stop: asyncio.Event, *, reads_per_write: int = 2) -> None:
        async with httpx.AsyncClient(timeout=PATIENT_TIMEOUT, trust_env=False) as client:
            while not stop.is_set():
                self._next += 1
                if self._next % (reads_per_write + 1) == 0:
                    key: str | None = f"w-{self._next:06d}"
                    request = client.build_request(
                        "PUT", f"{self.url}/kv/{key}", headers={"Host": self.host}, content=b"1"
                    )
                else:
                    key, request = (
                        None,
                        client.build_request("GET", f"{self.url}/", headers={"Host": self.host}),
                    )
                task = asyncio.create_task(self._send(client, request, key))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                await asyncio.sleep(0.05)
            await asyncio.gather(*self._tasks)

    async def _send(
        self, client: httpx.AsyncClient, request: httpx.Request, key: str | None
    ) -> None:
        sent = time.monotonic()
        status = app = epoch = None
        try:
            response = await client.send(request)
            status = response.status_code
            if status == 200:
                body = response.json()
                app, epoch = body.get("app"), body.get("epoch")
        except (httpx.HTTPError, ValueError):
            pass
        self.answers.append(
            Answer("write" if key else "read", key, sent, time.monotonic(), datetime.now(UTC),
                   status, app, epoch)
        )  # fmt: skip

    def first_answer_by(self, app: str) -> float | None:
        times = [a.answered for a in self.answers if a.app == app]
        return min(times) if times else None

    def acknowledged_writes(self) -> list[Answer]:
        return [a for a in self.answers if a.kind == "write" and a.status == 200]
