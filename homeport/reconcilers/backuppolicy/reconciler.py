"""The BackupPolicy reconciler: observe and plan wired for the engine, and ``act``, which
performs one action through the clients (the job, copies, restore tests, on-demand runs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

from homeport.clients.errors import ProxmoxError, TaskFailed, TaskTimeout
from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.proxmox_backups import BackupJobSpec
from homeport.clients.proxmox_firewall import FirewallRuleSpec
from homeport.kinds import BackupPolicy
from homeport.reconcilers.backuppolicy.actions import (
    AnswerBackupNow,
    AnswerRestore,
    BeginRestoreTest,
    ChooseRestoreVmid,
    CloseRestoreTest,
    CopyArchive,
    CreateJob,
    DeleteJob,
    DestroyScratchVM,
    FinishRestoreTest,
    FollowBackupTask,
    FollowRestoreTask,
    IsolateScratchVM,
    ReportBackupFailure,
    RestoreArchive,
    RestoreScratchVM,
    StartBackupNow,
    StartScratchVM,
    StopForRestore,
    UpdateJob,
)
from homeport.reconcilers.backuppolicy.observe import (
    JOBS,
    SCRATCH_POOL,
    BackupSettings,
    observe_backup,
)
from homeport.reconcilers.backuppolicy.observed import BackupObserved
from homeport.reconcilers.backuppolicy.offsite import copy_archive
from homeport.reconcilers.backuppolicy.ondemand import is_open
from homeport.reconcilers.backuppolicy.ondemand_io import act_on_demand, observe_on_demand
from homeport.reconcilers.backuppolicy.plan import REPORTED_KEEP, plan_backup
from homeport.reconcilers.backuppolicy.restorenow_io import act_restore, observe_restore
from homeport.reconcilers.backuppolicy.restoretest import SCRATCH_TAG
from homeport.reconcilers.base import (
    Action,
    AllocationTaken,
    Plan,
    ReconcileContext,
    Reconciler,
)
from homeport.reconcilers.cluster import RESOURCES
from homeport.reconcilers.errors import TemporaryError
from homeport.reconcilers.ownership import owner_in_description
from homeport.reconcilers.slots import BACKUP_POLICY_MEMORY

TASK_TIMEOUT = 600.0
RESTORE_TIMEOUT = 3600.0
RULE_COMMENT = "homeport restore test: health check"
RESULTS_KEEP = 20

__all__ = [
    "BackupObserved",
    "BackupPolicyReconciler",
    "BackupSettings",
    "is_open",
    "plan_backup",
]


class BackupPolicyReconciler(Reconciler[BackupPolicy, BackupObserved]):
    kind: ClassVar[str] = "BackupPolicy"
    uses = frozenset({"proxmox", "ssh", "tailscale", "prober"})
    # A VM still being created must not hold back the job of the others: the plan covers
    # the VMs that have a vmid and lists the rest as pending.
    gated_by: ClassVar[frozenset[str] | None] = frozenset()

    def __init__(self, settings: BackupSettings) -> None:
        self.settings = settings

    async def observe(
        self, desired: BackupPolicy | None, name: str, ctx: ReconcileContext
    ) -> BackupObserved:
        observed = await observe_backup(desired, name, ctx, self.settings)
        if desired is None:
            return observed
        on_demand = await observe_on_demand(ctx, observed.vms, desired.spec.storage)
        restore = await observe_restore(ctx, observed.vms, self.settings)
        return replace(observed, on_demand=on_demand, restore=restore)

    def plan(
        self, desired: BackupPolicy | None, observed: BackupObserved, *, now: datetime
    ) -> Plan:
        return plan_backup(desired, observed, now=now)

    async def act(self, action: Action, ctx: ReconcileContext) -> None:
        px = ctx.clients.proxmox
        if isinstance(action, CreateJob | UpdateJob | DeleteJob):
            await self._job(action, ctx, px)
        elif isinstance(action, ReportBackupFailure):
            self._report(action, ctx)
        elif isinstance(action, CopyArchive):
            await self._copy(action, ctx)
        elif isinstance(action, StartBackupNow | FollowBackupTask | AnswerBackupNow):
            await act_on_demand(action, ctx)
        elif isinstance(
            action,
            ChooseRestoreVmid | StopForRestore | RestoreArchive | FollowRestoreTask | AnswerRestore,
        ):
            await act_restore(action, ctx)
        else:
            try:
                await self._restore_test(action, ctx, px)
            finally:
                ctx.invalidate(RESOURCES)

    # -- the job -------------------------------------------------------------------------

    async def _job(
        self, action: CreateJob | UpdateJob | DeleteJob, ctx: ReconcileContext, px: ProxmoxClient
    ) -> None:
        try:
            if isinstance(action, DeleteJob):
                await px.backups.delete_job(action.job_id)
                return
            spec = job_spec(dict(action.fields))
            if isinstance(action, CreateJob):
                await px.backups.create_job(action.job_id, spec)
            else:
                await px.backups.update_job(action.job_id, spec)
            memory = BACKUP_POLICY_MEMORY.recall(ctx) or {}
            covered = dict(memory.get("coveredSince", {}))
            now = ctx.now().isoformat()
            memory["coveredSince"] = {vm: covered.get(vm, now) for vm in action.vms}
            BACKUP_POLICY_MEMORY.remember(ctx, memory)
        finally:
            ctx.invalidate(JOBS)

    # -- failures and copies -------------------------------------------------------------

    def _report(self, action: ReportBackupFailure, ctx: ReconcileContext) -> None:
        tail = " | ".join(action.log[-5:])
        ctx.event(
            "BackupFailed",
            f"backup of VM {action.vm} on {action.node} failed: {action.exitstatus}; log: {tail}",
            warning=True,
        )
        memory = BACKUP_POLICY_MEMORY.recall(ctx) or {}
        memory["reported"] = [*memory.get("reported", []), action.upid][-REPORTED_KEEP:]
        BACKUP_POLICY_MEMORY.remember(ctx, memory)

    async def _copy(self, action: CopyArchive, ctx: ReconcileContext) -> None:
        outcome = await copy_archive(action, ctx, self.settings)
        entry: dict[str, Any] = {
            "state": outcome.state,
            "at": ctx.now().isoformat(),
            "attempts": action.attempt,
            "error": outcome.error,
            "sha256": outcome.target_sha256,
        }
        if outcome.snapshot:
            entry["snapshot"] = outcome.snapshot
            entry["verifiedBy"] = "restic dump read back, sha256 compared"
        fields: dict[str, Any] = {
            "vm": action.vm,
            "vmid": action.vmid,
            "policy": ctx.key[1],
            "storage": action.storage,
            "ctime": action.ctime,
            "size": action.size,
            "offsite": {action.target.key: entry},
        }
        if outcome.source_sha256:
            fields["sha256"] = outcome.source_sha256
        ctx.record_backup(action.volid, fields)
        if outcome.state != "verified":
            ctx.event(
                "OffsiteCopyFailed",
                f"{action.describe()}: {outcome.state}: {outcome.error}",
                warning=True,
            )

    # -- restore tests -------------------------------------------------------------------

    async def _restore_test(self, action: Action, ctx: ReconcileContext, px: ProxmoxClient) -> None:
        if isinstance(action, BeginRestoreTest):
            if ctx.allocated(SCRATCH_POOL) != action.vmid:
                try:
                    ctx.allocate(SCRATCH_POOL, action.vmid)
                except AllocationTaken as exc:  # taken meanwhile: plan again with another one
                    raise TemporaryError(f"scratch {exc}: picking another", delay=0.1) from None
            test = {
                "vm": action.vm,
                "volid": action.volid,
                "vmid": action.vmid,
                "node": action.node,
                "storage": action.storage,
                "startedAt": ctx.now().isoformat(),
                "phase": "restoring",
            }
            _update_test(ctx, test)
        elif isinstance(action, RestoreScratchVM):
            await self._restore(action, ctx, px)
        elif isinstance(action, IsolateScratchVM):
            await self._isolate(action, px)
        elif isinstance(action, StartScratchVM):
            task = await px.start_vm(action.node, action.vmid)
            if task is not None:
                await px.tasks.wait(task, timeout=TASK_TIMEOUT)
            _update_test(ctx, {"phase": "checking", "bootedAt": ctx.now().isoformat()})
        elif isinstance(action, FinishRestoreTest):
            self._finish(action, ctx)
        elif isinstance(action, DestroyScratchVM):
            await self._destroy(action, px)
        elif isinstance(action, CloseRestoreTest):
            ctx.release(SCRATCH_POOL)
            memory = BACKUP_POLICY_MEMORY.recall(ctx) or {}
            memory.pop("test", None)
            BACKUP_POLICY_MEMORY.remember(ctx, memory)
        else:
            raise TypeError(f"the BackupPolicy reconciler cannot perform {action!r}")

    async def _restore(
        self, action: RestoreScratchVM, ctx: ReconcileContext, px: ProxmoxClient
    ) -> None:
        options: dict[str, Any] = {
            "name": action.name,
            "description": action.description,
            "tags": SCRATCH_TAG,
            "onboot": False,
            "protection": False,
            **dict.fromkeys(action.dhcp, "ip=dhcp"),
        }
        try:
            task = await px.backups.restore(
                action.node,
                vmid=action.vmid,
                archive=action.volid,
                storage=action.storage,
                unique=True,
                options=options,
            )
            await px.tasks.wait(task, timeout=RESTORE_TIMEOUT)
        except TaskFailed as exc:
            tail = " | ".join(exc.log_tail[-3:]) if exc.log_tail else ""
            _update_test(
                ctx,
                {"phase": "failed", "reason": f"restore failed: {exc.exitstatus} {tail}".strip()},
            )
        except TaskTimeout:
            _update_test(ctx, {"phase": "failed", "reason": "the restore did not finish in time"})
        except ProxmoxError as exc:
            _update_test(ctx, {"phase": "failed", "reason": f"restore refused: {exc.message}"})

    async def _isolate(self, action: IsolateScratchVM, px: ProxmoxClient) -> None:
        node, vmid = action.node, action.vmid
        options = await px.firewall.options(node, vmid)
        await px.firewall.set_options(
            node,
            vmid,
            changes={"enable": True, "policy_in": "DROP", "policy_out": "DROP", "dhcp": True},
            digest=options.digest,
        )
        rules = await px.firewall.rules(node, vmid)
        present = {(r.dport, r.source) for r in rules.rules if r.comment == RULE_COMMENT}
        for port in action.ports:
            if (str(port), action.source) in present:
                continue
            rule = FirewallRuleSpec(
                type="in",
                action="ACCEPT",
                proto="tcp",
                dport=str(port),
                source=action.source,
                comment=RULE_COMMENT,
            )
            await px.firewall.create_rule(node, vmid, rule)
        if action.cut_nics:
            config = await px.vm_config(node, vmid)
            changes = {nic: f"{config.text(nic)},link_down=1" for nic in action.cut_nics}
            task = await px.update_config(node, vmid, changes=changes, digest=config.digest)
            if task is not None:
                await px.tasks.wait(task, timeout=TASK_TIMEOUT)

    def _finish(self, action: FinishRestoreTest, ctx: ReconcileContext) -> None:
        result = {
            "result": "passed" if action.passed else "failed",
            "at": ctx.now().isoformat(),
            "volid": action.volid,
            "durationSeconds": round(action.duration, 1),
            "reason": action.reason or None,
        }
        memory = BACKUP_POLICY_MEMORY.recall(ctx) or {}
        tests = dict(memory.get("tests", {}))
        tests[action.vm] = result
        memory["tests"] = tests
        history = [*memory.get("history", []), {"vm": action.vm, **result}]
        memory["history"] = history[-RESULTS_KEEP:]
        memory["test"] = {**dict(memory.get("test", {})), "phase": "finished"}
        BACKUP_POLICY_MEMORY.remember(ctx, memory)
        ctx.record_backup(
            action.volid, {"vm": action.vm, "policy": ctx.key[1], "restore_test": result}
        )
        if action.passed:
            ctx.event("RestoreTestPassed", action.describe())
        else:
            ctx.event("RestoreTestFailed", action.describe(), warning=True)

    async def _destroy(self, action: DestroyScratchVM, px: ProxmoxClient) -> None:
        node, vmid = action.node, action.vmid
        try:
            config = await px.vm_config(node, vmid)
        except ProxmoxError:
            return  # already gone
        if SCRATCH_TAG not in config.tags or not owner_in_description(config.text("description")):
            raise TemporaryError(f"VM {vmid} is no scratch VM of homeport's; not destroying it")
        task = await px.stop_vm(node, vmid)
        if task is not None:
            await px.tasks.wait(task, timeout=TASK_TIMEOUT)
        task = await px.delete_vm(node, vmid, purge=True)
        if task is not None:
            await px.tasks.wait(task, timeout=TASK_TIMEOUT)


def _update_test(ctx: ReconcileContext, changes: Mapping[str, Any]) -> None:
    memory = BACKUP_POLICY_MEMORY.recall(ctx) or {}
    memory["test"] = {**dict(memory.get("test", {})), **changes}
    BACKUP_POLICY_MEMORY.remember(ctx, memory)


def job_spec(fields: Mapping[str, str]) -> BackupJobSpec:
    """The client's job spec from the plan's declared fields (PVE's text forms)."""
    keep = dict(part.split("=", 1) for part in fields["prune-backups"].split(","))
    return BackupJobSpec(
        schedule=fields["schedule"],
        storage=fields["storage"],
        vmids=[int(v) for v in fields["vmid"].split(",") if v],
        mode=fields["mode"],
        compress=fields["compress"],
        prune_backups={k: int(v) for k, v in keep.items()},
        enabled=fields["enabled"] == "1",
        notes_template=fields["notes-template"],
        comment=fields["comment"],
    )
