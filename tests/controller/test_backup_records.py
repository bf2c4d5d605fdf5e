"""The store's backup records: one row per archive; offsite copies merge per target."""

from __future__ import annotations

from pathlib import Path

from homeport.controller.store import Store


def test_records_merge_offsite_copies_and_list_newest_first(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.db")
    try:
        log = store.backups
        log.record(
            "local:backup/a",
            {"vm": "web", "vmid": 101, "policy": "daily", "ctime": 10, "sha256": "aa"},
            now="t1",
        )
        log.record("local:backup/b", {"vm": "web", "vmid": 101, "ctime": 20}, now="t1")
        log.record("local:backup/a", {"offsite": {"ssh": {"state": "mismatch"}}}, now="t2")
        log.record("local:backup/a", {"offsite": {"nas": {"state": "verified"}}}, now="t3")
        log.record("local:backup/a", {"restore_test": {"result": "passed"}}, now="t4")
        record = log.get("local:backup/a")
        assert record is not None
        assert record["offsite"] == {"ssh": {"state": "mismatch"}, "nas": {"state": "verified"}}
        assert record["restore_test"] == {"result": "passed"}
        assert record["sha256"] == "aa" and record["recorded_at"] == "t4"
        assert [r["volid"] for r in log.for_vm("web")] == ["local:backup/b", "local:backup/a"]
        assert [r["volid"] for r in log.for_policy("daily")] == ["local:backup/a"]
        assert log.get("local:backup/missing") is None
    finally:
        store.close()
