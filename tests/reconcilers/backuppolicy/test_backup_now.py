"""``homeport backup now`` as a request the BackupPolicy reconciler runs: the pure plan of
its steps, the command running the engine itself when no daemon answers, a follower that
does not act, and a crash between the vzdump and its record that does not run a second
vzdump."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.controller.clock import SystemClock
from homeport.controller.context import ControllerContext
from homeport.controller.engine import Engine
from homeport.controller.oneshot import reconcile_until
from homeport.controller.store import Store
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients
from homeport.kinds import BackupPolicy
from homeport.reconcilers.backuppolicy.actions import (
    AnswerBackupNow,
    AnswerRestore,
    ChooseRestoreVmid,
    FollowBackupTask,
    FollowRestoreTask,
    RestoreArchive,
    StartBackupNow,
    StopForRestore,
)
from homeport.reconcilers.backuppolicy.ondemand import BackupTask, OnDemand, plan_on_demand
from homeport.reconcilers.backuppolicy.restorenow import RestoreSeen, plan_restore
from homeport.reconcilers.slots import BACKUP_REQUEST, BackupRequest, RestoreRequest
from homeport.source.validate import validate_sources
from tests.controller.fakes import AlwaysLeader
from tests.reconcilers.backuppolicy.simestate import BackupEstate, backup_estate, policy, vm

NIGHTLY = policy(
    "nightly",
    """  selector: {names: [web]}
  storage: local
  compress: lzo
  restoreTest: null
