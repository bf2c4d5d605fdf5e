"""Restore tests, planned (pure): one at a time per policy, each VM on its own cadence.

A test is a small level-triggered state machine kept in the policy's durable memory
(``test``: vm, volid, scratch vmid, node, start time, phase): reserve a scratch vmid →
restore the newest archive to it (new MACs, static addresses swapped for DHCP, no
autostart, marked as this policy's) → isolate it with the Proxmox firewall → boot it →
wait for its guest agent's address → health-check its Apps → record the result and
duration → destroy it → release the vmid. Every step is planned from what is observed,
so a crash or a failure half-way resumes or cleans up: a scratch VM of this policy that no
test in progress accounts for is destroyed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from homeport.kinds import BackupPolicy
from homeport.reconcilers.backuppolicy.actions import (
    BeginRestoreTest,
    CloseRestoreTest,
    DestroyScratchVM,
    FinishRestoreTest,
    IsolateScratchVM,
    RestoreScratchVM,
    StartScratchVM,
)
from homeport.reconcilers.backuppolicy.observed import BackupObserved, ScratchVM, SelectedVM
from homeport.reconcilers.base import Action
from homeport.reconcilers.ownership import marker

SCRATCH_TAG = "homeport-restore-test"


@dataclass(frozen=True)
class TestStep:
    actions: tuple[Action, ...] = ()
    progress: str | None = None
    """What the test in progress waits for (the policy stays Ready meanwhile)."""
    details: dict[str, Any] = field(default_factory=dict)


def scratch_name(vm: str) -> str:
    return f"restore-test-{vm}"[:63].rstrip("-")


def scratch_description(policy: str, vm: str, volid: str) -> str:
    return f"{marker('BackupPolicy', policy)}\nrestore test of VM/{vm} from {volid}"


def plan_restore_test(policy: BackupPolicy, seen: BackupObserved, now: datetime) -> TestStep:
    test = seen.memory.get("test")
    if test is None:
        leftovers = tuple(
            DestroyScratchVM(s.vmid, s.node, "left over by an interrupted restore test")
            for s in seen.scratch
        )
        if leftovers:
            return TestStep(leftovers)
        if seen.scratch_allocated is not None:
            return TestStep((CloseRestoreTest(seen.scratch_allocated),))
        if policy.spec.restore_test is None:
            return TestStep()
        return _begin(policy, seen, now)
    return _continue(policy, seen, dict(test), now)


def last_results(seen: BackupObserved) -> dict[str, dict[str, Any]]:
    tests = seen.memory.get("tests", {})
    return {str(k): dict(v) for k, v in tests.items()} if isinstance(tests, dict) else {}


def _file(volid: str) -> str:
    return volid.rsplit("/", 1)[-1]


def _due(policy: BackupPolicy, vm: SelectedVM, last: dict[str, Any] | None, now: datetime) -> bool:
    spec = policy.spec.restore_test
    newest = vm.newest
    if spec is None or newest is None or vm.vmid is None:
        return False
    if last is None:
        return True
    if now - datetime.fromisoformat(str(last["at"])) >= timedelta(days=spec.every_days):
        return True
    return last.get("result") == "failed" and _file(str(last.get("volid"))) != _file(newest.volid)


def _begin(policy: BackupPolicy, seen: BackupObserved, now: datetime) -> TestStep:
    results = last_results(seen)
    due = [vm for vm in seen.vms if _due(policy, vm, results.get(vm.name), now)]
    if not due:
        return TestStep()
    vm = min(due, key=lambda v: (str(results.get(v.name, {}).get("at", "")), v.name))
    newest = vm.newest
    assert newest is not None
    node, volid = _source(policy, seen, vm)
    vmid = seen.scratch_allocated if seen.scratch_allocated is not None else seen.scratch_candidate
    if vmid is None:
        return TestStep(progress="restore test waits: no free scratch vmid in homeport's range")
    storage = seen.machine_storage.get(node, "local-lvm")
    return TestStep((BeginRestoreTest(vm.name, volid, vmid, node, storage),))


def _source(policy: BackupPolicy, seen: BackupObserved, vm: SelectedVM) -> tuple[str, str]:
    """Where to restore and from which volume: the declared machine when it can read the
    archive (a shared storage, or a verified copy on a shared offsite storage), else the
    node holding the archive."""
    newest = vm.newest
    assert newest is not None
    node = seen.restore_node or newest.node
    if node == newest.node or policy.spec.storage in seen.shared_storages:
        return node, newest.volid
    for target in seen.targets:
        copy = vm.copies.get(newest.volid, {}).get(target.key)
        shared = target.kind == "storage" and target.storage in seen.shared_storages
        if shared and copy is not None and copy.state == "verified":
            return node, f"{target.storage}:backup/{_file(newest.volid)}"
    return newest.node, newest.volid


def _continue(
    policy: BackupPolicy, seen: BackupObserved, test: dict[str, Any], now: datetime
) -> TestStep:
    vmid, node = int(test["vmid"]), str(test["node"])
    mine = next((s for s in seen.scratch if s.vmid == vmid), None)
    strays = tuple(
        DestroyScratchVM(s.vmid, s.node, "not the test in progress")
        for s in seen.scratch
        if s.vmid != vmid
    )
    vm = next((v for v in seen.vms if v.name == test["vm"]), None)
    cleanup = _cleanup(mine, vmid)
    spec = policy.spec.restore_test
    if spec is None or vm is None or test.get("phase") == "finished":
        return TestStep(strays + cleanup)
    started = datetime.fromisoformat(str(test["startedAt"]))
    elapsed = max(0.0, (now - started).total_seconds())
    # The timeout runs from the boot: how long a restore takes depends on the disk's size
    # (and is bounded by the restore task's own wait).
    booted = datetime.fromisoformat(str(test.get("bootedAt") or test["startedAt"]))
    waited = max(0.0, (now - booted).total_seconds())

    def finish(passed: bool, reason: str) -> TestStep:
        done = FinishRestoreTest(str(test["vm"]), str(test["volid"]), passed, elapsed, reason)
        return TestStep((*strays, done, *cleanup))

    if test.get("phase") == "failed":
        return finish(False, str(test.get("reason") or "the restore failed"))
    if mine is None:
        if test.get("phase", "restoring") != "restoring":
            return finish(False, f"scratch VM {vmid} disappeared during the test")
        return TestStep((*strays, _restore(policy, seen, vm, test, vmid, node)))
    if waited > spec.timeout_seconds:
        why = "; ".join(f"App {a}: {e}" for a, e in mine.health.items() if e) or _stage(mine)
        return finish(False, f"timed out after {spec.timeout_seconds:g}s ({why})")
    if mine.lock:
        return TestStep(strays, progress=f"scratch VM {vmid} is locked ({mine.lock})")
    if not mine.isolated or mine.open_nics:
        ports = tuple(sorted({a.port for a in vm.apps if a.checkable}))
        return TestStep(
            (*strays, IsolateScratchVM(vmid, mine.node, ports, seen.health_source, mine.open_nics))
        )
    if mine.status != "running":
        if test.get("phase") == "checking":
            return finish(False, f"scratch VM {vmid} stopped during the test")
        return TestStep((*strays, StartScratchVM(vmid, mine.node)))
    return _check(mine, vm, strays, finish)


def _restore(
    policy: BackupPolicy,
    seen: BackupObserved,
    vm: SelectedVM,
    test: dict[str, Any],
    vmid: int,
    node: str,
) -> Action:
    return RestoreScratchVM(
        vm=vm.name,
        volid=str(test["volid"]),
        vmid=vmid,
        node=node,
        storage=str(test.get("storage") or seen.machine_storage.get(node, "local-lvm")),
        name=scratch_name(vm.name),
        description=scratch_description(policy.name, vm.name, str(test["volid"])),
        dhcp=vm.static_ipconfigs,
    )


def _stage(mine: ScratchVM) -> str:
    if mine.status != "running":
        return f"scratch VM {mine.vmid} is {mine.status}"
    if mine.address is None:
        return "the guest agent never answered"
    return "health checks never passed"


def _check(
    mine: ScratchVM,
    vm: SelectedVM,
    strays: tuple[Action, ...],
    finish: Callable[[bool, str], TestStep],
) -> TestStep:
    if mine.address is None:
        return TestStep(strays, progress=f"waiting for the guest agent of scratch VM {mine.vmid}")
    failing = {app: error for app, error in mine.health.items() if error}
    if failing:
        shown = "; ".join(f"App {a}: {e}" for a, e in sorted(failing.items()))
        return TestStep(strays, progress=f"health check of the restored VM {vm.name}: {shown}")
    return finish(True, "")


def _cleanup(mine: ScratchVM | None, vmid: int) -> tuple[Action, ...]:
    destroy: tuple[Action, ...] = (
        (DestroyScratchVM(mine.vmid, mine.node, "restore test over"),) if mine else ()
    )
    return (*destroy, CloseRestoreTest(vmid))
