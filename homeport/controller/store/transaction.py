"""Explicit transactions on the autocommit connection (BEGIN IMMEDIATE … COMMIT).

Inside one, use ``db.execute`` only: sqlite-utils table helpers commit on their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlite_utils


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
