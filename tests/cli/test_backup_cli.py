"""`homeport backup now` and `homeport restore` against a live simulated estate: what they
do in Proxmox, what they record in the store, and their one-line errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from homeport.cli.main import app
from homeport.reconcilers.slots import BACKUP_REQUEST
from testkit.harness import until
from tests.reconcilers.backuppolicy.simestate import BackupEstate, backup_estate, policy, vm

pytestmark = pytest.mark.integration

NIGHTLY = policy(
    "nightly",
    """  selector: {names: [web]}
  storage: local
  compress: lzo
  restoreTest: null
""",
)


async def cli(estate: BackupEstate, *args: str) -> Result:
    """Run the CLI in a thread: the simulator and the daemon keep running in this loop."""
    argv = [*args, "--config", str(estate.estate.config_path)]
    return await asyncio.to_thread(CliRunner().invoke, app, argv)


async def test_backup_now_and_restore_as_a_new_vm(tmp_path: Path) -> None:
    async with backup_estate(tmp_path, vm("web") + NIGHTLY) as estate:
        await estate.ready({"VM", "BackupPolicy"})
        vmid = estate.vmid("web")

        done = await cli(estate, "backup", "now", "web", "-o", "json")
        assert done.exit_code == 0, done.output
        result = json.loads(done.stdout)
        (volid,) = estate.archives(vmid)
        assert result["volid"] == volid and volid.endswith(".vma.lzo")  # the policy's options
        archive = next(v for v in estate.world.volumes.by_key.values() if v.volid == volid)
        assert archive.notes == "web (managed by homeport: BackupPolicy/nightly)"
        # The leading daemon ran it: journaled on the policy under its fencing token.
        journal = estate.read(lambda s: s.journal.for_object("BackupPolicy", "nightly", 100))
        assert [(e.verb, e.state, e.fencing_token) for e in journal if e.verb == "backup-now"] == [
            ("backup-now", "done", 7)  # AlwaysLeader's token
        ]
        assert estate.events("nightly", "BackupNow") == [
            f"on-demand backup of VM web: backed up web (vmid {vmid}): {volid}"
        ]
        assert estate.read(lambda s: BACKUP_REQUEST.get(s, "nightly"))["state"] == "done"

        restored = await cli(estate, "restore", "web", "--from", volid, "--as", "web-copy")
        assert restored.exit_code == 0, restored.output
        (copy,) = [v for v in estate.world.vms.values() if v.conf.get("name") == "web-copy"]
        assert not copy.running and copy.node == "pve1"
        assert copy.vmid < 1000  # outside the VMs' (1000-1999) and scratch (9900-9999) ranges
        assert copy.conf["tags"] == "homeport-restored" and copy.conf["onboot"] == 0
        assert "restored by homeport from" in copy.conf["description"]
        assert "managed by homeport" not in copy.conf["description"]  # not homeport's to prune
        assert copy.conf["net0"] != estate.world.vms[vmid].conf["net0"]  # new MAC
        assert f"restored {volid} as VM {copy.vmid} 'web-copy' on pve1" in restored.stdout

        # Mistakes end in one line naming the fix, never a traceback.
        unknown = await cli(estate, "backup", "now", "nosuch")
        assert unknown.exit_code == 2 and "Traceback" not in unknown.output
        assert "VM 'nosuch' is not in the adopted revision" in unknown.output
        missing = await cli(
            estate,
            "restore",
            "web",
            "--from",
            f"local:backup/vzdump-qemu-{vmid}-x.vma",
            "--as",
            "x",
        )
        assert missing.exit_code == 2 and "not found on pve1" in missing.output
        taken = await cli(estate, "restore", "web", "--from", volid, "--as", "web-copy")
        assert taken.exit_code == 2 and "already exists" in taken.output
        in_place = await cli(estate, "restore", "web", "--from", volid)
        assert in_place.exit_code == 2 and "spec.suspend: true" in in_place.output
        assert "Traceback" not in in_place.output + missing.output + taken.output

        # A suspended policy runs no request: the command says so and withdraws it.
        paused = await cli(estate, "suspend", "backuppolicy", "nightly")
        assert paused.exit_code == 0, paused.output
        held = await cli(estate, "backup", "now", "web")
        assert held.exit_code == 1 and "BackupPolicy/nightly is suspended" in held.output
        assert estate.read(lambda s: BACKUP_REQUEST.get(s, "nightly")) is None
        assert estate.archives(vmid) == [volid]  # nothing was done


async def test_a_name_taken_since_the_windows_cluster_read_is_refused(tmp_path: Path) -> None:
    """`restore --as NAME` checks the name (and picks the vmid) on a fresh cluster read:
    a list of the window, read before the last restore made its VM, would let a second
    VM of that name through (or pick the vmid just taken). The window here lasts the
    whole test, so a stale list would be served."""
    async with backup_estate(tmp_path, vm("web") + NIGHTLY) as estate:
        await estate.ready({"VM", "BackupPolicy"})
        assert estate.daemon is not None and estate.daemon.engine is not None
        estate.daemon.engine.context.ttl = 1e9
        vmid = estate.vmid("web")
        assert (await cli(estate, "backup", "now", "web")).exit_code == 0
        (volid,) = estate.archives(vmid)
        first = await cli(estate, "restore", "web", "--from", volid, "--as", "web-copy")
        assert first.exit_code == 0, first.output
        again = await cli(estate, "restore", "web", "--from", volid, "--as", "web-copy")
        assert again.exit_code == 2 and "already exists" in again.output, again.output
        copies = [v for v in estate.world.vms.values() if v.conf.get("name") == "web-copy"]
        assert len(copies) == 1


async def test_a_run_proxmox_refuses_is_answered_not_left_waiting(tmp_path: Path) -> None:
    """A refusal (an unknown storage) ends the request with PVE's words: the command
    exits 1 at once instead of waiting for an answer that never comes."""
    async with backup_estate(tmp_path, vm("web") + NIGHTLY) as estate:
        await estate.ready({"VM", "BackupPolicy"})
        refused = await cli(estate, "backup", "now", "web", "--storage", "nosuch")
        assert refused.exit_code == 1 and "Traceback" not in refused.output, refused.output
        request = estate.read(lambda s: BACKUP_REQUEST.get(s, "nightly"))
        assert request is not None and request["state"] == "failed"
        assert "storage 'nosuch' does not exist" in request["message"]
        assert estate.events("nightly", "BackupFailed") == [
            f"on-demand backup of VM web: {request['message']}"
        ]
        assert estate.archives(estate.vmid("web")) == []


async def test_restore_over_a_suspended_vm_runs_journaled_by_the_leader(tmp_path: Path) -> None:
    async with backup_estate(tmp_path, vm("web") + NIGHTLY) as estate:
        await estate.ready({"VM", "BackupPolicy"})
        vmid = estate.vmid("web")
        done = await cli(estate, "backup", "now", "web", "-o", "json")
        assert done.exit_code == 0, done.output
        volid = json.loads(done.stdout)["volid"]
        unconfirmed = await cli(estate, "restore", "web", "--from", volid)
        assert unconfirmed.exit_code == 2 and "spec.suspend: true" in unconfirmed.output

        suspended = vm("web").replace("disk: {sizeGiB: 8}}", "disk: {sizeGiB: 8}, suspend: true}")
        estate.push({"estate.yaml": suspended + NIGHTLY}, "suspend web")
        await until(
            lambda: (o := estate.object("VM", "web")) is not None and o.resource().suspended,
            what="VM/web suspended",
        )
        no_yes = await cli(estate, "restore", "web", "--from", volid)
        assert no_yes.exit_code == 2 and "confirm with --yes" in no_yes.output
        restored = await cli(estate, "restore", "web", "--from", volid, "--yes")

        assert restored.exit_code == 0, restored.output
        assert (
            f"restored {volid} over VM {vmid} 'web' (stopped; unsuspend it to resume)"
            in restored.stdout
        )
        assert not estate.world.vms[vmid].running
        journal = estate.read(lambda s: s.journal.for_object("BackupPolicy", "nightly", 100))
        steps = [(e.verb, e.state, e.fencing_token) for e in journal if "restore" in e.verb]
        assert steps == [("stop-for-restore", "done", 7), ("restore", "done", 7)]
