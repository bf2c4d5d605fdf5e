"""`homeport approve` approves only what is held, named exactly, and says what is held
otherwise (no daemon running: the approval waits in the store)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from homeport.cli.main import app
from homeport.controller.source_keys import ADOPTED, APPROVALS, HELD
from homeport.controller.store import Store
from tests.daemon_config import write_daemon_config

HELD_SHA = "2629140f8185e0d7c3a4b1f9e6d2c8a7b5e4f3d2"
RUNNING = "5f4f0b131594aa00bb11cc22dd33ee44ff556677"
NOW = "2026-01-01T00:00:00+00:00"


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["approve", *args, "--config", str(config)])


def store_of(config: Path) -> Store:
    return Store.open(config.parent / "state.db")


def test_nothing_held_refuses_any_approval(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path)
    store_of(config).close()
    result = run(config, "deadbeef1234")
    assert result.exit_code == 1
    assert result.output.strip() == "error: nothing is held, so deadbeef1234 cannot be approved"
    store = store_of(config)
    try:
        assert store.source_state.get(APPROVALS) is None  # nothing stored
    finally:
        store.close()


def test_approves_the_held_revision_by_its_full_sha_only(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path)
    store = store_of(config)
    store.source_state.set(HELD, {"sha": HELD_SHA, "reason": "ForcePush", "message": "…"})
    store.memory.set("VM.removal", "db", {"since": NOW, "held": True, "vmid": 1004}, now=NOW)
    store.close()
    prefix = run(config, HELD_SHA[:12])
    assert prefix.exit_code == 1
    assert f"held: {HELD_SHA} (ForcePush); VM/db (DestructionHeld)" in prefix.output
    assert "Traceback" not in prefix.output
    deletion = run(config, "--delete-branch")
    assert deletion.exit_code == 1 and "--delete-branch is not held" in deletion.output
    approved = run(config, HELD_SHA)
    assert approved.exit_code == 0, approved.output
    assert f"approved {HELD_SHA} (ForcePush)" in approved.output
    vm = run(config, "VM/db")
    assert vm.exit_code == 0 and "approved VM/db (DestructionHeld)" in vm.output
    store = store_of(config)
    try:
        assert store.source_state.get(APPROVALS) == [HELD_SHA]
        assert store.memory.get("VM.destroy-approval", "db")["since"] == NOW
    finally:
        store.close()


def test_a_branch_deletion_is_approved_for_the_running_revision(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path)
    store = store_of(config)
    store.source_state.set(ADOPTED, {"sha": RUNNING, "keys": [["VM", "a"]]})
    store.source_state.set(HELD, {"sha": "", "reason": "BranchDeleted", "message": "…"})
    store.close()
    assert run(config, "--delete-branch").exit_code == 0
    store = store_of(config)
    try:
        assert store.source_state.get(APPROVALS) == [f"delete-branch:{RUNNING}"]
    finally:
        store.close()


def test_a_name_and_delete_branch_together_are_a_usage_error(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path)
    assert run(config, HELD_SHA, "--delete-branch").exit_code == 2
    assert run(config).exit_code == 2
