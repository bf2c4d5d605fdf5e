"""The VM reconciler: observe and plan wired for the engine, and ``act``, which performs one
action through the clients. Every mutation drops the shared cluster snapshot so the next
reconcile sees its effect."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar

from homeport.clients.errors import ProxmoxError
from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.proxmox_models import TaskRef
from homeport.kinds import VM
from homeport.reconcilers.base import (
    Action,
    AllocationTaken,
    Plan,
    ReconcileContext,
    Reconciler,
)
from homeport.reconcilers.cluster import RESOURCES, FreshEntries
from homeport.reconcilers.errors import TemporaryError
from homeport.reconcilers.ownership import OWNER_TAG, marker, owner_in_description
from homeport.reconcilers.slots import (
    VM_DESTROY_APPROVAL,
    VM_REMOVAL,
    VM_TAILNET_NODE,
    VmRemoval,
)
from homeport.reconcilers.vm.actions import (
    AllocateVmid,
    BeginRemoval,
    CloneVM,
    DestroyVM,
    DetachVM,
    FinalBackup,
    ForgetVM,
    HoldDestruction,
    JoinTailnet,
    MigrateVM,
    PowerVM,
    ReleaseHold,
    ResizeDisk,
    TrustHostKey,
    UpdateConfig,
)
from homeport.reconcilers.vm.disks import DISK_ACTIONS
from homeport.reconcilers.vm.disks_apply import apply_disk
from homeport.reconcilers.vm.firewall_apply import FIREWALL_ACTIONS, apply_firewall
from homeport.reconcilers.vm.observe import (
    DEVICES,
    VMSettings,
    observe_vm,
    public_key_of,
    resources,
    still_listed_as,
)
from homeport.reconcilers.vm.plan import VMObserved, plan_vm
from homeport.reconcilers.vm.removal import Removal, hold_message
from homeport.reconcilers.vm.running import ACTIVE_TASKS

CLONE_TIMEOUT = 1800.0
TASK_TIMEOUT = 600.0
BACKUP_TIMEOUT = 6 * 3600.0
RETAINED_TAG = "homeport-retained"

SNAPSHOTS = (RESOURCES, ACTIVE_TASKS, DEVICES)
"""The shared observations a VM's plan reads; reloaded before a plan that would act."""

__all__ = ["VMObserved", "VMReconciler", "VMSettings", "plan_vm", "public_key_of"]


