"""The BackupPolicy plan: pure, from ``BackupObserved`` to actions, conditions and details.

In order: the policy's Proxmox job (create, update declared fields, or wait for VMs with a
vmid); reports of failed vzdump runs (once each, as Warning events); offsite copies of each
VM's newest archive to every declared target (retried with backoff after a failure); the
restore test step (``restoretest.py``). Every plan carries the conditions ``BackupStale``
and, when something is wrong, ``Degraded`` (a failed run, a failed copy, a failed restore
test, a nearly full storage) and per-VM details (newest archive and age, copies, 3-2-1,
last restore test). A removed policy deletes only its own job and its scratch VMs — never
an archive.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from homeport.kinds import BackupPolicy
from homeport.kinds.common import ADOPT_ANNOTATION
from homeport.reconcilers.backuppolicy.actions import (
    CloseRestoreTest,
    CopyArchive,
    CreateJob,
    DeleteJob,
    DestroyScratchVM,
    ReportBackupFailure,
    UpdateJob,
)
from homeport.reconcilers.backuppolicy.assess import allowed_age, freshness, three_two_one
from homeport.reconcilers.backuppolicy.job import desired_fields, diff_fields, owner_marker
from homeport.reconcilers.backuppolicy.observed import BackupObserved, SelectedVM
from homeport.reconcilers.backuppolicy.ondemand import POLL, plan_on_demand
from homeport.reconcilers.backuppolicy.restorenow import plan_restore
from homeport.reconcilers.backuppolicy.restoretest import TestStep, last_results, plan_restore_test
from homeport.reconcilers.base import Action, ConditionUpdate, Plan

TEST_POLL = 2.0
PENDING_POLL = 5.0
"""Look again this soon while selected VMs still wait for their vmid (labels make no
dependency edges, so a VM becoming Ready does not wake the policy)."""
STORAGE_NEARLY_FULL = 0.95
COPY_RETRY_FIRST = 60.0
COPY_RETRY_MAX = 3600.0
REPORTED_KEEP = 100


def plan_backup(desired: BackupPolicy | None, seen: BackupObserved, *, now: datetime) -> Plan:
    if desired is None:
        return _prune(seen)
    if seen.on_demand is None and seen.restore is None:
        return _plan(desired, seen, now)
    # An operator's `homeport backup now` or `restore` goes first; while its task runs,
    # the policy carries on and looks again soon.
    steps = [
        *(plan_on_demand(desired, seen.on_demand) if seen.on_demand else []),
        *(plan_restore(seen.restore) if seen.restore else []),
    ][:1]
    if steps:
        conditions, details = _assess(desired, seen, now)
        return Plan(actions=tuple(steps), conditions=conditions, details=details)
    plan = _plan(desired, seen, now)
    if plan.actions:
        return plan
    return replace(plan, requeue_after=min(plan.requeue_after or POLL, POLL))


def _plan(desired: BackupPolicy, seen: BackupObserved, now: datetime) -> Plan:
    conditions, details = _assess(desired, seen, now)
    job = _job(desired, seen)
    if isinstance(job, Plan):
        return Plan(
            waiting=job.waiting,
            state_reason=job.state_reason,
            requeue_after=job.requeue_after,
            conditions=conditions,
            details=details,
        )
    test = plan_restore_test(desired, seen, now)
    details["restoreTest"] = _test_details(seen, test)
    actions = [*job, *_reports(seen), *_copies(seen, now), *test.actions]
    if actions:
        return Plan(actions=tuple(actions), conditions=conditions, details=details)
    reason = _summary(desired, seen, test)
    pending = any(v.vmid is None for v in seen.vms)
    return Plan(
        reason=reason,
        ready=True,
        requeue_after=TEST_POLL if seen.memory.get("test") else PENDING_POLL if pending else None,
        conditions=conditions,
        details=details,
    )


# -- the job ---------------------------------------------------------------------------


def _job(desired: BackupPolicy, seen: BackupObserved) -> list[Action] | Plan:
    vms = [v for v in seen.vms if v.vmid is not None]
    if not vms:
        pending = ", ".join(v.name for v in seen.vms) or "no VM matches the selector"
        return Plan(
            waiting=f"no selected VM has a vmid yet ({pending})", requeue_after=PENDING_POLL
        )
    wanted = desired_fields(desired, [v.vmid for v in vms if v.vmid is not None])
    names = tuple(sorted(v.name for v in vms))
    if seen.job is None:
        return [CreateJob(seen.job_id, tuple(wanted.items()), names)]
    ours = f"BackupPolicy/{desired.name}"
    adopt = desired.metadata.annotations.get(ADOPT_ANNOTATION) == "true"
    if seen.job.owner != ours and not adopt:
        owner = f"owned by {seen.job.owner}" if seen.job.owner else "not managed by homeport"
        return Plan(
            waiting=f"backup job {seen.job_id} exists and is {owner}; left alone "
            f"(remove it, or adopt it with the annotation {ADOPT_ANNOTATION}: 'true')",
            state_reason="JobIdTaken",
            requeue_after=300,
        )
    changes = diff_fields(wanted, seen.job.fields)
    if changes:
        return [UpdateJob(seen.job_id, tuple(wanted.items()), changes, names)]
    return []


def _prune(seen: BackupObserved) -> Plan:
    actions: list[Action] = [
        DestroyScratchVM(s.vmid, s.node, "policy removed") for s in seen.scratch
    ]
    if seen.job is not None and seen.job.owner == f"BackupPolicy/{seen.name}":
        actions.append(DeleteJob(seen.job_id))
    if seen.scratch_allocated is not None or seen.memory.get("test"):
        actions.append(CloseRestoreTest(seen.scratch_allocated))
    if actions:
        return Plan(actions=tuple(actions))
    return Plan(reason="its job is gone; archives are kept", gone=True)


# -- failures, copies ------------------------------------------------------------------


def _reports(seen: BackupObserved) -> list[Action]:
    reported = set(seen.memory.get("reported", []))
    return [
        ReportBackupFailure(vm.name, f.upid, f.node, f.exitstatus, f.log)
        for vm in seen.vms
        for f in vm.failures[:1]
        if f.upid not in reported
    ]


def copy_retry_after(attempts: int) -> float:
    return min(COPY_RETRY_MAX, COPY_RETRY_FIRST * 2.0 ** max(0, attempts - 1))


def _copies(seen: BackupObserved, now: datetime) -> list[Action]:
    actions: list[Action] = []
    for vm in seen.vms:
        newest = vm.newest
        host = seen.node_hosts.get(newest.node) if newest else None
        if newest is None or vm.vmid is None or host is None:
            continue
        for target in seen.targets:
            copy = vm.copies.get(newest.volid, {}).get(target.key)
            if copy is not None and copy.state == "verified":
                continue
            if copy is not None:
                since = (now - datetime.fromisoformat(copy.at)).total_seconds()
                if since < copy_retry_after(copy.attempts):
                    continue
            actions.append(
                CopyArchive(
                    vm=vm.name,
                    vmid=vm.vmid,
                    volid=newest.volid,
                    node=newest.node,
                    node_host=host,
                    storage=seen_storage(newest.volid),
                    ctime=newest.ctime,
                    size=newest.size,
                    target=target,
                    attempt=(copy.attempts + 1) if copy else 1,
                )
            )
    return actions


def seen_storage(volid: str) -> str:
    return volid.split(":", 1)[0]


# -- conditions and details ------------------------------------------------------------


def _assess(
    desired: BackupPolicy, seen: BackupObserved, now: datetime
) -> tuple[tuple[ConditionUpdate, ...], dict[str, Any]]:
    allowed = allowed_age(desired, now)
    memory = dict(seen.memory)
    results = last_results(seen)
    vms: dict[str, Any] = {}
    stale, unknown, problems = [], [], []
    for vm in seen.vms:
        fresh = freshness(vm, allowed, memory, now)
        if fresh.stale:
            stale.append(fresh.describe(vm.name))
        elif fresh.stale is None:
            unknown.append(fresh.describe(vm.name))
        problems += _vm_problems(vm, seen, now)
        vms[vm.name] = _vm_details(vm, seen, fresh, results.get(vm.name), now)
    for node, used in sorted(seen.storage_use.items()):
        if used >= STORAGE_NEARLY_FULL:
            problems.append(
                (
                    "StorageNearlyFull",
                    f"storage {desired.spec.storage} on {node} is {used:.0%} full",
                )
            )
    problems += [("OffsiteTargetUnusable", p) for p in seen.target_problems]
    conditions = [_stale_condition(desired, allowed, stale, unknown)]
    if problems:
        order = ("RestoreTestFailed", "BackupFailed", "OffsiteCopyFailed")
        reason = min((r for r, _ in problems), key=lambda r: order.index(r) if r in order else 9)
        conditions.append(
            ConditionUpdate("Degraded", "True", reason, "; ".join(m for _, m in problems))
        )
    details: dict[str, Any] = {
        "job": seen.job_id,
        "vms": vms,
        "pending": sorted(v.name for v in seen.vms if v.vmid is None),
        "missing": sorted(seen.missing),
        "maxAgeHours": round(allowed.total_seconds() / 3600, 2),
    }
    return tuple(conditions), details


def _stale_condition(
    desired: BackupPolicy, allowed: timedelta, stale: list[str], unknown: list[str]
) -> ConditionUpdate:
    limit = f"allowed {allowed.total_seconds() / 3600:.1f}h: schedule {desired.spec.schedule!r} + {desired.spec.grace_hours:g}h grace"
    if not desired.spec.enabled:
        return ConditionUpdate("BackupStale", "False", "JobDisabled", "the job is disabled")
    if stale:
        return ConditionUpdate(
            "BackupStale", "True", "NoRecentBackup", f"{'; '.join(stale)} ({limit})"
        )
    if unknown:
        unreadable = any("archives unreadable" in u for u in unknown)
        reason = "ArchivesUnreadable" if unreadable else "NoBackupYet"
        return ConditionUpdate("BackupStale", "Unknown", reason, "; ".join(unknown))
    return ConditionUpdate(
        "BackupStale", "False", "Fresh", f"every selected VM has a backup within {limit}"
    )


def _vm_problems(vm: SelectedVM, seen: BackupObserved, now: datetime) -> list[tuple[str, str]]:
    problems = []
    for failure in vm.failures[:1]:
        tail = " | ".join(failure.log[-3:])
        problems.append(
            (
                "BackupFailed",
                f"backup of {vm.name} failed on {failure.node}: {failure.exitstatus} ({tail})",
            )
        )
    newest = vm.newest
    for key, copy in (vm.copies.get(newest.volid, {}) if newest else {}).items():
        if copy.state != "verified":
            what = "checksum mismatch" if copy.state == "mismatch" else "copy failed"
            problems.append(
                (
                    "OffsiteCopyFailed",
                    f"{what} copying {newest.volid if newest else ''} to {key} (attempt {copy.attempts}): {copy.error or ''}".rstrip(
                        ": "
                    ),
                )
            )
    last = last_results(seen).get(vm.name)
    if last is not None and last.get("result") == "failed":
        problems.append(
            (
                "RestoreTestFailed",
                f"restore test of {vm.name} from {last.get('volid')} failed: {last.get('reason')}",
            )
        )
    return problems


def _vm_details(
    vm: SelectedVM,
    seen: BackupObserved,
    fresh: Any,
    last: dict[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    newest = vm.newest
    copies = {
        key: c.state for key, c in (vm.copies.get(newest.volid, {}) if newest else {}).items()
    }
    failure = vm.failures[0] if vm.failures else None
    return {
        "vmid": vm.vmid,
        "newestBackup": newest.volid if newest else None,
        "newestBackupAt": datetime.fromtimestamp(newest.ctime, now.tzinfo).isoformat()
        if newest
        else None,
        "ageHours": round(fresh.age.total_seconds() / 3600, 2) if fresh.age is not None else None,
        "stale": bool(fresh.stale),
        "archives": len(vm.archives),
        "copies": copies,
        "threeTwoOne": three_two_one(vm, seen, fresh, now),
        "lastRestoreTest": last,
        "failedBackup": None
        if failure is None
        else {
            "upid": failure.upid,
            "node": failure.node,
            "at": datetime.fromtimestamp(failure.at, now.tzinfo).isoformat(),
            "exitstatus": failure.exitstatus,
            "log": list(failure.log),
        },
    }


def _test_details(seen: BackupObserved, test: TestStep) -> dict[str, Any] | None:
    current = seen.memory.get("test")
    if not current:
        return None
    return {**dict(current), "progress": test.progress}


def _summary(desired: BackupPolicy, seen: BackupObserved, test: TestStep) -> str:
    count = sum(1 for v in seen.vms if v.vmid is not None)
    text = f"job {seen.job_id} backs up {count} VM(s) on {desired.spec.schedule!r} to {desired.spec.storage}"
    return f"{text}; {test.progress}" if test.progress else text


__all__ = ["owner_marker", "plan_backup"]
