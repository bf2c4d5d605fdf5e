"""The one-line summary of a BackupPolicy in `homeport status`/`get` tables."""

from __future__ import annotations

from homeport.services.views.objects import _backup_summary


def test_summary_shows_the_worst_age_and_3_2_1() -> None:
    vms = {
        "a": {"ageHours": 3.2, "threeTwoOne": {"holds": True}},
        "b": {"ageHours": 25.9, "threeTwoOne": {"holds": False}},
    }
    assert _backup_summary({"job": "homeport-x", "vms": vms}) == (
        "2 VM(s), backups ≤ 26h old, 3-2-1 for 1/2"
    )
    never = {"a": {"ageHours": None, "threeTwoOne": {"holds": False}}}
    assert _backup_summary({"vms": never}) == "1 VM(s), some never backed up, 3-2-1 for 0/1"
    assert _backup_summary({"job": "homeport-x"}) == "homeport-x"