class VMReconciler(Reconciler[VM, VMObserved]):
    kind: ClassVar[str] = "VM"
    uses = frozenset({"proxmox", "ssh", "tailscale"})
    # The VM plan reads its Machine's state itself: offline → wait, maintenance → no new VMs.
    gated_by: ClassVar[frozenset[str] | None] = frozenset()

    def __init__(self, settings: VMSettings) -> None:
        self.settings = settings
        self.fresh = FreshEntries()
        """The VMs read one by one after acting on them (``reconcilers/cluster.py``)."""

    async def observe(self, desired: VM | None, name: str, ctx: ReconcileContext) -> VMObserved:
        seen = await observe_vm(desired, name, ctx, self.settings, self.fresh)
        if not any(a.mutating for a in plan_vm(desired, seen, now=ctx.now()).actions):
            return seen
        # The plan would act, and it was made on shared lists that may be a window old:
        # act only on a fresh look (docs/architecture.md, "Shared observations"). The
        # VM's own status read confirms its entry; anything else reads everything again.
        if await still_listed_as(seen, ctx):
            return seen
        for key in SNAPSHOTS:
            ctx.invalidate(key)
        return await observe_vm(desired, name, ctx, self.settings, self.fresh)

    def plan(self, desired: VM | None, observed: VMObserved, *, now: datetime) -> Plan:
        return plan_vm(desired, observed, now=now)

    async def act(self, action: Action, ctx: ReconcileContext) -> None:
        px = ctx.clients.proxmox
        try:
            await self._act(action, ctx, px)
        finally:
            await self._read_back(action, ctx, px)

    async def _read_back(self, action: Action, ctx: ReconcileContext, px: ProxmoxClient) -> None:
        """After acting (or failing to) on a VM, read that VM alone: the next look sees
        its entry as it is now without reading the whole cluster list again."""
        at = _changed_entry(action)
        if at is None:
            return
        node, vmid = at
        try:
            listed = (await resources(ctx, self.fresh)).vm(vmid)
            await self.fresh.read(px.vm_status, node, vmid, listed)
        except Exception:
            # Not read (the action's own error, if any, is the one reported): the next
            # look reads the whole list afresh instead.
            self.fresh.forget(vmid)
            ctx.invalidate(RESOURCES)
        except BaseException:
            self.fresh.forget(vmid)
            ctx.invalidate(RESOURCES)
            raise

    async def _act(self, action: Action, ctx: ReconcileContext, px: ProxmoxClient) -> None:
        if isinstance(action, AllocateVmid):
            # The whole configured range, from the observed candidate up: VMs planned
            # together all saw the same first free vmid, and only one can have it.
            in_use = {vm.vmid for vm in (await resources(ctx)).vms}
            try:
                got = ctx.allocate(
                    "vmid", action.vmid, high=self.settings.vmid_max, unavailable=in_use
                )
            except AllocationTaken as exc:  # another VM reserved it meanwhile: pick again
                raise TemporaryError(f"{exc}: picking another", delay=0.1) from None
            ctx.event(action.verb, f"reserved vmid {got}")  # what it got, not the candidate
        elif isinstance(action, CloneVM):
            task = await px.clone_vm(
                action.source_node,
                action.source_vmid,
                newid=action.vmid,
                name=action.name,
                full=True,
                target=action.node if action.node != action.source_node else None,
                storage=action.storage,
                description=action.description,
            )
            await self._wait(px, task, CLONE_TIMEOUT)
            await px.wait_unlocked(action.node, action.vmid, timeout=TASK_TIMEOUT)
        elif isinstance(action, UpdateConfig):
            await self._configure(px, action)
        elif isinstance(action, ResizeDisk):
            config = await px.vm_config(action.node, action.vmid)
            await self._wait(
                px,
                await px.resize_disk(
                    action.node,
                    action.vmid,
                    disk=action.disk,
                    size=action.to_gib * 1024**3,
                    config=config,
                ),
                TASK_TIMEOUT,
            )
        elif isinstance(action, PowerVM):
            await self._power(px, action)
        elif isinstance(action, MigrateVM):
            # A live migration must be allowed to copy local disks (local-lvm, ZFS):
            # without the flag PVE aborts it; with shared storage there is nothing to copy.
            task = await px.migrate_vm(
                action.node,
                action.vmid,
                target=action.target,
                online=action.online,
                with_local_disks=action.online,
            )
            await self._wait(px, task, CLONE_TIMEOUT)
        elif isinstance(action, JoinTailnet):
            await self._join_tailnet(px, action, ctx)
        elif isinstance(action, TrustHostKey):
            await ctx.clients.ssh.trust_host_key(
                action.address, action.port, action.public_key, replace=True
            )
        elif isinstance(action, DestroyVM):
            await self._wait(px, await px.delete_vm(action.node, action.vmid), TASK_TIMEOUT)
        elif isinstance(action, ForgetVM):
            await self._forget(action, ctx)
        elif isinstance(action, FIREWALL_ACTIONS):
            await apply_firewall(px, action, ctx)
        elif isinstance(action, DISK_ACTIONS):
            await apply_disk(px, action, ctx)
        elif isinstance(action, BeginRemoval | HoldDestruction | ReleaseHold):
            self._record_removal(action, ctx)
        elif isinstance(action, FinalBackup):
            await self._final_backup(px, action)
        elif isinstance(action, DetachVM):
            await self._detach(px, action, ctx)
        else:
            raise TypeError(f"the VM reconciler cannot perform {action!r}")

    async def _wait(self, px: ProxmoxClient, task: TaskRef | None, timeout: float) -> None:
        if task is not None:
            await px.tasks.wait(task, timeout=timeout)

    async def _configure(self, px: ProxmoxClient, action: UpdateConfig) -> None:
        config = await px.vm_config(action.node, action.vmid)
        changes: dict[str, Any] = {}
        for key, value in action.changes:
            if key.startswith("net") and key[3:].isdigit():
                value = _keep_mac(config.text(key), value)
            elif key == "sshkeys":
                changes[key] = value.splitlines()
                continue
            changes[key] = value
        task = await px.update_config(
            action.node, action.vmid, changes=changes, delete=action.delete, digest=config.digest
        )
        await self._wait(px, task, TASK_TIMEOUT)

    async def _power(self, px: ProxmoxClient, action: PowerVM) -> None:
        node, vmid = action.node, action.vmid
        if action.operation == "start":
            task = await px.start_vm(node, vmid)
        elif action.operation == "shutdown":
            task = await px.shutdown_vm(node, vmid, timeout=120, force_stop=True)
        elif action.operation == "reboot":
            task = await px.reboot_vm(node, vmid)
        else:
            task = await px.stop_vm(node, vmid)
        await self._wait(px, task, TASK_TIMEOUT)

    async def _join_tailnet(
        self, px: ProxmoxClient, action: JoinTailnet, ctx: ReconcileContext
    ) -> None:
        tailnet = ctx.clients.tailscale
        key = await tailnet.create_auth_key(
            tags=list(action.tags),
            reusable=False,
            ephemeral=False,
            preauthorized=True,
            expiry_seconds=self.settings.auth_key_expiry,
            description=f"homeport VM/{action.hostname}",
        )
        # The key travels over the authenticated Proxmox API only, into the command's stdin:
        # it never rests on the guest's disk, so a crash mid-join cannot leave it behind.
        result = await px.agent.run(
            action.node,
            action.vmid,
            [
                "tailscale",
                "up",
                "--auth-key=file:/dev/stdin",
                f"--hostname={action.hostname}",
            ],
            input_data=key.key,
            timeout=60,
        )
        node_id = await _joined_as(px, action) if result.exitcode == 0 else None
        if node_id is not None:
            # The VM's next look reads this one device until the shared list shows it
            # (observe.py's ``_device``): the whole list is not read again per join.
            VM_TAILNET_NODE.remember(ctx, {"nodeId": node_id})
        else:
            # Whether the guest joined is unknown: the next look must see a fresh list,
            # or it could join it a second time.
            ctx.invalidate(DEVICES)
        if result.exitcode != 0:
            raise TemporaryError(
                f"tailscale up failed in VM {action.vmid}: {result.err_data.strip()[:200]}"
            )

    async def _forget(self, action: ForgetVM, ctx: ReconcileContext) -> None:
        if action.device_id:
            await ctx.clients.tailscale.delete_device(action.device_id)
            ctx.invalidate(DEVICES)
            VM_TAILNET_NODE.clear(ctx)
        if action.address:
            await ctx.clients.ssh.forget_host_key(action.address, action.port)
        ctx.release("vmid")

    # -- removal by deletionPolicy (``removal.py``) -------------------------------------
    def _record_removal(
        self, action: BeginRemoval | HoldDestruction | ReleaseHold, ctx: ReconcileContext
    ) -> None:
        record: VmRemoval = VM_REMOVAL.recall(ctx) or {}
        if isinstance(action, ReleaseHold):
            VM_DESTROY_APPROVAL.clear(ctx)
            VM_REMOVAL.clear(ctx)
            ctx.event("RemovalCancelled", f"VM {action.vmid} is back in git; its removal is void")
        elif isinstance(action, BeginRemoval):
            VM_REMOVAL.remember(
                ctx, {"since": action.since, "vmid": action.vmid, "policy": action.policy}
            )
        else:
            held: VmRemoval = {
                **record,
                "held": True,
                "node": action.node,
                "disks": list(action.disks),
                "lastBackup": action.last_backup,
                "heldAt": ctx.now().isoformat(),
            }
            VM_REMOVAL.remember(ctx, held)
            removal = Removal(disks=action.disks, last_backup=action.last_backup)
            ctx.event(
                "DestructionHeld", hold_message(action.name, action.vmid, removal), warning=True
            )

    async def _final_backup(self, px: ProxmoxClient, action: FinalBackup) -> None:
        # The notes name this removal (how the next look finds the archive, so a crash
        # never takes a second one) and the policy; ``protected``: no retention prunes it.
        notes = f"{{{{guestname}}}} {action.note} ({marker('BackupPolicy', action.policy)})"
        task = await px.backups.vzdump(
            action.node,
            vmids=[action.vmid],
            storage=action.storage,
            mode=action.mode,
            compress=action.compress,
            notes_template=notes,
            protected=True,
        )
        if task is None:
            raise TemporaryError(f"VM {action.vmid} is not on {action.node} any more", delay=2.0)
        await self._wait(px, task, BACKUP_TIMEOUT)

    async def _detach(self, px: ProxmoxClient, action: DetachVM, ctx: ReconcileContext) -> None:
        config = await px.vm_config(action.node, action.vmid)
        if owner_in_description(config.text("description")) == f"VM/{action.name}":
            tags = sorted({*config.tags, RETAINED_TAG} - {OWNER_TAG})
            description = (config.text("description") or "").replace(
                marker("VM", action.name),
                f"retained by homeport: VM/{action.name} left git; no longer managed",
            )
            task = await px.update_config(
                action.node,
                action.vmid,
                changes={"tags": ";".join(tags), "description": description},
                digest=config.digest,
            )
            await self._wait(px, task, TASK_TIMEOUT)
        VM_REMOVAL.remember(ctx, {**(VM_REMOVAL.recall(ctx) or {}), "retained": True})
        ctx.release("vmid")
        ctx.event(
            "Retained",
            f"VM {action.vmid} on {action.node} left git and is retained: kept stopped with "
            f"its disks, detached from homeport (tag {RETAINED_TAG}); delete it in Proxmox "
            "yourself when it is no longer needed",
            warning=True,
        )


