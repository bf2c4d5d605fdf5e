"""VMs that leave git, on the simulator, by their deletionPolicy: ``Hold`` (the default) is
stopped, backed up one last time and held until ``homeport approve VM/<name>``; ``Destroy``
is backed up and destroyed; ``Retain`` is kept stopped and detached from homeport."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from homeport.cli.main import app
from homeport.controller.store import Store
from testkit.harness import EstateHarness, until

pytestmark = pytest.mark.integration

MACHINE = """apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m1}
spec: {node: pve1, capacity: {cores: 16, memoryMiB: 65536}}
---
apiVersion: homeport.dev/v1alpha1
kind: BackupPolicy
metadata: {name: nightly}
spec:
  selector: {matchLabels: {backup: nightly}}
  storage: local
  restoreTest: null
"""


def vm(name: str, policy: str | None = None) -> str:
    deletion = f", deletionPolicy: {policy}" if policy else ""
    return f"""apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {{name: {name}, labels: {{backup: nightly}}}}
spec: {{machine: m1, disk: {{sizeGiB: 8}}, tailnet: {{join: false}}{deletion}}}
"""


async def cli(h: EstateHarness, *args: str) -> Result:
    argv = [*args, "--config", str(h.estate.config_path)]
    return await asyncio.to_thread(CliRunner().invoke, app, argv)


def reason(h: EstateHarness, name: str) -> str | None:
    found = h.object("VM", name)
    if found is None:
        return None
    return next((c.reason for c in found.status.conditions if c.type == "Ready"), None)


def reasons(h: EstateHarness, name: str) -> list[str]:
    store = Store.open(h.settings.store.path, readonly=True)
    try:
        return [e.reason for e in store.events.recent(1000) if e.name == name]
    finally:
        store.close()


async def test_removed_vms_follow_their_deletion_policy(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "estate.yaml").write_text(MACHINE)
    for name, policy in (("anchor", None), ("db", None), ("scratch", "Destroy")):
        (folder / f"{name}.yaml").write_text(vm(name, policy))
    (folder / "keeper.yaml").write_text(vm("keeper", "Retain"))
    async with EstateHarness.running(tmp_path, manifests=folder) as h:
        await h.converged(timeout=90)
        px = h.clients.proxmox
        vmids = {n: h.object("VM", n).status.details["vmid"] for n in ("db", "scratch", "keeper")}  # type: ignore[union-attr]
        await h.push(
            {f"manifests/{n}.yaml": None for n in ("db", "scratch", "keeper")}, "three VMs go"
        )

        # Hold: stopped, a final (protected) backup, then held — nothing destroyed.
        await until(lambda: reason(h, "db") == "DestructionHeld", timeout=90, what="db held")
        status = await px.vm_status("pve1", vmids["db"])
        assert status.status == "stopped"
        archives = await px.backups.backups("pve1", "local", vmid=vmids["db"])
        final = [a for a in archives if "final backup of VM/db" in (a.notes or "")]
        assert len(final) == 1 and final[0].protected
        held = h.object("VM", "db")
        assert held is not None
        message = next(c.message for c in held.status.conditions if c.type == "Ready")
        assert "scsi0=local-lvm:vm-" in message and final[0].volid in message
        assert "homeport approve VM/db" in message
        assert "DestructionHeld" in reasons(h, "db")
        shown = await cli(h, "status")
        assert "VM/db destruction" in shown.output and "homeport approve VM/db" in shown.output
        described = await cli(h, "describe", "vm", "db")
        assert "DestructionHeld" in described.output, described.output
        assert "homeport approve VM/db" in described.output
        listed = await cli(h, "events")
        assert "VM/db  DestructionHeld" in listed.output, listed.output

        # Destroy: the final backup, then gone without approval.
        await until(lambda: h.object("VM", "scratch") is None, timeout=90, what="scratch gone")
        assert (await px.cluster_resources()).vm(vmids["scratch"]) is None
        scratch = await px.backups.backups("pve1", "local", vmid=vmids["scratch"])
        assert [a.protected for a in scratch if "final backup" in (a.notes or "")] == [True]

        # Retain: kept stopped, detached (no ownership tag, no marker), forgotten.
        await until(lambda: h.object("VM", "keeper") is None, timeout=90, what="keeper retained")
        kept = (await px.cluster_resources()).vm(vmids["keeper"])
        assert kept is not None and kept.status == "stopped"
        config = await px.vm_config("pve1", vmids["keeper"])
        assert "homeport" not in config.tags and "homeport-retained" in config.tags
        assert "managed by homeport" not in (config.text("description") or "")
        assert "Retained" in reasons(h, "keeper")

        # Approvals name exactly what is held; anything else is refused.
        refused = await cli(h, "approve", "deadbeef1234")
        assert refused.exit_code == 1
        assert "deadbeef1234 is not held; held: VM/db (DestructionHeld)" in refused.output
        assert (await cli(h, "approve", "VM/anchor")).exit_code == 1
        store = Store.open(h.settings.store.path, readonly=True)
        try:  # the refusals recorded nothing
            assert store.memory.get("VM.destroy-approval", "db") == {}
            assert store.source_state.get("approvals", []) == []
        finally:
            store.close()
        approved = await cli(h, "approve", "VM/db")
        assert approved.exit_code == 0, approved.output
        await until(lambda: h.object("VM", "db") is None, timeout=90, what="db destroyed")
        assert (await px.cluster_resources()).vm(vmids["db"]) is None
        left = await px.backups.backups("pve1", "local", vmid=vmids["db"])
        assert [a.volid for a in left if a.volid == final[0].volid] == [final[0].volid]
        store = Store.open(h.settings.store.path, readonly=True)
        try:
            assert not [k for k in store.memory.names() if k[1] == "db"]  # approval consumed
        finally:
            store.close()
        again = await cli(h, "approve", "VM/db")
        assert again.exit_code == 1 and "nothing is held" in again.output
        document = json.loads((await cli(h, "status", "-o", "json")).stdout)
        assert document["holds"] == []
        assert h.object("VM", "anchor") is not None and h.object("VM", "anchor").ready  # type: ignore[union-attr]
