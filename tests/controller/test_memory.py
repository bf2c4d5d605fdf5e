"""The daemon's memory settings (``controller/memory.py``), in a process of their own:
frozen objects stay frozen for the rest of a process's life."""

from __future__ import annotations

import subprocess
import sys

from homeport.controller.memory import M_ARENA_MAX, limit_arenas

SCRIPT = """
import gc
from homeport.controller.memory import YOUNG_THRESHOLD, limit_arenas, tune_for_daemon

before = gc.get_threshold()
tune_for_daemon()
assert gc.get_freeze_count() > 1000, gc.get_freeze_count()  # start-up's objects
assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:]), gc.get_threshold()
assert limit_arenas()  # glibc takes the setting (CI and production run on Debian)

class Node:
    pass

# What the daemon makes afterwards is still collected: a cycle is found and freed.
a, b = Node(), Node()
a.other, b.other = b, a
del a, b
assert gc.collect() >= 2
print("ok")
"""


def test_start_up_is_frozen_and_later_garbage_still_collected() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


class Libc:
    def __init__(self, answer: int) -> None:
        self.calls: list[tuple[int, int]] = []
        self.answer = answer

    def mallopt(self, option: int, value: int) -> int:
        self.calls.append((option, value))
        return self.answer


def test_arenas_are_bounded_where_the_c_library_allows_it() -> None:
    glibc = Libc(1)
    assert limit_arenas(2, glibc) and glibc.calls == [(M_ARENA_MAX, 2)]
    assert not limit_arenas(2, Libc(0))  # refused: reported, nothing else happens
    assert not limit_arenas(2, object())  # no mallopt at all (musl)
