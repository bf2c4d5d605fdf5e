"""The scripts homeport installs on pair members, run for real (python3 and rsync of this
machine, their paths moved into a temporary directory): the receive wrapper behind the
forced command accepts what a real ``rsync -a --delete`` sends under the current epoch
and nothing else; ``fence`` raises the epoch and drops only the pair's keys; the lease
tool refuses a late renewal. The simulator's transcriptions are tested on the guests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from homeport.reconcilers.standbypair.replkeys import REPLICA_SCRIPT
from homeport.reconcilers.standbypair.selffence import LEASE_SCRIPT

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync")


def install(tmp_path: Path) -> tuple[Path, Path, Path]:
    state, keys = tmp_path / "state", tmp_path / "authorized_keys"
    wrapper = tmp_path / "homeport-replica"
    text = REPLICA_SCRIPT.replace('"/var/lib/homeport/replica"', repr(str(state)))
    text = text.replace('"/root/.ssh/authorized_keys"', repr(str(keys)))
    assert str(state) in text and str(keys) in text
    wrapper.write_text(text)
    # Plays sshd with a forced command: the client's command goes to SSH_ORIGINAL_COMMAND.
    ssh = tmp_path / "fake-ssh"
    ssh.write_text(
        "#!/bin/sh\nshift\n"
        f'SSH_ORIGINAL_COMMAND="$*" exec {sys.executable} {wrapper} receive shop '
        f"{tmp_path / 'data'}\n"
    )
    ssh.chmod(0o755)
    return wrapper, ssh, state


def push(tmp_path: Path, ssh: Path, epoch: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "rsync",
            "-a",
            "--delete",
            "-e",
            str(ssh),
            f"{tmp_path / 'src'}/",
            f"standby:epoch-{epoch}/",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


def fence(wrapper: Path, epoch: int) -> None:
    subprocess.run([sys.executable, str(wrapper), "fence", "shop", str(epoch)], check=True)


def test_the_wrapper_takes_a_real_rsync_push_of_its_epoch_only(tmp_path: Path) -> None:
    wrapper, ssh, state = install(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "order-1").write_text("paid")
    (tmp_path / "data" / "stale").mkdir(parents=True)
    fence(wrapper, 3)
    assert (state / "shop" / "epoch").read_text() == "3\n"
    done = push(tmp_path, ssh, 3)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(tmp_path / "data")) == ["order-1"]  # --delete applied
    fence(wrapper, 4)
    (tmp_path / "src" / "order-2").write_text("late")
    stale = push(tmp_path, ssh, 3)
    assert stale.returncode != 0 and "stale epoch 3: the pair is at epoch 4" in stale.stderr
    assert sorted(os.listdir(tmp_path / "data")) == ["order-1"]
    fence(wrapper, 2)  # never lowers
    assert (state / "shop" / "epoch").read_text() == "4\n"


def test_the_wrapper_refuses_anything_but_a_push(tmp_path: Path) -> None:
    wrapper, _, _ = install(tmp_path)
    fence(wrapper, 1)
    for command in ["cat /etc/shadow", "rsync --server --sender -logDtpre.iLsfxCIvu . /", ""]:
        env = {**os.environ, "SSH_ORIGINAL_COMMAND": command}
        ran = subprocess.run(
            [sys.executable, str(wrapper), "receive", "shop", str(tmp_path / "data")],
            env=env,
            capture_output=True,
            text=True,
        )
        assert ran.returncode == 1 and "homeport-replica:" in ran.stderr, command


def test_fence_drops_only_this_pairs_keys(tmp_path: Path) -> None:
    wrapper, _, _ = install(tmp_path)
    keys = tmp_path / "authorized_keys"
    keys.write_text(
        "ssh-ed25519 AAAA ops@laptop\n"
        'restrict,command="x" ssh-ed25519 BBBB homeport-replica:shop:a>b\n'
        'restrict,command="y" ssh-ed25519 CCCC homeport-replica:blog:c>d\n'
        "ssh-ed25519 DDDD homeport-replication-shop\n"
    )
    fence(wrapper, 2)
    assert keys.read_text() == (
        "ssh-ed25519 AAAA ops@laptop\n"
        'restrict,command="y" ssh-ed25519 CCCC homeport-replica:blog:c>d\n'
    )
    assert keys.stat().st_mode & 0o077 == 0


def test_the_lease_tool_refuses_a_late_renewal(tmp_path: Path) -> None:
    tool = tmp_path / "homeport-lease"
    text = LEASE_SCRIPT.replace('"/run/homeport/lease"', repr(str(tmp_path / "lease")))
    tool.write_text(text)

    def lease(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True)

    assert lease("renew", "web.service", f"{time.time() - 10:.3f}", "2").returncode == 1
    assert not (tmp_path / "lease" / "web.service").exists()
    assert lease("renew", "web.service", f"{time.time():.3f}", "60").returncode == 0
    assert (tmp_path / "lease" / "web.service").is_file()
    # The App reads it before it acknowledges a write (it runs as its own user).
    assert (tmp_path / "lease" / "web.service").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "lease").stat().st_mode & 0o777 == 0o755
    assert lease("disarm", "web.service").returncode == 0
    assert not (tmp_path / "lease" / "web.service").exists()
