"""BackupPolicy plan fixtures: (desired, observed) → expected actions and conditions; no sockets.

Observed fields follow ``BackupObserved``; times are ISO strings (UTC). Shorthands:
``job: converged`` (the job exactly as declared, owned by the policy) with ``job_drift``
overriding some of its fields; ``now`` defaults to 2026-01-10T12:00:00Z.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from homeport.kinds import BackupPolicy
from homeport.reconcilers.backuppolicy import plan_backup
from homeport.reconcilers.backuppolicy.actions import CopyTarget
from homeport.reconcilers.backuppolicy.job import desired_fields, job_id
from homeport.reconcilers.backuppolicy.observed import (
    AppCheck,
    Archive,
    BackupFailure,
    BackupObserved,
    ObservedJob,
    OffsiteCopy,
    ScratchVM,
    SelectedVM,
)
from tests.reconcilers.fixtures import Case, check_plan, load_cases

CASES = load_cases(
    Path(__file__).parent / "cases",
    "BackupPolicy",
    extra_expect=frozenset({"conditions", "vm_details"}),
)
NOW = "2026-01-10T12:00:00Z"


def epoch(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())


def _vm(data: dict[str, Any]) -> SelectedVM:
    data = dict(data)
    node = data.get("node", "pve1")
    data["archives"] = tuple(
        Archive(a["volid"], epoch(a["ctime"]), a.get("size", 1 << 20), a.get("node", node))
        for a in data.get("archives", [])
    )
    data["failures"] = tuple(
        BackupFailure(
            f["upid"], f.get("node", node), epoch(f["at"]), f["exitstatus"], tuple(f.get("log", []))
        )
        for f in data.get("failures", [])
    )
    data["copies"] = {
        volid: {
            key: OffsiteCopy(**{**c, "ctime": epoch(c.get("ctime", 0))})
            for key, c in targets.items()
        }
        for volid, targets in data.get("copies", {}).items()
    }
    data["apps"] = tuple(AppCheck(**a) for a in data.get("apps", []))
    data["static_ipconfigs"] = tuple(data.get("static_ipconfigs", []))
    data.setdefault("node", node)
    return SelectedVM(**data)


def observed_for(case: Case) -> BackupObserved:
    data: dict[str, Any] = {"name": "daily", "job_id": job_id("daily"), **case.observed}
    data.pop("now", None)
    vms = tuple(_vm(v) for v in data.pop("vms", []))
    data["vms"] = vms
    job = data.pop("job", None)
    drift = data.pop("job_drift", {})
    if job == "converged":
        assert isinstance(case.desired, BackupPolicy)
        fields = desired_fields(case.desired, [v.vmid for v in vms if v.vmid is not None])
        data["job"] = ObservedJob(data["job_id"], "BackupPolicy/daily", {**fields, **drift})
    elif isinstance(job, dict):
        data["job"] = ObservedJob(job.get("id", data["job_id"]), job.get("owner"), job["fields"])
    data["scratch"] = tuple(ScratchVM(**s) for s in data.pop("scratch", []))
    data["targets"] = tuple(CopyTarget(**t) for t in data.pop("targets", []))
    for key in ("missing", "target_problems"):
        data[key] = tuple(data.get(key, []))
    data["shared_storages"] = frozenset(data.get("shared_storages", []))
    return BackupObserved(**data)


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_backup_plan(case: Case) -> None:
    assert isinstance(case.desired, BackupPolicy | type(None))
    now = datetime.fromisoformat(str(case.observed.get("now", NOW)).replace("Z", "+00:00"))
    plan = plan_backup(case.desired, observed_for(case), now=now.astimezone(UTC))
    check_plan(plan, case.expect)
    conditions = {c.type: c for c in plan.conditions}
    for kind, expected in case.expect.get("conditions", {}).items():
        if expected is None:
            assert kind not in conditions, f"{kind} should be absent: {conditions.get(kind)}"
            continue
        found = conditions.get(kind)
        assert found is not None, f"condition {kind} missing: {plan.conditions}"
        status, reason, *message = expected
        assert (found.status, found.reason) == (status, reason), found
        for part in message:
            assert part in found.message, f"{kind}: {part!r} not in {found.message!r}"
    for path, value in case.expect.get("vm_details", {}).items():
        vm, *keys = path.split(".")
        found_value: Any = plan.details["vms"][vm]
        for key in keys:
            found_value = found_value[key]
        assert found_value == value, f"{path}: {found_value!r}"
