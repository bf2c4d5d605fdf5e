"""The guest's journal: what ``journalctl -u UNIT`` shows.

``systemd.py`` logs unit lifecycle lines, ``simapp.py`` logs what the app prints
(listening, requests, health), ``cloudinit.py`` logs its run. Entries persist in
``<state>/guests/<vmid>/journal.jsonl`` (persistent journald, as the seeds ask) and are
stamped with the simulated clock.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .seam import Clock


@dataclass(frozen=True)
class JournalEntry:
    timestamp: float
    unit: str
    identifier: str
    pid: int
    message: str


def short_timestamp(timestamp: float) -> str:
    """journalctl's ``short`` format time, in UTC (the cloud image's timezone)."""
    return time.strftime("%b %d %H:%M:%S", time.gmtime(timestamp))


class Journal:
    def __init__(self, path: Path, clock: Clock) -> None:
        self._path = path
        self._clock = clock
        self._entries: list[JournalEntry] | None = None

    def _all(self) -> list[JournalEntry]:
        if self._entries is None:
            self._entries = []
            if self._path.exists():
                for line in self._path.read_text().splitlines():
                    self._entries.append(JournalEntry(**json.loads(line)))
        return self._entries

    def log(self, unit: str, message: str, *, identifier: str = "systemd", pid: int = 1) -> None:
        entry = JournalEntry(self._clock(), unit, identifier, pid, message)
        self._all().append(entry)
        if self._path.parent.exists():
            with self._path.open("a") as handle:
                handle.write(json.dumps(asdict(entry)) + "\n")

    def entries(self, unit: str | None = None) -> list[JournalEntry]:
        return [e for e in self._all() if unit is None or e.unit == unit]
