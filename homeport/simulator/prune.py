"""Backup retention marking with `PVE::Storage::prune_mark_backup_group` semantics.

Given one guest's backups and `keep-*` options, mark each `keep`, `remove` or `protected`.
Each option walks the backups newest first, skips those already marked, and keeps the newest
backup of every period (hour, day, ISO week, month, year) not already covered, until it has
kept `N` periods. Periods use UTC (`calendar_event` explains why).
Used by `pve.backups` after vzdump and by the `prunebackups` endpoints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

Mark = str  # "keep" | "remove" | "protected"


@dataclass(frozen=True)
class PruneEntry:
    volid: str
    ctime: int
    protected: bool = False


def _period(ctime: int, fmt: str) -> str:
    return dt.datetime.fromtimestamp(ctime, dt.UTC).strftime(fmt)


_PERIODS: tuple[tuple[str, Callable[[int], str]], ...] = (
    ("keep-last", str),
    ("keep-hourly", lambda t: _period(t, "%Y/%m/%d/%H")),
    ("keep-daily", lambda t: _period(t, "%Y/%m/%d")),
    ("keep-weekly", lambda t: _period(t, "%G/%V")),
    ("keep-monthly", lambda t: _period(t, "%Y/%m")),
    ("keep-yearly", lambda t: _period(t, "%Y")),
)


def mark_backups(entries: list[PruneEntry], keep: dict[str, int]) -> dict[str, Mark]:
    """The mark of every entry's volid."""
    marks: dict[str, Mark] = {e.volid: "protected" for e in entries if e.protected}
    positive = [k for k, v in keep.items() if k != "keep-all" and v > 0]
    if keep.get("keep-all") or not positive:
        return {e.volid: marks.get(e.volid, "keep") for e in entries}
    newest_first = sorted(entries, key=lambda e: e.ctime, reverse=True)
    for option, period in _PERIODS:
        _mark_option(newest_first, marks, keep.get(option, 0), period)
    return {e.volid: marks.get(e.volid, "remove") for e in entries}


def _mark_option(
    entries: list[PruneEntry], marks: dict[str, Mark], count: int, period: Callable[[int], str]
) -> None:
    if not count:
        return
    covered = {period(e.ctime) for e in entries if marks.get(e.volid) == "keep"}
    newly: set[str] = set()
    for entry in entries:
        key = period(entry.ctime)
        if entry.volid in marks or key in covered:
            continue
        if key in newly:
            marks[entry.volid] = "remove"
            continue
        if len(newly) >= count:
            break
        newly.add(key)
        marks[entry.volid] = "keep"
