"""Reading one VM's world: Proxmox (shared cluster snapshot + its config), the guest agent,
the tailnet and homeport's known_hosts. The only I/O of the VM reconciler besides ``act``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import asyncssh

from homeport.clients.errors import AgentNotReady, ProxmoxError
from homeport.clients.known_hosts import normalise_key
from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.proxmox_models import (
    ClusterResources,
    FirewallOptions,
    FirewallRules,
    VmConfig,
    VmResource,
)
from homeport.clients.tailscale import Device
from homeport.kinds import VM, App, BackupPolicy, Machine, StandbyPair
from homeport.kinds.backuppolicy import VZDUMP_COMPRESS
from homeport.kinds.common import ADOPT_ANNOTATION
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.cluster import FreshEntries, listing
from homeport.reconcilers.errors import PermanentError
from homeport.reconcilers.ownership import OWNER_TAG, owner_in_description
from homeport.reconcilers.slots import (
    VM_DATA_DISKS,
    VM_DESTROY_APPROVAL,
    VM_REMOVAL,
    VM_TAILNET_NODE,
    VmRemoval,
)
from homeport.reconcilers.vm.config import desired_config, normalise_observed
from homeport.reconcilers.vm.disks import DiskSeen, DisksSeen
from homeport.reconcilers.vm.firewall import FirewallInputs, FirewallSeen, SeenRule
from homeport.reconcilers.vm.plan import VMObserved
from homeport.reconcilers.vm.removal import (
    FinalBackupTarget,
    Removal,
    final_backup_note,
)
from homeport.reconcilers.vm.running import running_tasks

DEVICES = "tailscale.devices"
ESTATE_INDEX = "estate.firewall-index"
HOST_KEY_PATH = "/etc/ssh/ssh_host_ed25519_key.pub"
GIB = 1024**3
DISK_KEY = re.compile(r"^(scsi|virtio|sata|ide|efidisk|tpmstate|unused)\d+$")


@dataclass(frozen=True)
class VMSettings:
    """What the VM reconciler needs from the daemon's configuration."""

    vmid_min: int
    vmid_max: int
    ssh_port: int
    homeport_public_key: str
    auth_key_expiry: int = 3600
    tailnet_ranges: tuple[str, ...] = ("100.64.0.0/10", "fd7a:115c:a1e0::/48")
    """Where SSH to VMs may come from (``[firewall] tailnet_ranges``)."""
    control_plane: tuple[str, ...] = ()
    """The control plane's addresses (``[firewall] control_plane``); empty: the tailnet."""
    caddy_admin_port: int | None = None
    """Caddy's admin API port on the router VM, opened to the control plane."""


async def resources(ctx: ReconcileContext, fresh: FreshEntries | None = None) -> ClusterResources:
    """The window's cluster list, with ``fresh``'s entries for the VMs read since."""
    listed = await listing(ctx, ctx.clients.proxmox)
    return fresh.over(listed) if fresh is not None else listed.resources


async def devices(ctx: ReconcileContext) -> list[Device]:
    tailnet = ctx.clients.tailscale
    result: list[Device] = await ctx.shared(DEVICES, tailnet.devices)
    return result


async def _device(name: str, ctx: ReconcileContext) -> Device | None:
    """The VM's tailnet device: the one its join recorded, else the one of its name.

    The shared list is up to a window old: a join that ended after it was read is not in
    it. Such a VM's device is read alone (``GET /device/{id}``) until the list shows it,
    instead of the whole list again after every join (an O(estate) read per join)."""
    recorded = VM_TAILNET_NODE.recall(ctx, name)
    node_id = recorded["nodeId"] if recorded else None
    listed = await devices(ctx)
    device = next((d for d in listed if node_id and node_id in (d.node_id, d.id)), None)
    if device is None:
        device = next((d for d in listed if d.hostname == name), None)
    if device is None and node_id:
        device = await ctx.clients.tailscale.device(node_id)
    return device


def _candidate(
    snapshot: ClusterResources, ctx: ReconcileContext, settings: VMSettings
) -> int | None:
    used = {vm.vmid for vm in snapshot.vms} | ctx.taken("vmid")
    return next((v for v in range(settings.vmid_min, settings.vmid_max + 1) if v not in used), None)


