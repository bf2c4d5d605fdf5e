"""``homeport backup now VM`` and ``homeport restore VM --from VOLID [--as NEW-NAME]``.

On-demand backups and restores, next to the scheduled jobs the BackupPolicy reconciler
keeps. They reach Proxmox through the same clients the daemon uses
(``controller.wiring.build_clients``), find the VM's vmid and node in the store (its
published status), and record what they did there: a journal entry (intent, then the
outcome) and an event on the VM, as the daemon does for its own actions. Errors are one
line naming the fix, never a traceback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from homeport.cli.common import CONFIG_OPTION, operator_name, settings_or_exit
from homeport.cli.output import OUTPUT_OPTION, OutputFormat, console, print_data
from homeport.cli.progress import reporting, say
from homeport.clients.errors import ClientError, TaskFailed
from homeport.clients.proxmox import ProxmoxClient
from homeport.controller.clock import SystemClock
from homeport.controller.config import Settings
from homeport.controller.control import send_request
from homeport.controller.ha.planes import operator_writes
from homeport.controller.oneshot import Settled, reconcile_until
from homeport.controller.store import Store, StoredObject
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients
from homeport.kinds import VM, BackupPolicy
from homeport.kinds.common import check_dns_label
from homeport.reconcilers.backuppolicy.ondemand import is_open
from homeport.reconcilers.backuppolicy.selection import selects
from homeport.reconcilers.slots import BACKUP_REQUEST, BackupRequest

TASK_TIMEOUT = 6 * 3600.0

backup_app = typer.Typer(
    help="Backups on demand (the scheduled ones are BackupPolicy jobs in Proxmox).",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


class CommandError(Exception):
    """What went wrong, with the fix: printed as one line, exit status ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    """A VM as the store knows it: its manifest and where Proxmox has it."""

    obj: StoredObject
    vm: VM
    vmid: int
    node: str


