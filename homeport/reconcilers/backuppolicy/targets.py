"""Where a policy's archives are read from and copied to: node and host addresses (the
tailnet), storage configs and use, and the declared offsite targets checked against them.

Read by ``observe.py``; ``offsite.py`` copies along the targets resolved here.
"""

from __future__ import annotations

from pathlib import Path

from homeport.clients.errors import ProxmoxError
from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.proxmox_backups import StorageConfig
from homeport.clients.tailscale import Device
from homeport.kinds import BackupPolicy, Machine
from homeport.reconcilers.backuppolicy.actions import CopyTarget
from homeport.reconcilers.base import ClientAccess, EstateView, ReconcileContext

DEVICES = "tailscale.devices"  # the same snapshot the VM reconciler shares


def _px(ctx: ClientAccess) -> ProxmoxClient:
    client = ctx.clients.proxmox
    return client


async def storage_config(ctx: ReconcileContext, storage: str) -> StorageConfig | None:
    backups = _px(ctx).backups
    result: StorageConfig | None = await ctx.shared(
        f"proxmox.storage-config:{storage}", lambda: backups.storage_config(storage)
    )
    return result


async def storage_use(ctx: ReconcileContext, storage: str, nodes: list[str]) -> dict[str, float]:
    backups = _px(ctx).backups
    use = {}
    for node in nodes:
        try:
            infos = await ctx.shared(
                f"proxmox.storages:{node}", lambda node=node: backups.storages(node)
            )
        except ProxmoxError:
            continue  # an offline node: its storage is not judged
        info = next((i for i in infos if i.storage == storage), None)
        if info is not None and info.total:
            use[node] = info.used / info.total
    return use


async def devices(ctx: ClientAccess) -> list[Device]:
    tailnet = ctx.clients.tailscale
    result: list[Device] = await ctx.shared(DEVICES, tailnet.devices)
    return result


def address_of(host: str, ctx: EstateView, devices: list[Device], machines: list[Machine]) -> str:
    """A host named in a manifest, as homeport dials it: a VM's address, a Machine's (or any
    device's) tailnet address, else the name itself."""
    vm_address = ctx.status_details("VM", host).get("address")
    if vm_address:
        return str(vm_address)
    machine = next(
        (m for m in machines if host in (m.name, m.spec.node, m.spec.tailscale_hostname)), None
    )
    hostname = (machine.spec.tailscale_hostname or machine.spec.node) if machine else host
    device = next((d for d in devices if d.hostname == hostname and d.ipv4), None)
    return device.ipv4 if device and device.ipv4 else hostname


def node_host(node: str, machines: list[Machine], devices: list[Device]) -> str:
    machine = next((m for m in machines if m.spec.node == node), None)
    hostname = (machine.spec.tailscale_hostname if machine else None) or node
    device = next((d for d in devices if d.hostname == hostname and d.ipv4), None)
    return device.ipv4 if device and device.ipv4 else hostname


async def offsite_targets(
    desired: BackupPolicy,
    ctx: ReconcileContext,
    devices: list[Device],
    machines: list[Machine],
    secrets_dir: Path,
) -> tuple[tuple[CopyTarget, ...], tuple[str, ...], set[str]]:
    offsite = desired.spec.offsite
    targets: list[CopyTarget] = []
    problems: list[str] = []
    shared: set[str] = set()
    if offsite is None:
        return (), (), shared
    if offsite.storage is not None:
        config = await storage_config(ctx, offsite.storage)
        problem = _storage_problem(desired, offsite.storage, config)
        if problem:
            problems.append(problem)
        elif config is not None:
            if config.shared:
                shared.add(config.storage)
            targets.append(
                CopyTarget(
                    key=f"storage:{config.storage}",
                    kind="storage",
                    storage=config.storage,
                    directory=f"{config.path}/dump",
                )
            )
    if offsite.ssh is not None:
        ssh = offsite.ssh
        address = address_of(ssh.host, ctx, devices, machines)
        targets.append(
            CopyTarget(
                key=f"ssh:{ssh.host}:{ssh.path}",
                kind="ssh",
                directory=ssh.path,
                host=f"{ssh.user}@{address}",
            )
        )
    if offsite.s3 is not None:
        s3 = offsite.s3
        missing = [
            f"{field} {name!r}"
            for field, name in (
                ("credentialsSecret", s3.credentials_secret),
                ("encryptionKeySecret", s3.encryption_key_secret),
            )
            if not (secrets_dir / name).is_file()
        ]
        if missing:
            problems.append(
                f"offsite {s3.key}: {' and '.join(missing)} missing from {secrets_dir}; "
                "create the file(s) on the control plane (mode 0600)"
            )
        else:
            targets.append(
                CopyTarget(
                    key=s3.key,
                    kind="s3",
                    region=s3.region,
                    credentials_secret=s3.credentials_secret,
                    encryption_key_secret=s3.encryption_key_secret,
                )
            )
    return tuple(targets), tuple(problems), shared


def _storage_problem(
    desired: BackupPolicy, storage: str, config: StorageConfig | None
) -> str | None:
    if config is None:
        return f"offsite storage {storage!r} does not exist"
    if storage == desired.spec.storage:
        return f"offsite storage {storage!r} is the backup storage itself"
    if not config.path:
        return (
            f"offsite storage {storage!r} ({config.type}) has no directory to copy archives "
            "into; use a dir/NFS/CIFS storage or offsite.ssh"
        )
    if "backup" not in config.content:
        return f"offsite storage {storage!r} does not hold backups (content: {','.join(config.content)})"
    return None


def restore_node(desired: BackupPolicy, machines: list[Machine]) -> str | None:
    spec = desired.spec.restore_test
    if spec is None or spec.machine is None:
        return None
    machine = next((m for m in machines if m.name == spec.machine), None)
    return machine.spec.node if machine else None
