"""Proxmox calendar events (the `schedule` of backup and replication jobs).

A subset of PVE's systemd-like format: ``[WEEKDAYS] [HOURS:]MINUTES`` with lists (``,``),
ranges (``..``), ``*`` and steps (``/N``), plus the special words ``minutely``, ``hourly``,
``daily``, ``weekly``, ``monthly``, ``yearly``/``annually``. Used to validate BackupPolicy
schedules (``backuppolicy.py``) and by the backup reconciler to judge freshness.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SPECIALS = {
    "minutely": "*:*",
    "hourly": "*:0",
    "daily": "0:0",
    "weekly": "mon 0:0",
}
# Month/year based specials need a date component; they are handled separately.
MONTHLY_SPECIALS = {"monthly", "yearly", "annually", "quarterly", "semiannually"}
_ITEM = re.compile(r"^(\*|\d{1,2})(?:\.\.(\d{1,2}))?(?:/(\d{1,2}))?$")


class CalendarError(ValueError):
    """The schedule is not a calendar event homeport understands."""


@dataclass(frozen=True)
class CalendarEvent:
    """A parsed calendar event: the weekdays, hours and minutes at which it fires."""

    text: str
    weekdays: frozenset[int]
    hours: frozenset[int]
    minutes: frozenset[int]
    month_days: frozenset[int] | None = None

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after ``moment`` (minute resolution)."""
        candidate = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(400):
            day_ok = candidate.weekday() in self.weekdays and (
                self.month_days is None or candidate.day in self.month_days
            )
            if day_ok:
                hit = self._first_time_on_day(candidate)
                if hit is not None:
                    return hit
            candidate = (candidate + timedelta(days=1)).replace(hour=0, minute=0)
        raise CalendarError(f"schedule {self.text!r} never fires")

    def _first_time_on_day(self, start: datetime) -> datetime | None:
        for hour in sorted(h for h in self.hours if h >= start.hour):
            for minute in sorted(self.minutes):
                moment = start.replace(hour=hour, minute=minute)
                if moment >= start:
                    return moment
        return None

    def longest_gap(self, around: datetime) -> timedelta:
        """The longest time between two firings over the weeks around ``around``."""
        start = around.replace(second=0, microsecond=0) - timedelta(days=35)
        previous = self.next_after(start)
        gap = timedelta(0)
        for _ in range(10_000):
            following = self.next_after(previous)
            gap = max(gap, following - previous)
            previous = following
            if previous > around + timedelta(days=35):
                break
        return gap


def _parse_items(text: str, low: int, high: int, what: str) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        match = _ITEM.fullmatch(item)
        if not match:
            raise CalendarError(f"{item!r} is not a valid {what} (use N, N..M, * or */N)")
        first, last, step = match.groups()
        start = low if first == "*" else int(first)
        end = (high if first == "*" else start) if last is None else int(last)
        if step is not None and last is None and first != "*":
            end = high
        stride = int(step) if step is not None else 1
        if not (low <= start <= high and low <= end <= high) or stride < 1 or start > end:
            raise CalendarError(f"{item!r} is out of range for {what} ({low}..{high})")
        values.update(range(start, end + 1, stride))
    return frozenset(values)


def _parse_weekdays(text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in text.split(","):
        first, _, last = item.partition("..")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise CalendarError(f"{item!r} is not a weekday or weekday range like 'mon..fri'")
        a = WEEKDAYS.index(first)
        b = WEEKDAYS.index(last) if last else a
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(b + 1)])
    return frozenset(days)


def parse_calendar_event(text: str) -> CalendarEvent:
    """Parse a PVE calendar event; raise CalendarError with a fix-oriented message."""
    spec = text.strip().lower()
    if spec in MONTHLY_SPECIALS:
        return CalendarEvent(text, frozenset(range(7)), frozenset({0}), frozenset({0}), None)
    spec = SPECIALS.get(spec, spec)
    parts = spec.split()
    if not parts or len(parts) > 2:
        raise CalendarError(
            f"{text!r} is not a calendar event; examples: '02:00', 'mon..fri 21:00', '*/15', 'daily'"
        )
    weekdays = frozenset(range(7))
    if len(parts) == 2 or parts[0][:3] in WEEKDAYS:
        weekdays = _parse_weekdays(parts[0])
        parts = parts[1:]
    if not parts:
        return CalendarEvent(text, weekdays, frozenset({0}), frozenset({0}))
    if "-" in parts[0]:
        raise CalendarError(f"{text!r}: date components are not supported; use weekdays and times")
    hours_text, _, minutes_text = parts[0].rpartition(":")
    try:
        hours = _parse_items(hours_text or "*", 0, 23, "hour")
        minutes = _parse_items(minutes_text, 0, 59, "minute")
    except CalendarError as exc:
        raise CalendarError(f"schedule {text!r}: {exc}") from None
    return CalendarEvent(text, weekdays, hours, minutes)