def _keep_mac(current: str | None, wanted: str) -> str:
    """Keep the NIC's MAC address (``virtio=BC:24:11:…``) when changing its other settings."""
    if not current:
        return wanted
    first = current.split(",", 1)[0]
    model, sep, mac = first.partition("=")
    if sep and wanted.startswith(model + ","):
        return f"{model}={mac}{wanted[len(model) :]}"
    return wanted


async def _joined_as(px: ProxmoxClient, action: JoinTailnet) -> str | None:
    """The node ID the guest's tailscaled now runs as (``tailscale status --json``'s
    ``Self.ID``, the API's ``nodeId``); None when the guest cannot tell."""
    try:
        result = await px.agent.run(
            action.node, action.vmid, ["tailscale", "status", "--json"], timeout=30
        )
        document = json.loads(result.out_data) if result.exitcode == 0 else None
    except (ProxmoxError, ValueError):
        return None
    own = document.get("Self") if isinstance(document, dict) else None
    node_id = own.get("ID") if isinstance(own, dict) else None
    return node_id if isinstance(node_id, str) and node_id else None


def _changed_entry(action: Action) -> tuple[str, int] | None:
    """Where the VM whose cluster list entry (presence, node, power, lock, name, tags, HA)
    ``action`` may have changed now is; None for actions that change none of it."""
    if isinstance(action, MigrateVM):
        return action.target, action.vmid
    if isinstance(action, (*FIREWALL_ACTIONS, JoinTailnet)):
        return None  # the guest's firewall and tailnet are not in the list
    node, vmid = getattr(action, "node", None), getattr(action, "vmid", None)
    if isinstance(node, str) and node and isinstance(vmid, int):
        return node, vmid
    return None
