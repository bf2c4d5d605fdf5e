"""The probe window: K misses among the last N probes mean down (``probewindow.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from homeport.reconcilers.standbypair.probewindow import ProbeTracker

START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def _feed(results: str, threshold: int, window: int | None) -> tuple[ProbeTracker, list[int]]:
    """Feed probes ('x' miss, '.' pass) one second apart; the indexes where it crossed."""
    tracker, crossed = ProbeTracker(), []
    for index, mark in enumerate(results):
        at = START + timedelta(seconds=index)
        if tracker.record(mark == ".", None if mark == "." else "timeout", at, threshold, window):
            crossed.append(index)
    return tracker, crossed


def test_a_primary_down_more_than_half_the_time_is_down() -> None:
    tracker, crossed = _feed("x.x.x", threshold=3, window=5)
    assert crossed == [4]
    assert tracker.view.window_misses == 3
    # Detected when the third miss of the window came; failing since the first of them.
    assert tracker.view.failed_since == START
    assert tracker.view.detected_at == START + timedelta(seconds=4)
    # Each miss that brings the window back to K wakes the pair again.
    _, crossed = _feed("x.x.x.x.x.", threshold=3, window=5)
    assert crossed == [4, 6, 8]


def test_without_a_window_one_good_probe_resets_the_count() -> None:
    """Today's behaviour is kept by default: only consecutive misses count."""
    _, crossed = _feed("x.x.x.x.x.x.x.x.", threshold=3, window=None)
    assert crossed == []
    _, crossed = _feed("x.xxx", threshold=3, window=None)
    assert crossed == [4]


def test_steady_failures_cross_once_and_keep_their_start() -> None:
    for window in (None, 3, 6):
        tracker, crossed = _feed("..xxxxxxxx", threshold=3, window=window)
        assert crossed == [4], window
        assert tracker.view.failures == 8
        assert tracker.view.failed_since == START + timedelta(seconds=2)
        assert tracker.view.detected_at == START + timedelta(seconds=4)


def test_the_verdict_clears_once_the_misses_leave_the_window() -> None:
    tracker, crossed = _feed("xxx......", threshold=3, window=5)
    assert crossed == [2]
    assert tracker.view.healthy and tracker.view.window_misses == 0
    assert tracker.view.detected_at is None and tracker.view.failed_since is None
    _, crossed = _feed("xxx.....x.x.x", threshold=3, window=5)
    assert crossed == [2, 12]
