"""The VM plan: pure, ordered, one step of convergence at a time.

Identity first (a vmid reserved before anything is cloned, so a retry can never create a
second VM), then existence (clone), then placement, config, boot disk, data disks
(``disks.py``: attach, grow, detach — never shrink, never destroy), the firewall
(``firewall.py``: rules derived from the estate) and power, then what
makes the VM usable by the rest of the estate: guest agent, tailnet membership and a
pinned SSH host key. A removed manifest plans the removal by the VM's deletionPolicy
(``removal.py``: stop, final backup, hold for approval / destroy / retain), then forgets
it — only for a VM homeport owns and that is not protected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from homeport.kinds import VM
from homeport.reconcilers.base import Action, Plan
from homeport.reconcilers.vm.actions import (
    AllocateVmid,
    CloneVM,
    ForgetVM,
    JoinTailnet,
    MigrateVM,
    PowerVM,
    ReleaseHold,
    ResizeDisk,
    TrustHostKey,
    UpdateConfig,
)
from homeport.reconcilers.vm.config import diff_config
from homeport.reconcilers.vm.disks import DisksSeen, disk_actions, refused
from homeport.reconcilers.vm.firewall import (
    FirewallInputs,
    FirewallSeen,
    desired_rules,
    firewall_actions,
    missing_inputs,
    unowned,
)
from homeport.reconcilers.vm.passthrough import passthrough_move
from homeport.reconcilers.vm.removal import Removal, plan_removal, removal_started

WAIT = 2.0  # seconds between looks while Proxmox or the guest is busy


@dataclass(frozen=True)
class VMObserved:
    """What the world says about one VM (built by ``observe.py``)."""

    name: str
    machine_node: str
    node_online: bool = True
    maintenance: bool = False
    vmid: int | None = None
    candidate_vmid: int | None = None
    exists: bool = False
    owned: bool = False
    node: str | None = None
    status: str = "absent"  # running | stopped | unknown | absent
    lock: str | None = None
    running_tasks: tuple[str, ...] = ()
    """Types of the Proxmox tasks running on this VM that change it (``running.py``)."""
    ha_managed: bool = False
    protected: bool = False
    config: Mapping[str, str] = field(default_factory=dict)
    desired_config: Mapping[str, str] = field(default_factory=dict)
    pending: tuple[str, ...] = ()
    cloud_init_stale: bool = False
    disk: str = "scsi0"
    disk_gib: int | None = None
    template_vmid: int | None = None
    template_node: str | None = None
    storage: str = "local-lvm"
    agent_running: bool = False
    guest_address: str | None = None
    host_key: str | None = None
    host_key_trusted: bool = False
    tailnet_address: str | None = None
    tailnet_device_id: str | None = None
    ssh_port: int = 22
    firewall: FirewallSeen | None = None
    """The VM firewall's options and rules; None when not observed (absent, unmanaged)."""
    firewall_inputs: FirewallInputs | None = None
    missing_mappings: tuple[str, ...] = ()
    """PCI mappings the VM names that Proxmox has no device for on the VM's node."""
    data_disks: DisksSeen | None = None
    """The drive slots of the VM's data disks; None when not observed (absent VM)."""
    removal: Removal | None = None
    """A removal recorded (VM in git: one to cancel) or under way (VM removed from git)."""


