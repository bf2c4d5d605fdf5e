"""What the benchmark measures about the daemon's own time: cProfile of its event loop's
thread per phase (``--profile PREFIX``), the CPU of that thread against the others (the
Proxmox client's HTTPS calls run in threads, ``asyncio.to_thread``), how many HTTPS
connections requests opened (one per call would mean a TLS handshake per call), and the
time the garbage collector took.

cProfile sees only the thread it is enabled in: the event loop's, where the engine,
the reconcilers, asyncssh, the store and the bench's polling run. The threads' share is
given as CPU seconds beside it.
"""

from __future__ import annotations

import contextlib
import cProfile
import gc
import io
import logging
import pstats
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


class ConnectionCount(logging.Filter):
    """Counts urllib3's "Starting new HTTPS connection" records; lets only warnings on."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Starting new HTTP"):
            self.opened += 1
        return record.levelno >= logging.WARNING


class GcTime:
    """Time the cyclic garbage collector ran, in any of the process's threads (it holds
    the interpreter's lock throughout, so its wall time is CPU time), and collections by
    generation."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._began = 0.0
        gc.callbacks.append(self._on)

    def _on(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._began
            self.collections[info["generation"]] += 1


@dataclass
class Phase:
    """CPU seconds of one phase: the whole process, and the thread that ran it."""

    process: float = 0.0
    loop_thread: float = 0.0
    connections: int = 0
    gc_seconds: float = 0.0
    gc_collections: tuple[int, int, int] = (0, 0, 0)

    @property
    def other_threads(self) -> float:
        return max(self.process - self.loop_thread, 0.0)


@dataclass
class Profiling:
    """``phase(name)`` measures a phase; with a ``prefix`` it also profiles it and writes
    ``PREFIX-NAME.pstats`` and ``PREFIX-NAME.txt`` (top items by cumulative and own time)."""

    prefix: Path | None = None
    phases: dict[str, Phase] = field(default_factory=dict)
    connections: ConnectionCount = field(default_factory=ConnectionCount)
    gc_time: GcTime = field(default_factory=GcTime)

    def __post_init__(self) -> None:
        pool = logging.getLogger("urllib3.connectionpool")
        pool.setLevel(logging.DEBUG)
        pool.addFilter(self.connections)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[Phase]:
        figures = self.phases[name] = Phase()
        # The thread's CPU clock, not the wall's: the machine is shared (the simulator's
        # process, other work), and waiting for a core is not the daemon's cost.
        profile = cProfile.Profile(time.thread_time) if self.prefix is not None else None
        cpu, own, opened = time.process_time(), time.thread_time(), self.connections.opened
        collected, counts = self.gc_time.seconds, list(self.gc_time.collections)
        if profile is not None:
            profile.enable()
        try:
            yield figures
        finally:
            if profile is not None:
                profile.disable()
            figures.process = time.process_time() - cpu
            figures.loop_thread = time.thread_time() - own
            figures.connections = self.connections.opened - opened
            figures.gc_seconds = self.gc_time.seconds - collected
            after = self.gc_time.collections
            figures.gc_collections = (
                after[0] - counts[0],
                after[1] - counts[1],
                after[2] - counts[2],
            )
            if profile is not None and self.prefix is not None:
                self._write(profile, Path(f"{self.prefix}-{name}"))

    @staticmethod
    def _write(profile: cProfile.Profile, path: Path) -> None:
        profile.dump_stats(path.with_suffix(".pstats"))
        text = io.StringIO()
        stats = pstats.Stats(profile, stream=text).strip_dirs()
        for order in ("cumulative", "tottime"):
            print(f"== top 60 by {order} ==", file=text)
            stats.sort_stats(order).print_stats(60)
        path.with_suffix(".txt").write_text(text.getvalue())
