"""Write-through of the rows every control plane must agree on (``backend = "etcd"``).

With the ``local`` backend no replica is attached and nothing here does anything: the
store is the only copy. With etcd (``services/ha/replica.py``) the tables holding
shared rows — reconcilers' memory, allocations, the journal, failover records, the
adopted revision and approvals, pending prunes, status — write each row to the replica
*inside* their local transaction: the local row commits only when the replica took it, so
a fenced-out leader changes neither, and a store rebuilt from etcd (``services/ha/
follow.py``) gets every row back. Rows arriving from etcd are written with the link
``paused`` so that they are not sent back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

from homeport.controller.store.database import Connection
from homeport.controller.store.transaction import transaction

SharedKey = tuple[str | int, ...]
"""A shared row: its table then the parts of its identity, e.g. ``("memory", kind, name)``."""


class Replica(Protocol):
    def put(self, key: SharedKey, value: Any, *, required: bool = True) -> None:
        """Write the row; with ``required`` raise when it could not be written (fenced out,
        etcd unavailable), otherwise only log it."""
        ...

    def delete(self, key: SharedKey, *, required: bool = True) -> None: ...


class ReplicaLink:
    """The store's one connection to its replica, shared by every table."""

    def __init__(self) -> None:
        self.replica: Replica | None = None
        self._paused = 0

    def active(self) -> Replica | None:
        return None if self._paused else self.replica

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Write locally only (rows that came from the replica)."""
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1


@contextlib.contextmanager
def shared_write(db: Connection, link: ReplicaLink) -> Iterator[Replica | None]:
    """A local write that the replica (if any) must take too: one transaction around both."""
    replica = link.active()
    if replica is None or db.in_transaction:
        yield replica
        return
    with transaction(db):
        yield replica
