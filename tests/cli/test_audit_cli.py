"""``homeport audit`` fails closed: with Proxmox down nothing could be checked, so it exits
2 with the reason (before: "no finding(s), 1 skipped" and 0); ``--allow-skipped`` judges
only what could be checked."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.controller.store import Store
from tests.daemon_config import write_daemon_config


def only_signatures_off(stdout: str) -> bool:
    return "signatures-off" in stdout and "1 finding(s)" in stdout


def test_proxmox_down_fails_the_audit_unless_allowed(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path)  # Proxmox on port 9: nobody answers
    Store.open(tmp_path / "state.db").close()
    argv = ["audit", "--config", str(config)]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert "could not check datacenter firewall: Unreachable" in result.stderr
    assert "1 check(s) could not run" in result.stdout
    allowed = CliRunner().invoke(app, [*argv, "--allow-skipped"])
    # Judged on what could be checked: the one finding is the directory source's lack of
    # signed revisions.
    assert allowed.exit_code == 1, allowed.output
    assert only_signatures_off(allowed.stdout)
    assert "skipped (--allow-skipped) datacenter firewall" in allowed.stderr


def test_a_manifest_that_cannot_be_read_fails_the_audit(tmp_path: Path) -> None:
    """The control plane's own files are checks too: one that cannot be read is not clean
    (before: a traceback)."""
    config = write_daemon_config(tmp_path)
    Store.open(tmp_path / "state.db").close()
    (tmp_path / "manifests" / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    argv = ["audit", "--config", str(config), "--allow-skipped"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1, result.output
    assert only_signatures_off(result.stdout)
    assert "skipped (--allow-skipped) manifests: FileNotFoundError" in result.stderr
