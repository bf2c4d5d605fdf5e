"""How the daemon's process holds memory (``homeport run`` sets it up once, after start).

- The cyclic garbage collector. CPython collects its youngest generation every 700 net
  allocations and, now and then, walks every object the process holds (a full
  collection). A daemon holding a large estate paid that walk over and over: at 5000
  objects, 143 full collections took 59 of a cold convergence's 359 CPU seconds
  (``bench/converge.py`` prints the collector's time).
- glibc's malloc arenas. glibc gives threads arenas of their own, up to eight per core;
  the Proxmox calls run in a pool of threads, and each arena keeps what it freed.
"""

from __future__ import annotations

import ctypes
import gc
from typing import Any

YOUNG_THRESHOLD = 10_000
"""Allocations between collections of the youngest generation (CPython's default: 700):
fewer collections, and fewer short-lived objects promoted to the older generations, whose
growth is what triggers full collections."""

ARENAS = 2
"""glibc's ``M_ARENA_MAX`` for the daemon: the main arena and one for the threads."""
M_ARENA_MAX = -8  # <malloc.h>


def tune_for_daemon() -> None:
    """Freeze what start-up made (imported modules, settings, clients: alive for the
    daemon's whole life) out of every later collection, and collect the youngest
    generation less often. Call once, after start-up, in the daemon's own process only:
    frozen objects are never collected, so a process that starts many daemons (the
    tests) would keep each one's garbage."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def limit_arenas(count: int = ARENAS, libc: Any = None) -> bool:
    """Set glibc's ``M_ARENA_MAX`` (``mallopt``), first thing in the daemon's process:
    it bounds the arenas made after it, not those already made. False where the C
    library has no such setting (musl, other systems), which changes nothing else."""
    try:
        found = libc if libc is not None else ctypes.CDLL(None)  # the process's own libc
        mallopt = found.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, count) == 1)  # mallopt answers 1 on success
