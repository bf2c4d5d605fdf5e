"""One daemon per store: an exclusive lock on ``<store>.lock`` for the daemon's lifetime.

Two daemons on one store would share the control socket, the repository's wake-up socket
and the journal (the second marking the first's in-flight actions interrupted). The kernel
drops the lock when its holder dies, even by ``kill -9``, so a restart never finds it
stale. Several control planes each have their own store (docs/ha.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from homeport.controller.config import ConfigError


class StoreInUse(ConfigError):
    """Another daemon holds the store."""


def lock_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".lock")


@contextlib.contextmanager
def exclusive_store(store_path: Path) -> Iterator[None]:
    path = lock_path(store_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise StoreInUse(
                f"another homeport daemon (pid {holder}) runs on the store {store_path}; "
                "stop it first (one store serves one daemon; for several control planes, "
                "give each its own store and an etcd coordination backend: docs/ha.md)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
