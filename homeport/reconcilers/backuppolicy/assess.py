"""Judging a policy's archives: freshness, failed runs, offsite copies and 3-2-1, per VM.

Pure helpers of ``plan.py``. A VM's newest archive is *fresh* while its age is within the
schedule's longest gap plus ``graceHours``. 3-2-1 holds for a VM when there are three
copies — the VM itself, a fresh archive on the policy's storage, and a checksum-verified
copy of a fresh archive on an offsite target — on two different targets (the offsite
target is another storage or another machine than the backup storage), one of them off
the machine holding the archive (an SSH host other than that node, or a shared storage).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from homeport.kinds import BackupPolicy
from homeport.kinds.calendar import parse_calendar_event
from homeport.reconcilers.backuppolicy.actions import CopyTarget
from homeport.reconcilers.backuppolicy.observed import BackupObserved, SelectedVM


@dataclass(frozen=True)
class Freshness:
    allowed: timedelta
    age: timedelta | None
    """Age of the newest archive (None: there is none)."""
    stale: bool | None
    """None: no archive yet and not long enough covered to tell, or its node is unreachable."""
    unreachable: str | None = None

    def describe(self, vm: str) -> str:
        if self.unreachable:
            return f"{vm}: archives unreadable ({self.unreachable})"
        if self.age is None:
            return f"{vm}: no backup yet"
        return f"{vm}: newest backup {_hours(self.age)} old"


def allowed_age(policy: BackupPolicy, now: datetime) -> timedelta:
    gap = parse_calendar_event(policy.spec.schedule).longest_gap(now)
    return gap + timedelta(hours=policy.spec.grace_hours)


def freshness(
    vm: SelectedVM, allowed: timedelta, memory: dict[str, Any], now: datetime
) -> Freshness:
    newest = vm.newest
    if vm.unreachable:
        return Freshness(allowed, None, None, vm.unreachable)
    if newest is not None:
        # A node's clock a little ahead of ours (or a backup finishing this very second)
        # would give a negative age: an archive is never younger than zero.
        age = max(now - datetime.fromtimestamp(newest.ctime, now.tzinfo), timedelta(0))
        return Freshness(allowed, age, age > allowed)
    since = memory.get("coveredSince", {}).get(vm.name)
    if since is None:
        return Freshness(allowed, None, None)
    covered = now - datetime.fromisoformat(str(since))
    return Freshness(allowed, None, True if covered > allowed else None)


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f}h"


def is_offsite(target: CopyTarget, node_host: str | None, shared: frozenset[str]) -> bool:
    """Whether a copy there survives the loss of the machine holding the archive."""
    if target.kind == "storage":
        return target.storage in shared
    if target.kind == "s3":
        return True  # a bucket is never on the machine holding the archive
    address = (target.host or "").rpartition("@")[2].rsplit(":", 1)[0].strip("[]")
    return node_host is None or address != node_host.rsplit(":", 1)[0]


def three_two_one(
    vm: SelectedVM, seen: BackupObserved, fresh: Freshness, now: datetime
) -> dict[str, Any]:
    """Whether 3-2-1 holds for ``vm``, with the copies counted and what is missing."""
    copies = 1  # the VM itself
    if not (fresh.age is not None and not fresh.stale):
        return {"holds": False, "copies": copies, "missing": "no fresh archive"}
    copies += 1
    if not seen.targets:
        return {"holds": False, "copies": copies, "missing": "no offsite target declared"}
    ctimes = {a.volid: a.ctime for a in vm.archives}
    limit = (now - fresh.allowed).timestamp()
    verified = [
        (volid, key)
        for volid, targets in vm.copies.items()
        for key, copy in targets.items()
        if copy.state == "verified" and ctimes.get(volid, copy.ctime) >= limit
    ]
    if not verified:
        return {"holds": False, "copies": copies, "missing": "no verified offsite copy yet"}
    copies += len({key for _, key in verified})
    by_key = {t.key: t for t in seen.targets}
    node_host = seen.node_hosts.get(vm.node or "")
    away = [
        key
        for _, key in verified
        if key in by_key and is_offsite(by_key[key], node_host, seen.shared_storages)
    ]
    if not away:
        return {
            "holds": False,
            "copies": copies,
            "missing": "the verified copies are on the machine holding the archive",
        }
    return {"holds": True, "copies": copies, "missing": None}
