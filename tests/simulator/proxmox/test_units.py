"""Pure pieces of the simulator: calendar events, retention marks, property strings, UPIDs."""

from __future__ import annotations

import datetime as dt

import pytest

from homeport.simulator.calendar_event import CalendarError, parse_calendar_event
from homeport.simulator.propstring import (
    format_size,
    parse_keep_options,
    parse_propstring,
    parse_size,
)
from homeport.simulator.prune import PruneEntry, mark_backups
from homeport.simulator.upid import parse_upid


def _t(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def _iso(epoch: float | None) -> str:
    assert epoch is not None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize(
    ("event", "after", "expected"),
    [
        ("21:00", "2025-03-10T12:00", "2025-03-10T21:00"),
        ("21:00", "2025-03-10T21:00", "2025-03-11T21:00"),
        ("daily", "2025-03-10T12:00", "2025-03-11T00:00"),
        ("*/15", "2025-03-10T12:07", "2025-03-10T12:15"),
        ("*/15", "2025-03-10T12:45", "2025-03-10T13:00"),
        ("mon..fri 21:00", "2025-03-14T22:00", "2025-03-17T21:00"),
        ("sat 02:00", "2025-03-10T12:00", "2025-03-15T02:00"),
        ("sat,sun 02:30", "2025-03-15T03:00", "2025-03-16T02:30"),
        ("8:00/15", "2025-03-10T08:20", "2025-03-10T08:30"),
        ("mon..fri 8..17,22:0/15", "2025-03-10T17:50", "2025-03-10T22:00"),
        ("hourly", "2025-03-10T12:00", "2025-03-10T13:00"),
        ("monthly", "2025-01-31T12:00", "2025-02-01T00:00"),
        ("weekly", "2025-03-10T00:00", "2025-03-17T00:00"),
        ("fri..mon 01:00", "2025-03-11T12:00", "2025-03-14T01:00"),
    ],
)
def test_calendar_events(event: str, after: str, expected: str) -> None:
    assert _iso(parse_calendar_event(event).next_after(_t(after))) == expected


@pytest.mark.parametrize("bad", ["someday", "25:00", "mon..xyz 10:00", "*/61", ""])
def test_bad_calendar_events(bad: str) -> None:
    with pytest.raises(CalendarError):
        parse_calendar_event(bad)


def _daily(first: str, days: int) -> list[PruneEntry]:
    start = _t(first)
    return [PruneEntry(f"b{n}", int(start + n * 86400)) for n in range(days)]


def _kept(entries: list[PruneEntry], keep: dict[str, int]) -> list[str]:
    marks = mark_backups(entries, keep)
    return sorted(_iso(e.ctime)[5:10] for e in entries if marks[e.volid] == "keep")


def test_keep_last_and_keep_all() -> None:
    entries = _daily("2025-01-01T21:00", 5)
    assert _kept(entries, {"keep-last": 2}) == ["01-04", "01-05"]
    assert _kept(entries, {"keep-all": 1}) == ["01-01", "01-02", "01-03", "01-04", "01-05"]
    assert _kept(entries, {}) == ["01-01", "01-02", "01-03", "01-04", "01-05"]


def test_keep_daily_weekly_monthly_over_a_year_end() -> None:
    entries = _daily("2024-12-20T21:00", 20)  # Dec 20 .. Jan 8
    kept = _kept(entries, {"keep-daily": 3, "keep-weekly": 2, "keep-monthly": 2})
    # daily: Jan 6-8; weekly: ISO week 2025-W01 (Dec 30-Jan 5) -> Jan 5, 2024-W52 -> Dec 29;
    # monthly: Jan and Dec already covered, so nothing more.
    assert kept == ["01-05", "01-06", "01-07", "01-08", "12-29"]


def test_keep_hourly_and_yearly() -> None:
    start = _t("2025-06-01T10:00")
    entries = [PruneEntry(f"h{n}", int(start + n * 1200)) for n in range(9)]  # every 20 minutes
    kept = sorted(
        e.ctime for e in entries if mark_backups(entries, {"keep-hourly": 2})[e.volid] == "keep"
    )
    assert [_iso(t)[11:] for t in kept] == ["11:40", "12:40"]
    years = [PruneEntry(f"y{y}", int(_t(f"{y}-05-01T00:00"))) for y in range(2019, 2025)]
    assert sum(1 for m in mark_backups(years, {"keep-yearly": 3}).values() if m == "keep") == 3


def test_protected_entries_are_never_removed_nor_counted() -> None:
    entries = _daily("2025-01-01T21:00", 4)
    entries[3] = PruneEntry("b3", entries[3].ctime, protected=True)
    marks = mark_backups(entries, {"keep-last": 1})
    assert marks == {"b0": "remove", "b1": "remove", "b2": "keep", "b3": "protected"}


def test_property_strings_and_sizes() -> None:
    assert parse_propstring("virtio=BC:24:11:00:00:01,bridge=vmbr0", "model") == {
        "virtio": "BC:24:11:00:00:01",
        "bridge": "vmbr0",
    }
    assert (
        parse_propstring("local-lvm:vm-100-disk-0,size=32G", "file")["file"]
        == "local-lvm:vm-100-disk-0"
    )
    assert (
        parse_size("32G") == 32 << 30
        and parse_size("512M") == 512 << 20
        and parse_size("1024") == 1024
    )
    assert format_size(32 << 30) == "32G" and format_size(1536 << 20) == "1536M"
    assert parse_keep_options("keep-daily=7,keep-weekly=4") == {"keep-daily": 7, "keep-weekly": 4}
    with pytest.raises(ValueError, match="invalid key"):
        parse_keep_options("keep-forever=1")


def test_upids_need_their_trailing_colon() -> None:
    upid = parse_upid("UPID:pve1:0035D677:03AB00C3:66DC5987:qmclone:132:root@pam!api:")
    assert (
        upid is not None
        and upid.pid == 0x35D677
        and upid.user == "root@pam!api"
        and upid.type == "qmclone"
    )
    assert str(upid) == "UPID:pve1:0035D677:03AB00C3:66DC5987:qmclone:132:root@pam!api:"
    assert parse_upid("UPID:pve1:0035D677:03AB00C3:66DC5987:qmclone:132:root@pam") is None