def _template(snapshot: ClusterResources, vm: VM, node: str) -> VmResource | None:
    """The template to clone: one of the declared name on the target node, else the vmid."""
    templates = [r for r in snapshot.vms if r.template and r.type == "qemu"]
    local = [t for t in templates if t.node == node and t.name == vm.spec.template.name]
    if local:
        return min(local, key=lambda t: (t.vmid != vm.spec.template.vmid, t.vmid))
    return next((t for t in templates if t.vmid == vm.spec.template.vmid), None)


async def _identify(
    desired: VM | None,
    name: str,
    snapshot: ClusterResources,
    ctx: ReconcileContext,
    settings: VMSettings,
) -> tuple[int | None, int | None]:
    """(vmid, candidate): this VM's reserved vmid, or what to reserve next."""
    vmid = ctx.allocated("vmid")
    if vmid is not None:
        return vmid, None
    if desired is None:
        return None, None
    same_name = [r for r in snapshot.vms if r.name == name and not r.template and r.type == "qemu"]
    px = ctx.clients.proxmox
    for found in same_name:
        config = await px.vm_config(found.node, found.vmid)
        owner = owner_in_description(config.text("description"))
        if owner == f"VM/{name}" or desired.metadata.annotations.get(ADOPT_ANNOTATION) == "true":
            return None, found.vmid  # ours from before (store lost) or adopted on purpose
        raise PermanentError(
            f"a VM named {name!r} already exists (vmid {found.vmid} on {found.node}) and is not managed by homeport",
            reason="NameTaken",
            fix=f"rename it in Proxmox, rename this VM, or adopt it with the annotation {ADOPT_ANNOTATION}: 'true'",
        )
    if desired.spec.vmid is not None:
        taken = snapshot.vm(desired.spec.vmid)
        if taken is not None:
            raise PermanentError(
                f"vmid {desired.spec.vmid} is already used by {taken.name!r} on {taken.node}",
                reason="VmidTaken",
                fix="pick another vmid or leave it out",
            )
        return None, desired.spec.vmid
    candidate = _candidate(snapshot, ctx, settings)
    if candidate is None:
        raise PermanentError(
            f"no free vmid in [{settings.vmid_min}, {settings.vmid_max}]",
            reason="NoFreeVmid",
            fix="widen [controller] vmid_min/vmid_max",
        )
    return None, candidate