@backup_app.command("now")
def backup_now(
    vm: str = typer.Argument(..., help="The VM to back up (its name in the manifests)."),
    storage: str = typer.Option(
        None, "--storage", help="Backup storage (default: that of a policy covering the VM)."
    ),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the backup to finish."),
    config: Path | None = CONFIG_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Back up one VM now (a vzdump run), as its BackupPolicy would.

    Storage, mode and compression come from a policy covering the VM (else local storage, snapshot mode, zstd); the archive's notes carry the policy's marker. An on-demand run applies no retention, so it prunes no archive.

    Example: [bold]homeport backup now shop-a[/bold]
    """
    settings = settings_or_exit(config)
    result = _guarded("backup now", lambda: _request_backup(settings, vm, storage, wait))
    _show(result, output)


def restore(
    vm: str = typer.Argument(..., help="The VM whose archive to restore."),
    from_: str = typer.Option(
        ..., "--from", help="The archive's volume id, e.g. local:backup/vzdump-qemu-…vma.zst."
    ),
    as_: str = typer.Option(
        None,
        "--as",
        help="Restore into a new VM of this name (new vmid and MACs, not started) "
        "instead of over the VM itself.",
    ),
    node: str = typer.Option(None, "--node", help="Node to restore on (default: the VM's)."),
    storage: str = typer.Option(None, "--storage", help="Storage for the restored disks."),
    yes: bool = typer.Option(
        False, "--yes", help="Confirm overwriting the VM itself (without --as)."
    ),
    config: Path | None = CONFIG_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Restore a VM from one of its archives: into a new VM, or over the VM itself.

    With [bold]--as NEW-NAME[/bold] the archive becomes a new, stopped VM that homeport does not manage (a free vmid, new MACs, static addresses swapped for DHCP). Starting it brings up a copy of the original, tailnet identity included: isolate it first.

    Without --as the VM itself is stopped and overwritten: its manifest must be suspended first (spec.suspend: true) so the daemon does not start it mid-way, and --yes must confirm.

    Example: [bold]homeport restore shop-a --from local:backup/vzdump-qemu-1004-2026_01_10-02_00_03.vma.zst --as shop-a-copy[/bold]
    """
    settings = settings_or_exit(config)
    result = _run(
        settings,
        "restore",
        lambda store, px: _restore(store, px, settings, vm, from_, as_, node, storage, yes),
    )
    _show(result, output)


# -- running a command -------------------------------------------------------------------

Work = Callable[[Store, ProxmoxClient], Awaitable[dict[str, Any]]]


def _run(settings: Settings, title: str, work: Work) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        clients = await build_clients(settings)
        store = _open_store(settings)
        try:
            return await work(store, clients["proxmox"])
        finally:
            store.close()
            await close_clients(clients)

    return _guarded(title, lambda: asyncio.run(go()))


def _open_store(settings: Settings) -> Store:
    if not settings.store.path.exists():
        raise CommandError(f"{settings.store.path}: no store yet (has the daemon run?)", 2)
    return Store.open(settings.store.path)


def _guarded(title: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a command's work with progress; its errors become one line and an exit code."""
    err = console(stderr=True)
    try:
        with reporting(title):
            return work()
    except CommandError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(exc.code) from None
    except (ClientError, OSError) as exc:
        err.print(f"error: {type(exc).__name__}: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _show(result: dict[str, Any], output: OutputFormat) -> None:
    if output in (OutputFormat.json, OutputFormat.yaml):
        print_data(result, output)
        return
    console().print(result["message"], markup=False, soft_wrap=True)


def _target(store: Store, name: str) -> Target:
    obj = store.objects.get(("VM", name))
    if obj is None or obj.deleting:
        raise CommandError(f"VM {name!r} is not in the adopted revision (see homeport get vm)", 2)
    resource = obj.resource()
    assert isinstance(resource, VM)
    vmid, node = obj.status.details.get("vmid"), obj.status.details.get("node")
    if not isinstance(vmid, int) or not node:
        raise CommandError(f"VM {name!r} has no vmid/node yet: wait until it is Ready", 2)
    return Target(obj, resource, vmid, str(node))


def _policy_for(store: Store, vm: VM) -> BackupPolicy | None:
    policies = [o.resource() for o in store.objects.of_kind("BackupPolicy") if not o.deleting]
    return next((p for p in policies if isinstance(p, BackupPolicy) and selects(p, vm)), None)


class _Journal:
    """One journal entry and one event for what a command does to a VM."""

    def __init__(self, store: Store, target: Target, verb: str, description: str) -> None:
        self.store, self.target, self.verb = store, target, verb
        self.entry = store.journal.intent(
            kind="VM",
            name=target.vm.name,
            generation=target.obj.generation,
            verb=verb,
            idempotency_key=f"VM/{target.vm.name}/cli/{verb}/{_now().isoformat()}",
            description=description,
            fencing_token=0,
            holder=f"cli:{operator_name()}",
            now=_now(),
        )
        say(description)

    def done(self, reason: str, message: str) -> None:
        self.store.journal.finish(self.entry, now=_now())
        self._event(reason, message, warning=False)

    def failed(self, reason: str, message: str) -> None:
        self.store.journal.finish(self.entry, now=_now(), error=message)
        self._event(reason, message, warning=True)

    def _event(self, reason: str, message: str, *, warning: bool) -> None:
        self.store.events.emit(
            kind="VM",
            name=self.target.vm.name,
            reason=reason,
            message=message,
            now=_now(),
            warning=warning,
        )


def _now() -> datetime:
    return datetime.now(UTC)


async def _wait(px: ProxmoxClient, task: Any, journal: _Journal, what: str) -> None:
    say(f"waiting for Proxmox task {getattr(task, 'upid', task)}")
    try:
        await px.tasks.wait(task, timeout=TASK_TIMEOUT)
    except TaskFailed as exc:
        tail = " | ".join(exc.log_tail[-3:])
        journal.failed(f"{what}Failed", f"{exc.exitstatus} ({tail})")
        raise CommandError(f"{what.lower()} failed: {exc.exitstatus}; log: {tail}") from None


# -- backup now --------------------------------------------------------------------------


def _request_backup(
    settings: Settings, name: str, storage: str | None, wait: bool
) -> dict[str, Any]:
    """Write the request into the covering policy's slot, then see it through: the daemon
    runs it when it answers its socket, else this command runs the same engine on just
    that policy. Answers as the request's outcome."""
    store = _open_store(settings)
    try:
        target = _target(store, name)
        policy = _policy_for(store, target.vm)
        if policy is None:
            raise CommandError(
                f"no BackupPolicy selects VM {name!r}: an on-demand backup runs through the "
                "policy covering the VM (its storage, mode, compression); add one whose "
                "selector names it",
                2,
            )
        pending = BACKUP_REQUEST.get(store, policy.name)
        if is_open(pending) and pending is not None:
            raise CommandError(
                f"BackupPolicy/{policy.name} is still running the backup of "
                f"{pending['vm']} requested at {pending['at']}: wait for it",
                2,
            )
        at = _now().isoformat()
        request: BackupRequest = {
            "op": "backup-now",
            "vm": name,
            "at": at,
            "by": operator_name(),
            "state": "requested",
            "storage": storage,
        }
        with operator_writes(store, settings):
            BACKUP_REQUEST.set(store, policy.name, request, now=at)
    finally:
        store.close()
    key = ("BackupPolicy", policy.name)
    say(f"requested a backup of {name} from BackupPolicy/{policy.name}")

    def settled(store: Store) -> bool:
        answer = BACKUP_REQUEST.get(store, policy.name)
        if answer is None or answer.get("at") != at:
            raise CommandError("the request was replaced or withdrawn; see homeport events")
        return not is_open(answer) or (not wait and bool(answer.get("upid")))

    woke = send_request(settings.store.path, {"op": "reconcile", "kind": key[0], "name": key[1]})
    if not woke and settings.coordination.backend != "etcd":
        say("no daemon answers: running the request here")
        asyncio.run(_in_process(settings, key, settled))
    _wait_for(settings, settled)
    return _answer(settings, policy.name, name)


async def _in_process(settings: Settings, key: tuple[str, str], settled: Settled) -> None:
    clients = await build_clients(settings)
    store = Store.open(settings.store.path)
    try:
        outcome = await reconcile_until(
            settings=settings,
            store=store,
            reconcilers={key[0]: build_reconcilers(settings)[key[0]]},
            clients=clients,
            clock=SystemClock(),
            key=key,
            settled=settled,
            holder=f"cli:{operator_name()}",
        )
        if outcome is not None and not settled(store):
            raise CommandError(
                f"{key[0]}/{key[1]} is {outcome.result}: {outcome.message}; "
                f"see homeport describe backuppolicy {key[1]}"
            )
    finally:
        store.close()
        await close_clients(clients)


def _wait_for(settings: Settings, settled: Settled) -> None:
    deadline = time.monotonic() + TASK_TIMEOUT
    while time.monotonic() < deadline:
        store = Store.open(settings.store.path, readonly=True)
        try:
            if settled(store):
                return
        finally:
            store.close()
        time.sleep(0.2)
    raise CommandError("not done in time; see homeport events")


def _answer(settings: Settings, policy: str, name: str) -> dict[str, Any]:
    store = Store.open(settings.store.path, readonly=True)
    try:
        answer = BACKUP_REQUEST.get(store, policy)
    finally:
        store.close()
    if answer is None:
        raise CommandError("the request was withdrawn; see homeport events")
    message = answer.get("message", "")
    if answer.get("state") == "failed":
        raise CommandError(message)
    if answer.get("state") != "done":
        upid = answer.get("upid")
        return {"vm": name, "task": upid, "message": f"backup of {name} started: {upid}"}
    return {
        "vm": name,
        "vmid": answer.get("vmid"),
        "task": answer.get("upid"),
        "volid": answer.get("volid"),
        "message": message,
    }


# -- restore -----------------------------------------------------------------------------


async def _restore(
    store: Store,
    px: ProxmoxClient,
    settings: Settings,
    name: str,
    volid: str,
    new_name: str | None,
    node: str | None,
    storage: str | None,
    yes: bool,
) -> dict[str, Any]:
    target = _target(store, name)
    node = node or target.node
    if ":" not in volid or "/" not in volid:
        raise CommandError(f"{volid!r} is not a volume id like local:backup/vzdump-qemu-…", 2)
    info = await px.backups.volume(node, volid.split(":", 1)[0], volid)
    if info is None:
        raise CommandError(
            f"archive {volid} not found on {node} (node-local archives are seen only on "
            "their node: pass --node)",
            2,
        )
    archive_vmid = _archive_vmid(volid)
    if archive_vmid is not None and archive_vmid != target.vmid:
        raise CommandError(f"{volid} is an archive of vmid {archive_vmid}, not of {name}", 2)
    if new_name is not None:
        return await _restore_as(store, px, settings, target, volid, new_name, node, storage)
    return await _restore_over(store, px, target, volid, node, storage, yes)


def _archive_vmid(volid: str) -> int | None:
    stem = volid.rsplit("/", 1)[-1]
    parts = stem.split("-")
    return int(parts[2]) if len(parts) > 2 and parts[0] == "vzdump" and parts[2].isdigit() else None


async def _free_vmid(store: Store, px: ProxmoxClient, settings: Settings) -> int:
    """The lowest vmid in the cluster's free space outside homeport's own ranges (the VMs'
    and the restore tests' scratch VMs'), so no reconciler ever wants it."""
    used = {v.vmid for v in (await px.cluster_resources()).vms}
    used |= store.allocations.taken("vmid") | store.allocations.taken("restore-vmid")
    ranges = (
        (settings.controller.vmid_min, settings.controller.vmid_max),
        (settings.backups.scratch_vmid_min, settings.backups.scratch_vmid_max),
    )
    return next(
        v
        for v in range(100, 1_000_000_000)
        if v not in used and not any(low <= v <= high for low, high in ranges)
    )


async def _restore_as(
    store: Store,
    px: ProxmoxClient,
    settings: Settings,
    target: Target,
    volid: str,
    new_name: str,
    node: str,
    storage: str | None,
) -> dict[str, Any]:
    try:
        check_dns_label(new_name)
    except ValueError as exc:
        raise CommandError(f"--as: {exc}", 2) from None
    resources = await px.cluster_resources()
    if any(v.name == new_name for v in resources.vms) or store.objects.get(("VM", new_name)):
        raise CommandError(f"a VM named {new_name!r} already exists: pick another name", 2)
    vmid = await _free_vmid(store, px, settings)
    options: dict[str, Any] = {
        "name": new_name,
        "description": f"restored by homeport from {volid} (a copy of VM/{target.vm.name}); "
        "homeport leaves it alone unless a manifest adopts it (homeport.dev/adopt: 'true')",
        "tags": "homeport-restored",
        "onboot": False,
        "protection": False,
        **{
            f"ipconfig{i}": "ip=dhcp"
            for i, nic in enumerate(target.vm.spec.network)
            if nic.ip != "dhcp"
        },
    }
    journal = _Journal(
        store, target, "restore", f"restore {volid} as new VM {vmid} {new_name!r} on {node}"
    )
    task = await px.backups.restore(
        node, vmid=vmid, archive=volid, storage=storage, unique=True, options=options
    )
    await _wait(px, task, journal, "Restore")
    message = f"restored {volid} as VM {vmid} {new_name!r} on {node} (stopped)"
    journal.done("Restored", message)
    return {"vm": target.vm.name, "vmid": vmid, "name": new_name, "node": node, "message": message}


async def _restore_over(
    store: Store,
    px: ProxmoxClient,
    target: Target,
    volid: str,
    node: str,
    storage: str | None,
    yes: bool,
) -> dict[str, Any]:
    name = target.vm.name
    if not target.vm.spec.suspend:
        raise CommandError(
            f"VM {name} is reconciled by the daemon, which would start it mid-restore: set "
            f"spec.suspend: true on VM/{name} and push it first, or restore with --as NEW-NAME",
            2,
        )
    if not yes:
        raise CommandError(f"restoring over VM {name} replaces its disks: confirm with --yes", 2)
    if node != target.node:
        raise CommandError(f"VM {name} lives on {target.node}: restore it there (--node)", 2)
    journal = _Journal(store, target, "restore", f"restore {volid} over VM {target.vmid} {name!r}")
    stopped = await px.stop_vm(node, target.vmid)
    if stopped is not None:
        await _wait(px, stopped, journal, "Stop")
    task = await px.backups.restore(
        node, vmid=target.vmid, archive=volid, storage=storage, unique=False, force=True
    )
    await _wait(px, task, journal, "Restore")
    message = f"restored {volid} over VM {target.vmid} {name!r} (stopped; unsuspend it to resume)"
    journal.done("Restored", message)
    return {"vm": name, "vmid": target.vmid, "node": node, "message": message}


__all__ = ["backup_app", "restore"]
