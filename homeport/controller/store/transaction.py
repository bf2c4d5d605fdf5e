"""Explicit transactions on the autocommit connection (BEGIN IMMEDIATE … COMMIT).

The tables write through ``db.execute`` only (sqlite-utils' table helpers would commit on
their own, in the middle of one).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from homeport.controller.store.database import Connection


@contextmanager
def transaction(db: Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
