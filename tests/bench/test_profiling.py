"""``bench/profiling.py``: a phase's CPU split, the HTTPS connections counted from
urllib3's log, and with a prefix the profile written where ``--profile`` says."""

from __future__ import annotations

import logging
import pstats
import threading
import time
from pathlib import Path

from bench.profiling import Profiling


def busy(seconds: float) -> None:
    """Spend ``seconds`` of this thread's CPU."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_a_phase_counts_connections_splits_cpu_and_writes_its_profile(tmp_path: Path) -> None:
    profiling = Profiling(tmp_path / "run")
    pool = logging.getLogger("urllib3.connectionpool")
    with profiling.phase("cold-20") as phase:
        pool.debug("Starting new HTTPS connection (%d): %s:%s", 1, "pve", 8006)
        pool.debug('https://pve:8006 "GET /api2/json/version HTTP/1.1" 200 None')
        worker = threading.Thread(target=busy, args=(0.05,))
        worker.start()
        worker.join()
        busy(0.02)
    assert phase.connections == 1
    assert phase.loop_thread >= 0.02
    assert phase.other_threads >= 0.04
    stats = pstats.Stats(str(tmp_path / "run-cold-20.pstats"))
    assert any(name == "busy" for _, _, name in stats.stats)  # type: ignore[attr-defined]
    text = (tmp_path / "run-cold-20.txt").read_text()
    assert "top 60 by cumulative" in text and "top 60 by tottime" in text
    assert pool.filters.count(profiling.connections) == 1
    pool.removeFilter(profiling.connections)
