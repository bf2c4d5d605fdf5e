from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from homeport.kinds.calendar import CalendarError, parse_calendar_event


@pytest.mark.parametrize(
    ("text", "after", "expected"),
    [
        ("02:00", datetime(2026, 11, 21, 1, 59), datetime(2026, 11, 21, 2, 0)),
        ("02:00", datetime(2026, 11, 21, 2, 0), datetime(2026, 11, 22, 2, 0)),
        ("mon..fri 21:00", datetime(2026, 11, 21, 10, 0), datetime(2026, 11, 23, 21, 0)),
        ("sat 03:00", datetime(2026, 11, 21, 3, 30), datetime(2026, 11, 28, 3, 0)),
        ("*/15", datetime(2026, 11, 21, 10, 7), datetime(2026, 11, 21, 10, 15)),
        ("daily", datetime(2026, 11, 21, 10, 7), datetime(2026, 11, 22, 0, 0)),
        ("hourly", datetime(2026, 11, 21, 10, 7), datetime(2026, 11, 21, 11, 0)),
        ("8..17:0/30", datetime(2026, 11, 21, 17, 31), datetime(2026, 11, 22, 8, 0)),
        ("sun,wed 12:05", datetime(2026, 11, 21, 0, 0), datetime(2026, 11, 22, 12, 5)),
    ],
)
def test_next_after(text: str, after: datetime, expected: datetime) -> None:
    assert parse_calendar_event(text).next_after(after) == expected


def test_longest_gap() -> None:
    assert parse_calendar_event("02:00").longest_gap(datetime(2026, 1, 1)) == timedelta(days=1)
    assert parse_calendar_event("mon..fri 21:00").longest_gap(datetime(2026, 1, 1)) == timedelta(
        days=3
    )


@pytest.mark.parametrize("text", ["25:00", "12:61", "funday 02:00", "", "a b c", "2026-01-01"])
def test_invalid(text: str) -> None:
    with pytest.raises(CalendarError):
        parse_calendar_event(text)