def plan_vm(desired: VM | None, seen: VMObserved, *, now: datetime) -> Plan:
    if desired is None:
        return _prune(seen, now)
    if seen.removal is not None and seen.removal.since is not None:
        return Plan(actions=(ReleaseHold(seen.vmid),))
    if seen.vmid is None:
        if seen.candidate_vmid is None:
            return Plan(waiting="no free vmid in homeport's range", requeue_after=60)
        return Plan(actions=(AllocateVmid(seen.candidate_vmid),))
    if not seen.exists:
        return _create(desired, seen)
    if seen.lock:
        return Plan(
            waiting=f"VM {seen.vmid} is locked ({seen.lock})", requeue_after=WAIT, in_progress=True
        )
    if seen.running_tasks:
        tasks = ", ".join(seen.running_tasks)
        return Plan(
            waiting=f"VM {seen.vmid}: Proxmox task {tasks} still running",
            requeue_after=WAIT,
            in_progress=True,
        )
    assert seen.node is not None
    changes = _changes(desired, seen)
    if isinstance(changes, Plan):
        return changes
    if seen.missing_mappings:
        changes = [a for a in changes if not _starts(a)]
        if not changes and seen.status != "running":
            return Plan(
                waiting=f"PCI mapping(s) {', '.join(seen.missing_mappings)} have no device on "
                f"{seen.node} in Proxmox; add one under Datacenter → Resource Mappings → PCI "
                "before the VM can start",
                state_reason="PciMappingMissing",
                requeue_after=10,
            )
    if changes:
        return Plan(actions=tuple(changes))
    disks = refused(desired.spec.data_disks, seen.data_disks) if seen.data_disks else None
    if disks is not None:
        reason, messages = disks
        return Plan(waiting="; ".join(messages), state_reason=reason, requeue_after=300)
    return _usable(desired, seen)


def _create(desired: VM, seen: VMObserved) -> Plan:
    assert seen.vmid is not None
    if seen.maintenance:
        return Plan(
            waiting=f"Machine {desired.spec.machine} is in maintenance; nothing new is placed there",
            requeue_after=60,
        )
    if not seen.node_online:
        return Plan(waiting=f"node {seen.machine_node} is offline", requeue_after=10)
    if seen.template_vmid is None or seen.template_node is None:
        return Plan(waiting=f"template {desired.spec.template.name} not found", requeue_after=30)
    return Plan(
        actions=(
            CloneVM(
                source_vmid=seen.template_vmid,
                source_node=seen.template_node,
                vmid=seen.vmid,
                name=desired.name,
                node=seen.machine_node,
                storage=seen.storage,
                description=seen.desired_config.get("description", ""),
            ),
        )
    )


def _changes(desired: VM, seen: VMObserved) -> list[Action] | Plan:
    assert seen.vmid is not None
    assert seen.node is not None
    actions: list[Action] = []
    node, vmid = seen.node, seen.vmid
    if node != seen.machine_node and seen.node_online and not seen.ha_managed:
        running = seen.status == "running"
        stopped_move = passthrough_move(
            node,
            vmid,
            seen.machine_node,
            running=running,
            observed=seen.config,
            desired=seen.desired_config,
        )
        if stopped_move is not None:
            return stopped_move
        return [MigrateVM(node, vmid, seen.machine_node, online=running)]
    diff = diff_config(seen.desired_config, seen.config)
    if not diff.empty:
        actions.append(UpdateConfig(node, vmid, diff.set, diff.delete))
    wanted_gib = desired.spec.disk.size_gib
    if seen.disk_gib is not None and seen.disk_gib < wanted_gib:
        actions.append(ResizeDisk(node, vmid, seen.disk, seen.disk_gib, wanted_gib))
    if seen.data_disks is not None:
        actions.extend(disk_actions(node, vmid, desired.spec.data_disks, seen.data_disks))
    actions.extend(_firewall(desired, seen))
    if seen.ha_managed:
        return actions  # Proxmox HA owns the power state: reported, not fought over
    running = seen.status == "running"
    if desired.spec.power_state == "running":
        if not running:
            actions.append(PowerVM(node, vmid, "start"))
        elif seen.pending or seen.cloud_init_stale or (not diff.empty and diff.touches_cloud_init):
            reason = (
                "apply pending " + ", ".join(seen.pending)
                if seen.pending
                else "apply cloud-init changes"
            )
            actions.append(PowerVM(node, vmid, "reboot", reason))
    elif running:
        actions.append(PowerVM(node, vmid, "shutdown"))
    return actions


def _starts(action: Action) -> bool:
    """Whether ``action`` starts the VM (what a missing PCI mapping makes fail)."""
    return isinstance(action, PowerVM) and action.operation in ("start", "reboot")


