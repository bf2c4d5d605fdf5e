"""The daemon as a separate process (``python -m homeport run``), for crash scenarios.

``DaemonProcess`` starts it with its output in a log file, tells when it holds the
leader lease, and ends it either the hard way (``kill -9``: no drain, no lease release,
journal entries left at ``intent``) or cleanly (SIGTERM, then its exit status). Whoever
starts one ends it in a ``finally``: no daemon outlives its test.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from homeport.simulator.tomltext import render_toml
from testkit.harness import ROOT


def crash_config(config: Path, target: Path, **overrides: dict[str, Any]) -> Path:
    """A copy of the estate's controller config with some sections overridden."""
    sections = tomllib.loads(config.read_text())
    for section, values in overrides.items():
        sections.setdefault(section, {}).update(values)
    target.write_text(render_toml(sections))
    return target


class StoreWatch:
    """Read-only looks at the daemon's store (WAL: never blocks the daemon)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection | None:
        if self._db is None and self.path.exists():
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            self._db.execute("PRAGMA busy_timeout = 5000")
        return self._db

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        db = self._conn()
        if db is None:
            return []
        try:
            return db.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # the daemon has not created its tables yet
            return []

    def lease_holder(self) -> str:
        rows = self.query("SELECT holder FROM leases WHERE name = 'controller'")
        return str(rows[0][0]) if rows else ""

    def last_journal_id(self) -> int:
        rows = self.query("SELECT COALESCE(MAX(id), 0) FROM journal")
        return int(rows[0][0]) if rows else 0

    def journal_since(self, after: int) -> list[tuple[int, str, str, str, str]]:
        """(id, kind, name, verb, state) of the entries after ``after``."""
        return [
            (int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]))
            for r in self.query(
                "SELECT id, kind, name, verb, state FROM journal WHERE id > ? ORDER BY id",
                (after,),
            )
        ]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


@dataclass
class DaemonProcess:
    process: asyncio.subprocess.Process
    log: Path
    _out: IO[bytes]

    @classmethod
    async def start(cls, config: Path, log: Path) -> DaemonProcess:
        out = log.open("wb")
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "homeport",
                "run",
                "--config",
                str(config),
                cwd=ROOT,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        except BaseException:
            out.close()
            raise
        return cls(process, log, out)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def wait_leader(self, watch: StoreWatch, *, timeout: float) -> None:
        """Until this process holds the leader lease (holders are ``name:pid:random``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        marker = f":{self.pid}:"
        while marker not in watch.lease_holder():
            if not self.alive:
                raise AssertionError(f"daemon {self.pid} exited early:\n{self.tail()}")
            if loop.time() > deadline:
                raise AssertionError(f"daemon {self.pid} not leader after {timeout:g}s")
            await asyncio.sleep(0.01)

    async def kill(self) -> None:
        """``kill -9`` and reap."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self._out.close()

    async def terminate(self, *, timeout: float) -> int:
        """SIGTERM (drain, release the lease, exit); its exit status. Killed after ``timeout``."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout):
                return await self.process.wait()
        except TimeoutError:
            await self.kill()
            raise AssertionError(
                f"daemon {self.pid} did not stop {timeout:g}s after SIGTERM"
            ) from None
        finally:
            self._out.close()

    def tail(self, lines: int = 40) -> str:
        if not self._out.closed:
            self._out.flush()
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])
