"""Unusable credentials stop ``homeport run`` (and every command that connects) with one
line naming the file and the fix, exit 2; homeport's public key comes from its private
key, so a missing ``.pub`` file never leaves new VMs without it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import asyncssh
import pytest

from homeport.controller.config import load_settings
from homeport.controller.wiring import build_reconcilers
from homeport.reconcilers.vm import VMReconciler
from tests.daemon_config import write_daemon_config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_daemon_config(tmp_path)


def homeport(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homeport", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ("proxmox-token", "cannot read [proxmox] token_file"),
        ("tailscale-token", "cannot read [tailscale] token_file"),
        ("id_ed25519", "cannot read [ssh] key_file"),
    ],
)
def test_a_missing_credential_is_one_line(config: Path, broken: str, expected: str) -> None:
    (config.parent / broken).unlink()
    result = homeport("run", "--config", str(config))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert expected in lines[0] and str(config.parent / broken) in lines[0]


def test_an_empty_token_and_a_garbled_key_say_so(config: Path) -> None:
    (config.parent / "proxmox-token").write_text("\n")
    result = homeport("run", "--config", str(config))
    assert result.returncode == 2 and "[proxmox] token_file" in result.stderr
    assert "is empty" in result.stderr
    (config.parent / "proxmox-token").write_text("00000000-0000-0000-0000-000000000000\n")
    (config.parent / "id_ed25519").write_text("not a key\n")
    result = homeport("run", "--config", str(config))
    assert result.returncode == 2 and "cannot use [ssh] key_file" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_public_key_is_derived_without_a_pub_file(config: Path) -> None:
    key_file = config.parent / "id_ed25519"
    assert not Path(f"{key_file}.pub").exists()
    vm = build_reconcilers(load_settings(config))["VM"]
    assert isinstance(vm, VMReconciler)
    expected = asyncssh.read_private_key(str(key_file)).export_public_key().decode().split()
    assert vm.settings.homeport_public_key == " ".join(expected[:2])
    assert vm.settings.homeport_public_key.startswith("ssh-ed25519 AAAA")


@pytest.mark.parametrize(
    ("credential", "setting"),
    [
        ("proxmox-token", "[proxmox] token_file"),
        ("tailscale-token", "[tailscale] token_file"),
        ("id_ed25519", "[ssh] key_file"),
    ],
)
def test_a_credential_others_can_read_is_refused_with_the_chmod(
    config: Path, credential: str, setting: str
) -> None:
    path = config.parent / credential
    path.chmod(0o640)
    result = homeport("run", "--config", str(config))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert setting in lines[0] and "0640" in lines[0] and "its group" in lines[0]
    assert f"chmod 600 {path}" in lines[0]


def test_etcd_credentials_are_mode_checked_too(config: Path) -> None:
    password = config.parent / "etcd-password"
    password.write_text("pw\n")
    password.chmod(0o604)
    with config.open("a") as toml:
        toml.write(
            '[coordination]\nbackend = "etcd"\nendpoints = ["https://127.0.0.1:9"]\n'
            'username = "homeport"\npassword_file = "etcd-password"\n'
        )
    result = homeport("run", "--config", str(config))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "[coordination] password_file" in result.stderr and "every user" in result.stderr
    assert f"chmod 600 {password}" in result.stderr