async def observe_vm(
    desired: VM | None,
    name: str,
    ctx: ReconcileContext,
    settings: VMSettings,
    fresh: FreshEntries | None = None,
) -> VMObserved:
    snapshot = await resources(ctx, fresh)
    machine = ctx.desired("Machine", desired.spec.machine) if desired else None
    node = machine.spec.node if isinstance(machine, Machine) else ""
    storage = (desired.spec.disk.storage if desired else None) or (
        machine.spec.storage if isinstance(machine, Machine) else "local-lvm"
    )
    vmid, candidate = await _identify(desired, name, snapshot, ctx, settings)
    template = _template(snapshot, desired, node) if desired else None
    node_entry = next((n for n in snapshot.nodes if n.node == node), None)
    base = VMObserved(
        name=name,
        machine_node=node,
        node_online=node_entry is not None and node_entry.status == "online",
        maintenance=isinstance(machine, Machine) and machine.spec.maintenance,
        vmid=vmid,
        candidate_vmid=candidate,
        template_vmid=template.vmid if template else None,
        template_node=template.node if template else None,
        storage=storage,
        ssh_port=settings.ssh_port,
        desired_config=desired_config(desired, homeport_keys=[settings.homeport_public_key])
        if desired
        else {},
        disk=desired.spec.disk.slot if desired else "scsi0",
    )
    base = replace(base, removal=_recorded_removal(desired, name, ctx))
    if base.removal is not None and base.removal.retained:
        return base  # detached: its tailnet device and host key are the kept VM's
    device = None
    if desired is None or desired.spec.tailnet.join:
        device = await _device(name, ctx)
    tailnet_address = device.ipv4 if device else None
    device_id = (device.node_id or device.id) if device else None
    base = replace(base, tailnet_address=tailnet_address, tailnet_device_id=device_id)
    found = snapshot.vm(vmid) if vmid is not None else None
    if found is None:
        return base
    px = ctx.clients.proxmox
    # One read for the config and its pending changes (``GET .../pending`` lists both).
    config, changes = await px.vm_config_and_pending(found.node, found.vmid)
    owner = owner_in_description(config.text("description"))
    if owner is not None and owner != f"VM/{name}":
        raise PermanentError(
            f"vmid {found.vmid} belongs to {owner}, not VM/{name}",
            reason="VmidConflict",
            fix="remove the conflicting VM or give this one another vmid",
        )
    owned = owner == f"VM/{name}" and OWNER_TAG in config.tags
    pending: tuple[str, ...] = ()
    if found.running:
        pending = tuple(sorted(p.key for p in changes if p.pending is not None or p.delete))
    size = config.disk_size(base.disk)
    agent_running, guest_address, host_key = False, None, None
    joins = desired is None or desired.spec.tailnet.join
    known_hosts = ctx.clients.ssh.known_hosts
    pinned = known_hosts.pinned(tailnet_address, settings.ssh_port) if tailnet_address else []
    last_seen = ctx.status_details("VM", name)
    if found.running and config.text("agent") not in (None, "0"):
        if joins and pinned and _online_at(device, last_seen.get("address")):
            # Converged on the tailnet: its device is connected (the guest's own tailscaled
            # talks to the control plane) at the address this VM was last Ready at, and
            # its host key is pinned. Nothing the agent would tell is needed to plan (the
            # agent only joins and reads a first host key): its interfaces are not read.
            # A hung or crashed guest drops off the tailnet, and is read again.
            agent_running, guest_address = True, _address(last_seen, "guestAddress")
        else:
            # The host key is read through the agent (an exec) only while none is pinned:
            # a converged VM costs no guest command; a changed key is a HostKeyMismatch.
            agent_running, guest_address, host_key = await _guest(
                px, found.node, found.vmid, read_host_key=not (joins and pinned)
            )
    address = tailnet_address if joins else guest_address
    if address and not joins:
        pinned = known_hosts.pinned(address, settings.ssh_port)
    trusted = bool(pinned) and (host_key is None or normalise_key(host_key) in pinned)
    firewall, inputs = None, None
    if desired is not None and desired.spec.firewall.manage:
        firewall = await _firewall(px, found)
        inputs = await firewall_inputs(desired, ctx, settings)
    data_disks = None
    if desired is not None:
        default_storage = machine.spec.storage if isinstance(machine, Machine) else "local-lvm"
        data_disks = disks_seen(
            desired, config, VM_DATA_DISKS.recall(ctx, name) or {}, default_storage
        )
    missing = await _missing_mappings(desired, px, found.node) if desired else ()
    removal = base.removal
    if desired is None and removal is not None and owned:
        removal = await _removal_world(removal, name, found, config.values, ctx)
    return replace(
        base,
        removal=removal,
        data_disks=data_disks,
        missing_mappings=missing,
        firewall=firewall,
        firewall_inputs=inputs,
        exists=True,
        owned=owned,
        node=found.node,
        status=found.status,
        lock=config.lock or found.lock,
        running_tasks=await running_tasks(ctx, found.vmid),
        ha_managed=bool(found.hastate),
        protected=config.flag("protection"),
        config=normalise_observed(config.values, config.sshkeys),
        pending=pending,
        disk_gib=(size // GIB) if size else None,
        agent_running=agent_running,
        guest_address=guest_address,
        host_key=host_key,
        host_key_trusted=trusted,
    )


async def still_listed_as(seen: VMObserved, ctx: ReconcileContext) -> bool:
    """Whether the VM's own ``GET .../status/current`` confirms what the shared list said
    of it (power state, lock, HA management): one read instead of a whole new look. For
    a VM not listed whose vmid is reserved (the plan clones it), whether that vmid is
    still free anywhere in the cluster (``GET /cluster/nextid?vmid=N``)."""
    px = ctx.clients.proxmox
    if not seen.exists and seen.vmid is not None:
        try:
            await px.next_vmid(candidate=seen.vmid)
        except ProxmoxError:  # taken (400 "VM N already exists"), or no answer
            return False
        return True
    if not seen.exists or seen.node is None or seen.vmid is None:
        return False  # no vmid reserved yet: the reservation is planned on a fresh look
    try:
        status = await px.vm_status(seen.node, seen.vmid)
    except ProxmoxError:  # moved to another node, or gone
        return False
    return (status.status, status.lock, status.ha_managed) == (
        seen.status,
        seen.lock,
        seen.ha_managed,
    )


async def _missing_mappings(desired: VM, px: ProxmoxClient, node: str) -> tuple[str, ...]:
    """The PCI mappings the VM names that have no device on ``node`` in Proxmox (read only
    for VMs that name one: the estate's other VMs cost no call)."""
    names = sorted({d.mapping for d in desired.spec.pci_devices if d.mapping})
    if not names:
        return ()
    present = {m.id for m in await px.pci.mappings() if m.paths.get(node)}
    return tuple(n for n in names if n not in present)


def disks_seen(
    desired: VM, config: VmConfig, record: Mapping[str, object], default_storage: str
) -> DisksSeen:
    """The declared and the recorded data disk slots as Proxmox holds them."""
    recorded = record.get("slots")
    attached = {str(k): str(v) for k, v in recorded.items()} if isinstance(recorded, dict) else {}
    slots: dict[str, DiskSeen] = {}
    for slot in {*(d.slot for d in desired.spec.data_disks), *attached}:
        props = config.prop(slot, default_key="file")
        if not props.get("file"):
            continue
        size = config.disk_size(slot)
        options = {k: v for k, v in props.items() if k != "file"}
        slots[slot] = DiskSeen(props["file"], (size // GIB) if size else None, options)
    attached = {
        slot: name
        for slot, name in attached.items()
        if slot in slots and slots[slot].options.get("media") != "cdrom"
    }
    return DisksSeen(slots=slots, attached=attached, default_storage=default_storage)


def _recorded_removal(desired: VM | None, name: str, ctx: ReconcileContext) -> Removal | None:
    """The removal as recorded in the VM's slots; for a removed VM, with its policy."""
    record: VmRemoval = VM_REMOVAL.recall(ctx, name) or {}
    if desired is not None:
        return Removal(since=str(record["since"])) if record.get("since") else None
    manifest = ctx.last_manifest()
    policy = manifest.spec.deletion_policy if isinstance(manifest, VM) else "Hold"
    since = record.get("since")
    approval = VM_DESTROY_APPROVAL.recall(ctx, name)
    return Removal(
        policy=policy,
        since=str(since) if since else None,
        held=bool(record.get("held")),
        approval=str(approval["since"]) if approval and approval.get("since") else None,
        retained=bool(record.get("retained")),
        backup=_covering(manifest, ctx) if policy != "Retain" else None,
    )


def _covering(manifest: object, ctx: ReconcileContext) -> FinalBackupTarget | None:
    if not isinstance(manifest, VM):
        return None
    for policy, _ in ctx.objects("BackupPolicy"):
        if isinstance(policy, BackupPolicy) and policy.covers(manifest):
            spec = policy.spec
            return FinalBackupTarget(
                policy.name, spec.storage, spec.mode, VZDUMP_COMPRESS[spec.compress]
            )
    return None


async def _removal_world(
    removal: Removal,
    name: str,
    found: VmResource,
    config: Mapping[str, object],
    ctx: ReconcileContext,
) -> Removal:
    """What the hold reports and the final backup step needs: disks and archives."""
    disks = tuple(
        f"{key}={str(value).split(',', 1)[0]}"
        for key, value in sorted(config.items())
        if DISK_KEY.match(key) and "media=cdrom" not in str(value)
    )
    final, last = None, None
    if removal.backup is not None:
        px = ctx.clients.proxmox
        archives = await px.backups.backups(found.node, removal.backup.storage, vmid=found.vmid)
        note = final_backup_note(name, removal.since) if removal.since else None
        final = next((a.volid for a in archives if note and note in (a.notes or "")), None)
        last = archives[-1].volid if archives else None
    else:
        records = ctx.backup_records(name)
        last = str(records[0]["volid"]) if records else None
    return replace(removal, disks=disks, final_backup=final, last_backup=last)


async def _guest(
    px: ProxmoxClient, node: str, vmid: int, *, read_host_key: bool
) -> tuple[bool, str | None, str | None]:
    try:
        # No ping first: the interfaces read fails the same way (``AgentNotReady``) while
        # the agent does not answer, so it is the liveness check too (one read, not two).
        interfaces = await px.agent.network_interfaces(node, vmid)
        result = (
            await px.agent.run(node, vmid, ["cat", HOST_KEY_PATH], timeout=10)
            if read_host_key
            else None
        )
    except (AgentNotReady, ProxmoxError):
        return False, None, None
    address = next(
        (a.address for i in interfaces if i.name != "lo" for a in i.addresses if a.type == "ipv4"),
        None,
    )
    key = (result.out_data or "").strip() if result is not None and result.exitcode == 0 else None
    return True, address, key or None


async def _firewall(px: ProxmoxClient, found: VmResource) -> FirewallSeen:
    options = await px.firewall.options(found.node, found.vmid)
    rules = await px.firewall.rules(found.node, found.vmid)
    return firewall_seen(options, rules)


def firewall_seen(options: FirewallOptions, rules: FirewallRules) -> FirewallSeen:
    """Proxmox's firewall payloads as the pure diff sees them."""
    keys = ("proto", "dport", "sport", "source", "dest", "iface", "macro", "log")
    return FirewallSeen(
        options={k: str(v) for k, v in options.values.items()},
        rules=tuple(
            SeenRule(
                pos=r.pos,
                type=r.type,
                action=r.action,
                enable=r.enable,
                fields={k: v for k in keys if (v := getattr(r, k)) is not None},
                comment=r.comment,
            )
            for r in rules.rules
        ),
    )


def _address(details: object, key: str = "address") -> str | None:
    value = details.get(key) if isinstance(details, Mapping) else None
    return str(value) if value else None


def _online_at(device: Device | None, address: object) -> bool:
    """Is ``device`` connected to the tailnet's control plane at ``address``?"""
    return device is not None and device.connected and bool(address) and device.ipv4 == address


@dataclass(frozen=True)
class EstateIndex:
    """What every VM's firewall rules are derived from, read once per resync (shared)."""

    apps: dict[str, list[App]]
    """VM → its Apps."""
    addresses: dict[str, str | None]
    """VM → its address."""
    routers: list[str]
    """The router VMs."""
    pairs: list[StandbyPair]
    vm_of: dict[str, str] = field(default_factory=dict)
    """App → the VM it runs on (for the pairs' peers)."""


async def estate_index(ctx: ReconcileContext) -> EstateIndex:
    async def load() -> EstateIndex:
        apps: dict[str, list[App]] = {}
        for app, _ in ctx.objects("App"):
            if isinstance(app, App):
                apps.setdefault(app.spec.vm, []).append(app)
        vms = [(vm, details) for vm, details in ctx.objects("VM") if isinstance(vm, VM)]
        return EstateIndex(
            apps=apps,
            addresses={vm.name: _address(dict(details)) for vm, details in vms},
            routers=[vm.name for vm, _ in vms if vm.spec.role == "router"],
            pairs=[p for p, _ in ctx.objects("StandbyPair") if isinstance(p, StandbyPair)],
            vm_of={a.name: vm for vm, listed in apps.items() for a in listed},
        )

    index: EstateIndex = await ctx.shared(ESTATE_INDEX, load)
    return index


async def firewall_inputs(
    desired: VM, ctx: ReconcileContext, settings: VMSettings
) -> FirewallInputs:
    """What the VM's rules follow from: its Apps, the routers, its pairs' peers, the config."""
    index = await estate_index(ctx)
    here = index.apps.get(desired.name, [])
    routers = [(r, index.addresses.get(r)) for r in index.routers if r != desired.name]
    return FirewallInputs(
        ssh_port=settings.ssh_port,
        tailnet_ranges=settings.tailnet_ranges,
        control_plane=settings.control_plane,
        apps=tuple(sorted((a.name, a.spec.port) for a in here if a.spec.bind != "localhost")),
        routers=tuple(sorted(routers)),
        peers=tuple(sorted(_peers(desired, {a.name for a in here}, index))),
        caddy_admin_port=settings.caddy_admin_port,
    )


def _peers(desired: VM, apps: set[str], index: EstateIndex) -> list[tuple[str, str, str | None]]:
    """(pair, peer VM, its address) for every StandbyPair with a member on this VM."""
    vm_of = index.vm_of  # built once per window, not once per VM
    found = []
    for pair in index.pairs:
        members = (pair.spec.primary, pair.spec.standby)
        for here, there in (members, members[::-1]):
            peer_vm = vm_of.get(there) if here in apps else None
            if peer_vm is not None and peer_vm != desired.name:
                found.append((pair.name, peer_vm, index.addresses.get(peer_vm)))
    return found


def public_key_of(private_key_file: Path) -> str:
    """``type base64`` of the key pair's public half, derived from the private key."""
    key = asyncssh.read_private_key(str(private_key_file))
    return " ".join(key.export_public_key().decode().split()[:2])
