"""``homeport backup now VM`` and ``homeport restore VM --from VOLID [--as NEW-NAME]``.

On-demand backups and restores, next to the scheduled jobs the BackupPolicy reconciler
keeps — and run by that reconciler: the command writes a typed request (``BackupRequest``,
``RestoreRequest`` in ``reconcilers/slots.py``) into the durable memory of the policy
covering the VM and pokes the daemon, whose engine observes it, plans the steps (a pure
plan: ``backuppolicy/ondemand.py``, ``restorenow.py``) and acts journaled under the
leader's fencing token. When no daemon answers, the command runs that same engine itself
on just that policy (``controller/oneshot.py``). It waits for the request's answer and
prints it; errors are one line naming the fix, never a traceback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer

from homeport.cli.common import CONFIG_OPTION, operator_name, settings_or_exit
from homeport.cli.output import OUTPUT_OPTION, OutputFormat, console, print_data
from homeport.cli.progress import reporting, say
from homeport.clients.errors import ClientError
from homeport.controller.clock import SystemClock
from homeport.controller.config import Settings
from homeport.controller.control import send_request
from homeport.controller.oneshot import Settled, reconcile_until
from homeport.controller.store import Store, StoredObject
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients
from homeport.kinds import VM, BackupPolicy
from homeport.kinds.common import check_dns_label
from homeport.reconcilers.backuppolicy import is_open
from homeport.reconcilers.slots import (
    BACKUP_REQUEST,
    RESTORE_REQUEST,
    SUSPEND,
    BackupRequest,
    ObjectSlot,
    RestoreRequest,
)
from homeport.services.ha.planes import operator_writes

WAIT_TIMEOUT = 6 * 3600.0
"""How long the command waits for its request's answer (a large VM's vzdump)."""

Request = TypeVar("Request", BackupRequest, RestoreRequest)

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
    """A VM as the store knows it, and the policy that covers it."""

    obj: StoredObject
    vm: VM
    policy: str


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

    Storage, mode and compression come from the policy covering the VM (a VM no policy covers is refused: add one whose selector names it); the archive's notes carry the policy's marker. An on-demand run applies no retention, so it prunes no archive.

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
    result = _guarded(
        "restore", lambda: _request_restore(settings, vm, from_, as_, node, storage, yes)
    )
    _show(result, output)


# -- running a command -------------------------------------------------------------------


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


def _now() -> datetime:
    return datetime.now(UTC)


def _target(store: Store, name: str) -> Target:
    obj = store.objects.get(("VM", name))
    if obj is None or obj.deleting:
        raise CommandError(f"VM {name!r} is not in the adopted revision (see homeport get vm)", 2)
    resource = obj.resource()
    assert isinstance(resource, VM)
    policies = [o.resource() for o in store.objects.of_kind("BackupPolicy") if not o.deleting]
    policy = next((p for p in policies if isinstance(p, BackupPolicy) and p.covers(resource)), None)
    if policy is None:
        raise CommandError(
            f"no BackupPolicy selects VM {name!r}: on-demand backups and restores run "
            "through the policy covering the VM; add one whose selector names it",
            2,
        )
    return Target(obj, resource, policy.name)


def _submit(
    settings: Settings,
    slot: ObjectSlot[Request],
    name: str,
    build: Callable[[Target, str], Request],
    ready: Callable[[Request], bool],
) -> tuple[str, Request]:
    """Write the request into the slot of the policy covering VM ``name`` and see it
    through until ``ready`` (or answered): by the daemon when it answers its socket, else
    by the same engine run here on just that policy. The policy's name and the request."""
    if not settings.store.path.exists():
        raise CommandError(f"{settings.store.path}: no store yet (has the daemon run?)", 2)
    store = Store.open(settings.store.path)
    try:
        target = _target(store, name)
        pending = slot.get(store, target.policy)
        if pending is not None and is_open(pending):
            raise CommandError(
                f"BackupPolicy/{target.policy} is still running the {pending['op']} of "
                f"{pending['vm']} requested at {pending['at']}: wait for it",
                2,
            )
        at = _now().isoformat()
        request = build(target, at)
        known = store.journal.for_object("BackupPolicy", target.policy, limit=1)
        shown = {"journal": known[-1].id if known else 0, "upid": ""}
        with operator_writes(store, settings):
            slot.set(store, target.policy, request, now=at)
    finally:
        store.close()
    key = ("BackupPolicy", target.policy)
    say(f"requested from BackupPolicy/{target.policy}: {request['op']} of {name}")

    def settled(store: Store) -> bool:
        answer = slot.get(store, key[1])
        if answer is None or answer["at"] != at:
            raise CommandError("the request was replaced or withdrawn; see homeport events")
        _progress(store, key, answer, shown)
        if not is_open(answer) or ready(answer):
            return True
        held = _held(store, key)
        if held and answer["state"] == "requested" and not answer.get("upid"):
            slot.forget(store, key[1])  # nothing started: withdrawn, not left to run later
            raise CommandError(f"{key[0]}/{key[1]} {held}: nothing was done")
        return False

    woke = send_request(settings.store.path, {"op": "reconcile", "kind": key[0], "name": key[1]})
    if not woke and settings.coordination.backend != "etcd":
        say("no daemon answers: running the request here")
        asyncio.run(_in_process(settings, key, settled))
    _wait_for(settings, settled)
    answer = _read(settings, lambda store: slot.get(store, key[1]))
    if answer is None:
        raise CommandError("the request was withdrawn; see homeport events")
    return key[1], answer