def _firewall(desired: VM, seen: VMObserved) -> list[Action]:
    if seen.firewall is None or seen.firewall_inputs is None or not desired.spec.firewall.manage:
        return []
    assert seen.node is not None and seen.vmid is not None
    rules = desired_rules(desired, seen.firewall_inputs)
    return firewall_actions(seen.node, seen.vmid, rules, seen.firewall)


def _firewall_details(seen: VMObserved) -> tuple[dict[str, object], float | None]:
    """The firewall's summary for status, and how soon to look again for missing addresses."""
    if seen.firewall is None or seen.firewall_inputs is None:
        return {}, None
    waiting = missing_inputs(seen.firewall_inputs)
    summary: dict[str, object] = {
        "rules": sum(1 for r in seen.firewall.rules if r.owner_id is not None),
        "unowned": unowned(seen.firewall),
    }
    if waiting:
        summary["waitingFor"] = list(waiting)
    return {"firewall": summary}, (5.0 if waiting else None)


def _usable(desired: VM, seen: VMObserved) -> Plan:
    assert seen.vmid is not None
    details: dict[str, object] = {
        "vmid": seen.vmid,
        "node": seen.node,
        "status": seen.status,
        "haManaged": seen.ha_managed,
    }
    firewall, look_again = _firewall_details(seen)
    details.update(firewall)
    if seen.disk_gib is not None and seen.disk_gib > desired.spec.disk.size_gib:
        details["note"] = (
            f"disk is {seen.disk_gib} GiB, larger than declared; disks are never shrunk"
        )
    if desired.spec.power_state == "stopped" or (seen.ha_managed and seen.status != "running"):
        return Plan(
            reason=f"VM {seen.vmid} is {seen.status} as declared",
            ready=True,
            details=details,
            requeue_after=look_again,
        )
    if not seen.agent_running:
        return Plan(waiting="waiting for the guest agent", requeue_after=WAIT, details=details)
    join = desired.spec.tailnet.join
    if join and seen.tailnet_address is None:
        assert seen.node is not None
        return Plan(
            actions=(
                JoinTailnet(seen.node, seen.vmid, desired.name, tuple(desired.spec.tailnet.tags)),
            )
        )
    address = seen.tailnet_address if join else seen.guest_address
    if address is None:
        return Plan(waiting="waiting for the guest's address", requeue_after=WAIT, details=details)
    details.update(
        address=address, tailnetAddress=seen.tailnet_address, guestAddress=seen.guest_address
    )
    if not seen.host_key_trusted:
        if seen.host_key is None:
            return Plan(
                waiting="waiting for the guest's SSH host key", requeue_after=WAIT, details=details
            )
        return Plan(actions=(TrustHostKey(address, seen.ssh_port, seen.host_key),))
    return Plan(
        reason=f"VM {seen.vmid} runs on {seen.node} at {address}",
        ready=True,
        details=details,
        requeue_after=look_again,
    )


def _prune(seen: VMObserved, now: datetime) -> Plan:
    removal = seen.removal or Removal()
    if removal.retained:
        return Plan(
            reason=f"VM {seen.name} retained: kept stopped, detached from homeport", gone=True
        )
    if seen.vmid is None or not seen.exists:
        if seen.vmid is not None or seen.tailnet_device_id:
            return Plan(
                actions=(ForgetVM(seen.tailnet_address, seen.ssh_port, seen.tailnet_device_id),),
                gone=True,
            )
        return Plan(reason="nothing left", gone=True)
    if not seen.owned:
        return Plan(reason=f"VM {seen.vmid} is not owned by homeport; left in place", gone=True)
    if seen.protected:
        return Plan(
            waiting=f"VM {seen.vmid} has protection enabled; it is kept until protection is removed",
            requeue_after=300,
        )
    if seen.lock:
        doing = "its final backup runs" if seen.lock == "backup" else f"locked ({seen.lock})"
        return Plan(waiting=f"VM {seen.vmid} is {doing}", requeue_after=WAIT)
    assert seen.node is not None
    started = removal_started(removal, seen.vmid, now=now)
    if started is not None:
        return started
    return plan_removal(seen.name, seen.node, seen.vmid, seen.status == "running", removal)
