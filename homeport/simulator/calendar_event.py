"""PVE calendar events (`mon..fri 21:00`, `*/15`, `daily`) and their next occurrence.

The subset of `PVE::CalendarEvent` that backup jobs and replication use: weekday lists and
ranges, an optional `[YEAR-]MONTH-DAY` date, `HOUR:MINUTE` with lists, ranges and `/step`
repetitions (a lone time component means minutes, so `*/15` is every 15 minutes), and the
special words. Times are UTC: the simulated nodes run with `TZ=UTC`.
Used by `pve.backup_jobs` (`next-run`) and `pve.replication` (`next_sync`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPECIAL = {
    "minutely": "*:*",
    "hourly": "*:00",
    "daily": "00:00",
    "weekly": "mon 00:00",
    "monthly": "*-*-01 00:00",
    "yearly": "*-01-01 00:00",
    "annually": "*-01-01 00:00",
    "quarterly": "*-01,04,07,10-01 00:00",
    "semiannually": "*-01,07-01 00:00",
}
_SEARCH_DAYS = 366 * 5


class CalendarError(ValueError):
    """The text is not a calendar event PVE accepts."""


@dataclass(frozen=True)
class CalendarEvent:
    weekdays: frozenset[int]
    years: frozenset[int] | None
    months: frozenset[int]
    days: frozenset[int]
    hours: tuple[int, ...]
    minutes: tuple[int, ...]

    def next_after(self, after: float) -> float | None:
        """The first occurrence strictly after `after` (epoch seconds), or None."""
        start = dt.datetime.fromtimestamp((int(after) // 60 + 1) * 60, dt.UTC)
        day = start.date()
        for _ in range(_SEARCH_DAYS):
            if self._matches_day(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        when = dt.datetime(
                            day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC
                        )
                        if when >= start:
                            return when.timestamp()
            day += dt.timedelta(days=1)
        return None

    def _matches_day(self, day: dt.date) -> bool:
        return (
            day.weekday() in self.weekdays
            and day.month in self.months
            and day.day in self.days
            and (self.years is None or day.year in self.years)
        )


def parse_calendar_event(text: str) -> CalendarEvent:
    """Parse `text` or raise CalendarError with PVE's wording."""
    spec = _SPECIAL.get(text.strip(), text.strip())
    if not spec:
        raise CalendarError("unable to parse calendar event - event is empty")
    tokens = spec.split()
    weekdays = frozenset(range(7))
    if tokens and re.match(r"^[a-z]", tokens[0]):
        weekdays = _parse_weekdays(tokens.pop(0))
    years: frozenset[int] | None = None
    months, days = frozenset(range(1, 13)), frozenset(range(1, 32))
    if tokens and "-" in tokens[0]:
        years, months, days = _parse_date(tokens.pop(0))
    hours: tuple[int, ...] = (0,)
    minutes: tuple[int, ...] = (0,)
    if tokens:
        hours, minutes = _parse_time(tokens.pop(0))
    if tokens:
        raise CalendarError(f"unable to parse calendar event - unexpected '{tokens[0]}'")
    return CalendarEvent(weekdays, years, months, days, hours, minutes)


def _parse_weekdays(text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in text.split(","):
        first, sep, last = item.partition("..")
        if first not in _WEEKDAYS or (sep and last not in _WEEKDAYS):
            raise CalendarError(f"unable to parse calendar event - invalid weekday '{item}'")
        lo, hi = _WEEKDAYS.index(first), _WEEKDAYS.index(last if sep else first)
        days.update(range(lo, hi + 1) if lo <= hi else [*range(lo, 7), *range(hi + 1)])
    return frozenset(days)


def _parse_date(text: str) -> tuple[frozenset[int] | None, frozenset[int], frozenset[int]]:
    parts = text.split("-")
    if len(parts) == 2:
        parts.insert(0, "*")
    if len(parts) != 3:
        raise CalendarError(f"unable to parse calendar event - invalid date '{text}'")
    years = None if parts[0] == "*" else frozenset(_expand(parts[0], 1970, 9999))
    return years, frozenset(_expand(parts[1], 1, 12)), frozenset(_expand(parts[2], 1, 31))


def _parse_time(text: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    parts = text.split(":")
    if len(parts) == 1:
        return tuple(range(24)), tuple(sorted(_expand(parts[0], 0, 59)))
    if len(parts) not in (2, 3):
        raise CalendarError(f"unable to parse calendar event - invalid time '{text}'")
    return tuple(sorted(_expand(parts[0], 0, 23))), tuple(sorted(_expand(parts[1], 0, 59)))


def _expand(text: str, lo: int, hi: int) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        values.update(_expand_item(item, lo, hi))
    return values


def _expand_item(item: str, lo: int, hi: int) -> range:
    base, _, step_text = item.partition("/")
    step = _number(step_text, 1, hi) if step_text else 1
    if base == "*":
        return range(lo, hi + 1, step)
    first, sep, last = base.partition("..")
    start = _number(first, lo, hi)
    if sep:
        return range(start, _number(last, lo, hi) + 1, step)
    return range(start, (hi if step_text else start) + 1, step)


def _number(text: str, lo: int, hi: int) -> int:
    if not text.isdigit() or not lo <= int(text) <= hi:
        raise CalendarError(f"unable to parse calendar event - value '{text}' out of range")
    return int(text)
