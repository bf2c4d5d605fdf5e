"""SSHPool against simulator guests over real sockets: strict keys, reuse, files, faults."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import stat
from pathlib import Path

import asyncssh
import pytest

from homeport.clients.errors import (
    CommandFailed,
    CommandTimeout,
    HostKeyMismatch,
    RemoteFileError,
    SSHUnreachable,
)
from homeport.clients.secret import Secret
from homeport.clients.ssh import SSHPool, SSHSettings, command_summary, parse_target
from homeport.simulator.guest import LoopbackGuestRuntime

from .conftest import SSH_PORT, BootedVm, BootVm

pytestmark = pytest.mark.integration


def guest_file(runtime: LoopbackGuestRuntime, vm: BootedVm, path: str) -> Path:
    return runtime.disk_path(vm.vmid) / path.lstrip("/")


async def test_runs_commands_over_one_reused_connection(
    ssh_pool: SSHPool, trusted_vm: BootedVm
) -> None:
    result = await ssh_pool.run(trusted_vm.host, ["hostname"])
    assert result.text == "web-1\n"
    results = await asyncio.gather(
        *(ssh_pool.run(trusted_vm.host, ["id", "-u"]) for _ in range(20))
    )
    assert {r.text for r in results} == {"0\n"}
    assert ssh_pool.connections_opened == 1


async def test_nonzero_exit_raises_with_stderr_or_returns_when_unchecked(
    ssh_pool: SSHPool, trusted_vm: BootedVm
) -> None:
    with pytest.raises(CommandFailed) as caught:
        await ssh_pool.run(trusted_vm.host, ["cat", "/nonexistent"])
    assert caught.value.exit_status == 1
    assert "No such file" in caught.value.stderr
    result = await ssh_pool.run(trusted_vm.host, ["cat", "/nonexistent"], check=False)
    assert result.exit_status == 1


async def test_unpinned_host_key_is_refused(ssh_pool: SSHPool, boot_vm: BootVm) -> None:
    vm = await boot_vm()
    with pytest.raises(HostKeyMismatch):
        await ssh_pool.run(vm.host, ["true"])


async def test_wrong_pinned_key_is_refused_and_replacing_needs_consent(
    ssh_pool: SSHPool, boot_vm: BootVm
) -> None:
    vm = await boot_vm()
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    assert await ssh_pool.trust_host_key(vm.address, SSH_PORT, impostor)
    with pytest.raises(HostKeyMismatch):
        await ssh_pool.run(vm.host, ["true"])
    with pytest.raises(HostKeyMismatch):
        await ssh_pool.trust_host_key(vm.address, SSH_PORT, vm.host_key)
    assert await ssh_pool.trust_host_key(vm.address, SSH_PORT, vm.host_key, replace=True)
    assert not await ssh_pool.trust_host_key(vm.address, SSH_PORT, vm.host_key)
    assert (await ssh_pool.run(vm.host, ["true"])).ok


async def test_install_file_writes_atomically_once(
    ssh_pool: SSHPool, trusted_vm: BootedVm, guest_runtime: LoopbackGuestRuntime
) -> None:
    path = "/srv/apps/shop.env"
    secret = Secret("DB_PASSWORD=hunter2\n")
    assert await ssh_pool.install_file(trusted_vm.host, path, secret, mode=0o600)
    local = guest_file(guest_runtime, trusted_vm, path)
    assert local.read_bytes() == b"DB_PASSWORD=hunter2\n"
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    inode = local.stat().st_ino

    assert not await ssh_pool.install_file(trusted_vm.host, path, secret, mode=0o600)
    assert local.stat().st_ino == inode  # no write at all when equal

    assert await ssh_pool.install_file(trusted_vm.host, path, b"A=1\n", mode=0o600)
    assert local.read_bytes() == b"A=1\n"
    assert sorted(p.name for p in local.parent.iterdir() if "homeport" in p.name) == []


async def test_install_file_fixes_mode_and_owner_without_rewriting(
    ssh_pool: SSHPool, trusted_vm: BootedVm, guest_runtime: LoopbackGuestRuntime
) -> None:
    path = "/etc/systemd/system/shop.service"
    unit = b"[Service]\nExecStart=/usr/bin/true\n"
    await ssh_pool.install_file(trusted_vm.host, path, unit, mode=0o644)
    await ssh_pool.run(trusted_vm.host, ["chmod", "666", path])
    local = guest_file(guest_runtime, trusted_vm, path)
    inode = local.stat().st_ino
    assert await ssh_pool.install_file(
        trusted_vm.host, path, unit, mode=0o644, owner="root", group="root"
    )
    assert stat.S_IMODE(local.stat().st_mode) == 0o644
    assert local.stat().st_ino == inode
    described = await ssh_pool.stat(trusted_vm.host, path)
    assert described is not None
    assert (described.mode, described.owner, described.group) == (0o644, "root", "root")


async def test_failed_install_keeps_the_old_file_and_no_temp(
    ssh_pool: SSHPool, trusted_vm: BootedVm, guest_runtime: LoopbackGuestRuntime
) -> None:
    path = "/srv/apps/config.json"
    await ssh_pool.install_file(trusted_vm.host, path, b'{"v": 1}', mode=0o644)
    guest_runtime.fill_disk(trusted_vm.vmid)
    with pytest.raises((RemoteFileError, CommandFailed)):
        await ssh_pool.install_file(trusted_vm.host, path, b'{"v": 2}', mode=0o644)
    guest_runtime.fill_disk(trusted_vm.vmid, False)
    local = guest_file(guest_runtime, trusted_vm, path)
    assert local.read_bytes() == b'{"v": 1}'
    assert [p.name for p in local.parent.iterdir() if "homeport" in p.name] == []


async def test_connection_dropped_mid_install_leaves_the_old_file_whole(
    ssh_settings: SSHSettings,
    client_key: asyncssh.SSHKey,
    trusted_vm: BootedVm,
    guest_runtime: LoopbackGuestRuntime,
) -> None:
    path = "/srv/apps/app.env"
    local = guest_file(guest_runtime, trusted_vm, path)

    class DropsBeforeRename(SSHPool):
        async def with_sftp(self, host, operation, action, *, idempotent=True):  # type: ignore[no-untyped-def]
            if operation == "rename":
                await guest_runtime.set_reachable(trusted_vm.vmid, False)
            return await super().with_sftp(host, operation, action, idempotent=idempotent)

    async with SSHPool(ssh_settings, client_keys=[client_key]) as pool:
        await pool.install_file(trusted_vm.host, path, b"OLD=1\n", mode=0o600)
    async with DropsBeforeRename(ssh_settings, client_keys=[client_key]) as pool:
        with pytest.raises(SSHUnreachable):
            await pool.install_file(trusted_vm.host, path, b"NEW=2\n", mode=0o600)
    assert local.read_bytes() == b"OLD=1\n"
    await guest_runtime.set_reachable(trusted_vm.vmid, True)
    async with SSHPool(ssh_settings, client_keys=[client_key]) as pool:
        assert await pool.install_file(trusted_vm.host, path, b"NEW=2\n", mode=0o600)
    assert local.read_bytes() == b"NEW=2\n"
    assert [p.name for p in local.parent.iterdir() if "homeport" in p.name] == []


async def test_temps_left_by_a_dropped_install_are_cleaned_up(
    ssh_pool: SSHPool, trusted_vm: BootedVm, guest_runtime: LoopbackGuestRuntime
) -> None:
    path = "/srv/apps/app.env"
    stale = guest_file(guest_runtime, trusted_vm, "/srv/apps/.app.env.homeport-0badf00d")
    stale.write_bytes(b"half")
    assert await ssh_pool.install_file(trusted_vm.host, path, b"A=1\n", mode=0o600)
    assert not stale.exists()
    assert guest_file(guest_runtime, trusted_vm, path).read_bytes() == b"A=1\n"


async def test_read_file_and_checksums(ssh_pool: SSHPool, trusted_vm: BootedVm) -> None:
    host = trusted_vm.host
    assert await ssh_pool.read_file(host, "/etc/hostname") == b"web-1\n"
    assert await ssh_pool.read_file(host, "/nope") is None
    assert await ssh_pool.file_sha256(host, "/nope") is None
    await ssh_pool.install_file(host, "/srv/apps/x", b"abc", mode=0o644)
    digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert await ssh_pool.file_sha256(host, "/srv/apps/x") == digest
    assert await ssh_pool.stat(host, "/nope") is None


async def test_switch_symlink_and_make_dir(
    ssh_pool: SSHPool, trusted_vm: BootedVm, guest_runtime: LoopbackGuestRuntime
) -> None:
    host = trusted_vm.host
    for release in ("a1", "b2"):
        assert await ssh_pool.make_dir(host, f"/srv/apps/shop/releases/{release}", mode=0o755)
    assert not await ssh_pool.make_dir(host, "/srv/apps/shop/releases/a1", mode=0o755)
    link = "/srv/apps/shop/current"
    assert await ssh_pool.switch_symlink(host, link, "/srv/apps/shop/releases/a1")
    assert not await ssh_pool.switch_symlink(host, link, "/srv/apps/shop/releases/a1")
    assert await ssh_pool.switch_symlink(host, link, "/srv/apps/shop/releases/b2")
    assert await ssh_pool.read_link(host, link) == "/srv/apps/shop/releases/b2"
    local = guest_file(guest_runtime, trusted_vm, link)
    assert os.readlink(local) == "/srv/apps/shop/releases/b2"


async def test_dropped_connection_is_reopened(
    ssh_pool: SSHPool, trusted_vm: BootedVm, guest_runtime: LoopbackGuestRuntime
) -> None:
    assert (await ssh_pool.run(trusted_vm.host, ["true"])).ok
    await guest_runtime.set_reachable(trusted_vm.vmid, False)
    with pytest.raises(SSHUnreachable):
        await ssh_pool.run(trusted_vm.host, ["true"], idempotent=True)
    await guest_runtime.set_reachable(trusted_vm.vmid, True)
    assert (await ssh_pool.run(trusted_vm.host, ["hostname"], idempotent=True)).ok
    assert ssh_pool.connections_opened == 2


async def test_silent_vm_times_out_instead_of_hanging(
    ssh_settings: SSHSettings,
    client_key: asyncssh.SSHKey,
    trusted_vm: BootedVm,
    guest_runtime: LoopbackGuestRuntime,
) -> None:
    settings = dataclasses.replace(ssh_settings, connect_timeout=0.3)
    async with SSHPool(settings, client_keys=[client_key]) as pool:
        assert (await pool.run(trusted_vm.host, ["true"])).ok
        await guest_runtime.hang_vm(trusted_vm.vmid)
        with pytest.raises(CommandTimeout):
            await pool.run(trusted_vm.host, ["true"], timeout=0.2)
        await guest_runtime.resume_vm(trusted_vm.vmid)
        assert (await pool.run(trusted_vm.host, ["true"])).ok
        assert pool.connections_opened == 2  # the silent connection was dropped


async def test_known_hosts_file_is_created_private(ssh_settings: SSHSettings) -> None:
    pool = SSHPool(ssh_settings, client_keys=[asyncssh.generate_private_key("ssh-ed25519")])
    await pool.close()
    assert stat.S_IMODE(ssh_settings.known_hosts.stat().st_mode) == 0o600


def test_targets_and_command_summaries() -> None:
    assert parse_target("10.0.0.5", 22) == parse_target("10.0.0.5:22", 2222)
    assert parse_target("[fd7a::1]:2222", 22).port == 2222
    assert parse_target("fd7a::1", 22).host == "fd7a::1"
    assert command_summary(["systemctl", "--no-pager", "restart", "x.service"]) == (
        "systemctl restart"
    )
    assert command_summary(["sha256sum", "--", "/etc/secret"]) == "sha256sum"
    assert command_summary(["chmod", "600", "--", "/x"]) == "chmod"


async def test_connections_prefer_aes_gcm(ssh_pool: SSHPool, trusted_vm: BootedVm) -> None:
    """AES-GCM first (``CIPHERS``): asyncssh's ChaCha20 costs several times its CPU per
    packet; the guest's server offers both, as OpenSSH does."""
    await ssh_pool.run(trusted_vm.host, ["hostname"])
    (slot,) = ssh_pool._slots.values()
    assert slot.conn is not None
    assert slot.conn.get_extra_info("send_cipher") == "aes256-gcm@openssh.com"
    assert slot.conn.get_extra_info("recv_cipher") == "aes256-gcm@openssh.com"