def _held(store: Store, key: tuple[str, str]) -> str | None:
    """Why the policy's reconciler does not run requests now (None: it does)."""
    obj = store.objects.get(key)
    if obj is None or obj.deleting:
        return "is being removed"
    if obj.resource().suspended or SUSPEND.get(store, *key):
        return f"is suspended (homeport resume backuppolicy {key[1]})"
    return None


def _progress(store: Store, key: tuple[str, str], answer: Request, shown: dict[str, Any]) -> None:
    """Say what the engine journals for the policy since the request, and its task."""
    for entry in store.journal.for_object(*key, limit=20):
        if entry.id > shown["journal"]:
            shown["journal"] = entry.id
            say(entry.description)
    upid = answer.get("upid")
    if upid and upid != shown["upid"]:
        shown["upid"] = upid
        say(f"waiting for Proxmox task {upid}")


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
    deadline = time.monotonic() + WAIT_TIMEOUT
    while not _read(settings, settled):
        if time.monotonic() > deadline:
            raise CommandError("not done in time; see homeport events")
        time.sleep(0.2)


T = TypeVar("T")


def _read(settings: Settings, look: Callable[[Store], T]) -> T:
    store = Store.open(settings.store.path)  # writable: a held request is withdrawn
    try:
        return look(store)
    finally:
        store.close()


# -- backup now --------------------------------------------------------------------------


def _request_backup(
    settings: Settings, name: str, storage: str | None, wait: bool
) -> dict[str, Any]:
    def build(target: Target, at: str) -> BackupRequest:
        return {
            "op": "backup-now",
            "vm": name,
            "at": at,
            "by": operator_name(),
            "state": "requested",
            "storage": storage,
        }

    _, answer = _submit(
        settings, BACKUP_REQUEST, name, build, lambda r: not wait and bool(r.get("upid"))
    )
    message = answer.get("message", "")
    if answer["state"] == "failed":
        raise CommandError(message)
    if answer["state"] != "done":
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


def _request_restore(
    settings: Settings,
    name: str,
    volid: str,
    new_name: str | None,
    node: str | None,
    storage: str | None,
    yes: bool,
) -> dict[str, Any]:

    def build(target: Target, at: str) -> RestoreRequest:
        """The request, once the VM is known (a wrong VM is named first)."""
        if ":" not in volid or "/" not in volid:
            raise CommandError(f"{volid!r} is not a volume id like local:backup/vzdump-qemu-…", 2)
        if new_name is not None:
            try:
                check_dns_label(new_name)
            except ValueError as exc:
                raise CommandError(f"--as: {exc}", 2) from None
        return {
            "op": "restore",
            "vm": name,
            "volid": volid,
            "at": at,
            "by": operator_name(),
            "state": "requested",
            "name": new_name,
            "node": node,
            "storage": storage,
            "yes": yes,
        }

    _, answer = _submit(settings, RESTORE_REQUEST, name, build, lambda r: False)
    message = answer.get("message", "")
    if answer["state"] != "done":
        raise CommandError(message, answer.get("code", 1))
    result: dict[str, Any] = {"vm": name, "vmid": answer.get("vmid"), "message": message}
    if new_name is not None:
        result["name"] = new_name
    return {**result, "node": answer.get("node"), "message": message}


__all__ = ["backup_app", "restore"]
