"""VM plan fixtures: (desired, observed) → expected actions; no sockets."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from homeport.kinds import VM
from homeport.reconcilers.vm import VMObserved, plan_vm
from homeport.reconcilers.vm.config import desired_config
from homeport.reconcilers.vm.disks import DiskSeen, DisksSeen
from homeport.reconcilers.vm.removal import FinalBackupTarget, Removal
from tests.reconcilers.fixtures import Case, check_plan, load_cases

HOMEPORT_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHomeportKeyForTests homeport"
CASES = load_cases(Path(__file__).parent / "cases", "VM")


def observed_for(case: Case) -> VMObserved:
    data: dict[str, Any] = {"name": "web", "machine_node": "pve1", **case.observed}
    assert isinstance(case.desired, VM | type(None))
    wanted = desired_config(case.desired, homeport_keys=[HOMEPORT_KEY]) if case.desired else {}
    data.setdefault("desired_config", wanted)
    if data.pop("config_matches", False):
        data["config"] = {**wanted, **data.pop("config_drift", {})}
        for key in data.pop("config_missing", []):
            data["config"].pop(key)
    for key in ("pending", "missing_mappings"):
        if isinstance(data.get(key), list):
            data[key] = tuple(data[key])
    if "removal" in data:
        data["removal"] = removal_of(data["removal"])
    if "data_disks" in data:
        data["data_disks"] = disks_of(data["data_disks"])
    known = {f.name for f in fields(VMObserved)}
    unknown = set(data) - known
    assert not unknown, f"{case.name}: unknown observed fields {unknown}"
    return VMObserved(**data)


def disks_of(data: dict[str, Any]) -> DisksSeen:
    """A case's ``data_disks`` mapping as the observation (unknown keys fail the case)."""
    slots = {slot: DiskSeen(**seen) for slot, seen in data.get("slots", {}).items()}
    return DisksSeen(**{**data, "slots": slots})


def removal_of(data: dict[str, Any]) -> Removal:
    """A case's ``removal`` mapping as the observation (unknown keys fail the case)."""
    data = dict(data)
    if data.get("backup") is not None:
        data["backup"] = FinalBackupTarget(**data["backup"])
    data["disks"] = tuple(data.get("disks", ()))
    return Removal(**data)


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_vm_plan(case: Case) -> None:
    assert isinstance(case.desired, VM | type(None))
    plan = plan_vm(case.desired, observed_for(case), now=datetime(2026, 1, 1, tzinfo=UTC))
    check_plan(plan, case.expect)
