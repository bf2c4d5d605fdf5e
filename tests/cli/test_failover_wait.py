"""`homeport failover --wait`: a finished switchover is recognised by the identity of the
newest failover record, however many records the pair already has."""

from __future__ import annotations

from pathlib import Path

from homeport.cli.operate_cmd import new_steps, newest_failover, wait_verdict
from homeport.controller.store import Store


def _record(store: Store, epoch: int, outcome: str) -> None:
    store.failovers.upsert(
        "shop", epoch, {"from_app": "shop-a", "to_app": "shop-b", "outcome": outcome}
    )


def test_a_completed_switchover_after_ten_records_is_done(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    try:
        for epoch in range(2, 13):  # 11 earlier failovers: more than a listing holds
            _record(store, epoch, "completed")
        before = newest_failover(store.failovers.for_pair("shop", limit=1))
        assert wait_verdict(before, store.failovers.for_pair("shop"), pending=True) is None
        _record(store, 13, "in progress")
        assert wait_verdict(before, store.failovers.for_pair("shop"), pending=False) is None
        _record(store, 13, "completed")
        records = store.failovers.for_pair("shop")
        assert len(records) == 10  # the listing is capped: counting cannot see the new one
        assert wait_verdict(before, records, pending=False) == "done"
    finally:
        store.close()


def test_a_request_gone_without_a_new_record_was_dropped(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    try:
        for epoch in range(2, 14):
            _record(store, epoch, "completed")
        before = newest_failover(store.failovers.for_pair("shop", limit=1))
        records = store.failovers.for_pair("shop")
        assert wait_verdict(before, records, pending=False) == "dropped"
        assert wait_verdict(None, [], pending=False) == "dropped"
    finally:
        store.close()


def test_progress_names_each_new_step_of_the_new_failover_once(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    try:
        _record(store, 2, "completed")
        before = newest_failover(store.failovers.for_pair("shop", limit=1))
        assert new_steps(before, store.failovers.for_pair("shop", limit=1), 0) == []
        steps = [{"at": "2026-01-01T00:00:00+00:00", "phase": "Detecting", "detail": "asked"}]
        store.failovers.upsert("shop", 3, {"outcome": "in progress", "timeline": steps})
        records = store.failovers.for_pair("shop", limit=1)
        assert new_steps(before, records, 0) == ["Detecting: asked"]
        steps.append({"at": "2026-01-01T00:00:01+00:00", "phase": "Fencing", "detail": ""})
        store.failovers.upsert("shop", 3, {"timeline": steps})
        records = store.failovers.for_pair("shop", limit=1)
        assert new_steps(before, records, 1) == ["Fencing"]  # the first was shown already
    finally:
        store.close()