""",
)
KEY = ("BackupPolicy", "nightly")
UPID = "UPID:pve1:0000A1B2:00C3D4E5:6789ABCD:vzdump:1000:root@pam:"


def _policy() -> BackupPolicy:
    (found,) = [
        o.resource
        for o in validate_sources([("p.yaml", NIGHTLY.encode())]).objects
        if isinstance(o.resource, BackupPolicy)
    ]
    return found


def _request(**changes: Any) -> BackupRequest:
    request: BackupRequest = {
        "op": "backup-now",
        "vm": "web",
        "at": "2026-01-10T02:00:00+00:00",
        "by": "alice",
        "state": "requested",
        "storage": None,
    }
    return {**request, **changes}  # type: ignore[typeddict-item]


# -- the pure plan ---------------------------------------------------------------------


def test_the_plan_starts_one_run_with_the_policys_options() -> None:
    (start,) = plan_on_demand(_policy(), OnDemand(_request(), 1000, "pve1"))
    assert start == StartBackupNow(
        request_at="2026-01-10T02:00:00+00:00",
        vm="web",
        vmid=1000,
        node="pve1",
        storage="local",
        mode="snapshot",
        compress="lzo",
        notes_template="{{guestname}} (managed by homeport: BackupPolicy/nightly)",
    )
    asked = plan_on_demand(_policy(), OnDemand(_request(storage="nas"), 1000, "pve1"))
    assert isinstance(asked[0], StartBackupNow) and asked[0].storage == "nas"


def test_the_plan_follows_a_run_the_request_does_not_record_instead_of_starting_one() -> None:
    running = BackupTask(UPID, running=True)
    assert plan_on_demand(_policy(), OnDemand(_request(), 1000, "pve1", running)) == [
        FollowBackupTask("web", UPID)
    ]
    recorded = _request(state="running", upid=UPID)
    assert plan_on_demand(_policy(), OnDemand(recorded, 1000, "pve1", running)) == []
    # Recorded but unreadable this pass: wait, never a second run.
    assert plan_on_demand(_policy(), OnDemand(recorded, 1000, "pve1")) == []


def test_the_plan_answers_with_the_archive_or_the_failure() -> None:
    recorded = _request(state="running", upid=UPID)
    ok = BackupTask(UPID, running=False, ok=True, exitstatus="OK")
    volid = "local:backup/vzdump-qemu-1000-2026_01_10-02_00_03.vma.lzo"
    assert plan_on_demand(_policy(), OnDemand(recorded, 1000, "pve1", ok, volid)) == [
        AnswerBackupNow("web", True, f"backed up web (vmid 1000): {volid}", 1000, volid)
    ]
    failed = BackupTask(UPID, False, False, "job errors", ("a", "b", "ERROR: disk full"))
    (answer,) = plan_on_demand(_policy(), OnDemand(recorded, 1000, "pve1", failed))
    assert answer == AnswerBackupNow(
        "web", False, "backup failed: job errors; log: a | b | ERROR: disk full", 1000
    )
    (unready,) = plan_on_demand(_policy(), OnDemand(_request()))
    assert isinstance(unready, AnswerBackupNow) and not unready.ok
    assert "has no vmid/node yet" in unready.message


# -- against the simulated estate -----------------------------------------------------


def _write(estate: BackupEstate, request: BackupRequest) -> None:
    store = Store.open(estate.settings.store.path)
    try:
        BACKUP_REQUEST.set(store, "nightly", request, now=request["at"])
    finally:
        store.close()


def _sim_now(estate: BackupEstate) -> str:
    return datetime.fromtimestamp(estate.pve.clock.now(), UTC).isoformat()


@pytest.mark.integration
async def test_without_a_daemon_the_command_runs_the_engine_under_the_lease(
    tmp_path: Path,
) -> None:
    async with backup_estate(tmp_path, vm("web") + NIGHTLY) as estate:
        await estate.ready({"VM", "BackupPolicy"})
        vmid = estate.vmid("web")
        await estate.stop_daemon()

        argv = ["backup", "now", "web", "--config", str(estate.estate.config_path)]
        done = await asyncio.to_thread(CliRunner().invoke, app, argv)

        assert done.exit_code == 0, done.output
        (volid,) = estate.archives(vmid)
        assert f"backed up web (vmid {vmid}): {volid}" in done.stdout
        journal = estate.read(lambda s: s.journal.for_object(*KEY, 100))
        (entry,) = [e for e in journal if e.verb == "backup-now"]
        lease = estate.read(lambda s: s.leases.current("controller"))
        assert entry.state == "done" and entry.holder.startswith("cli:")
        assert entry.fencing_token == lease.token >= 1  # the lease it took, then released
        assert lease.holder == entry.holder and lease.expires == 0


@pytest.mark.integration
async def test_a_follower_does_not_act_on_a_request(tmp_path: Path) -> None:
    async with backup_estate(tmp_path, vm("web") + NIGHTLY) as estate:
        await estate.ready({"VM", "BackupPolicy"})
        await estate.stop_daemon()
        before = estate.pve.clock.now()
        _write(estate, _request(at=_sim_now(estate)))
        follower = AlwaysLeader()
        follower.leading = False
        clients = await build_clients(estate.settings)
        store = Store.open(estate.settings.store.path)
        try:
            engine = Engine(
                store=store,
                reconcilers=build_reconcilers(estate.settings),
                context=ControllerContext(store=store, clock=SystemClock(), clients=clients),
                clock=SystemClock(),
                settings=estate.settings.controller,
                leadership=follower,
            )
            outcome = await engine.reconcile(KEY)
        finally:
            store.close()
            await close_clients(clients)

        assert outcome.result == "error" and "not the leader" in outcome.message
        assert estate.runs_since(before) == []
        assert estate.read(lambda s: BACKUP_REQUEST.get(s, "nightly"))["state"] == "requested"
        journal = estate.read(lambda s: s.journal.for_object(*KEY, 100))
        assert [e for e in journal if e.verb == "backup-now"] == []


@pytest.mark.integration
async def test_a_crash_after_the_vzdump_resumes_without_a_second_one(tmp_path: Path) -> None:
    async with backup_estate(tmp_path, vm("web") + NIGHTLY) as estate:
        await estate.ready({"VM", "BackupPolicy"})
        vmid = estate.vmid("web")
        await estate.stop_daemon()
        before = estate.pve.clock.now()
        _write(estate, _request(at=_sim_now(estate)))
        clients = await build_clients(estate.settings)
        store = Store.open(estate.settings.store.path)
        try:
            # The leader started the run, then died before recording it in the request.
            task = await clients.proxmox.backups.vzdump(
                "pve1", vmids=[vmid], storage="local", compress="lzo"
            )
            assert task is not None

            def settled(s: Store) -> bool:
                return (BACKUP_REQUEST.get(s, "nightly") or {}).get("state") == "done"

            outcome = await reconcile_until(
                settings=estate.settings,
                store=store,
                reconcilers=build_reconcilers(estate.settings),
                clients=clients,
                clock=SystemClock(),
                key=KEY,
                settled=settled,
                holder="restarted",
                sleep=lambda seconds: asyncio.sleep(min(seconds, 0.2)),
            )
        finally:
            store.close()
            await close_clients(clients)

        assert outcome is not None
        assert [t.text for t in estate.runs_since(before)] == [task.upid]  # one run
        answer = estate.read(lambda s: BACKUP_REQUEST.get(s, "nightly"))
        assert answer["state"] == "done" and answer["upid"] == task.upid
        assert answer["volid"] == estate.archives(vmid)[-1]
        journal = estate.read(lambda s: s.journal.for_object(*KEY, 100))
        assert [e.verb for e in journal if e.verb == "backup-now"] == []  # nothing started


# -- restore: the pure plan ------------------------------------------------------------

VOLID = "local:backup/vzdump-qemu-1000-2026_01_10-02_00_03.vma.lzo"


def _restore(**changes: Any) -> RestoreRequest:
    request: RestoreRequest = {
        "op": "restore",
        "vm": "web",
        "volid": VOLID,
        "at": "2026-01-10T03:00:00+00:00",
        "by": "alice",
        "state": "requested",
        "name": "web-copy",
        "node": None,
        "storage": None,
        "yes": False,
    }
    return {**request, **changes}  # type: ignore[typeddict-item]


def _seen(request: RestoreRequest, **facts: Any) -> RestoreSeen:
    return RestoreSeen(request, 1000, "pve1", archive_found=True, **facts)


def test_a_restore_as_a_new_vm_records_its_vmid_before_restoring_into_it() -> None:
    assert plan_restore(_seen(_restore(), free_vmid=100)) == [ChooseRestoreVmid("web", 100)]
    chosen = _restore(vmid=100)
    (restore,) = plan_restore(_seen(chosen, static_ipconfigs=("ipconfig0",), name_taken=True))
    assert restore == RestoreArchive(
        request_at="2026-01-10T03:00:00+00:00",
        vm="web",
        volid=VOLID,
        vmid=100,
        node="pve1",
        storage=None,
        new_name="web-copy",
        dhcp=("ipconfig0",),
    )
    # A crash after the restore: its VM exists and no qmrestore runs; no second restore.
    (done,) = plan_restore(_seen(chosen, created=True, name_taken=True))
    assert done == AnswerRestore(
        "web", True, f"restored {VOLID} as VM 100 'web-copy' on pve1 (stopped)", 0, 100
    )
    running = BackupTask("UPID:pve1:1:2:3:qmrestore:100:root@pam:", running=True)
    assert plan_restore(_seen(chosen, task=running)) == [FollowRestoreTask("web", running.upid)]


def test_a_restore_over_the_vm_stops_it_first_and_refuses_a_wrong_request() -> None:
    over = _restore(name=None, yes=True)
    assert plan_restore(_seen(over, suspended=True, running=True)) == [
        StopForRestore("web", 1000, "pve1")
    ]
    (restore,) = plan_restore(_seen(over, suspended=True))
    assert isinstance(restore, RestoreArchive) and restore.new_name is None
    refusals = {
        "spec.suspend: true": _seen(over),
        "confirm with --yes": _seen(_restore(name=None), suspended=True),
        "not found on pve1": RestoreSeen(over, 1000, "pve1", suspended=True),
        "already exists": _seen(_restore(), name_taken=True, free_vmid=100),
        "an archive of vmid 1001": _seen(
            _restore(volid=VOLID.replace("1000", "1001")), free_vmid=100
        ),
    }
    for expected, seen in refusals.items():
        (answer,) = plan_restore(seen)
        assert isinstance(answer, AnswerRestore), expected
        assert not answer.ok and answer.code == 2 and expected in answer.message, answer
