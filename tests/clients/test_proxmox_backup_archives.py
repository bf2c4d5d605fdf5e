"""The backup calls the BackupPolicy reconciler adds: an archive's path, a storage's config,
failed vzdump runs from the task list, and restore; plus ``user@host`` SSH targets."""

from __future__ import annotations

import pytest

from homeport.clients.errors import TaskFailed
from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.ssh import SSHTarget, parse_target
from homeport.simulator.simulator import ProxmoxSimulator

pytestmark = pytest.mark.integration


async def test_archive_paths_storage_config_runs_and_restore(
    proxmox: ProxmoxClient, pve: ProxmoxSimulator
) -> None:
    backups = proxmox.backups
    task = await proxmox.clone_vm("pve2", 9001, newid=300, name="archived")
    await proxmox.tasks.wait(task, timeout=30)
    dump = await backups.vzdump("pve2", vmids=[300], storage="local")
    assert dump is not None
    await proxmox.tasks.wait(dump, timeout=30)
    (archive,) = await backups.backups("pve2", "local", vmid=300)
    info = await backups.volume("pve2", "local", archive.volid)
    assert info is not None and info.path.startswith("/var/lib/vz/dump/vzdump-qemu-300-")
    assert await backups.volume("pve2", "local", "local:backup/vzdump-qemu-1-x.vma") is None
    nas = await backups.storage_config("nas")
    assert nas is not None and nas.path == "/mnt/pve/nas" and nas.shared
    local = await backups.storage_config("local")
    assert local is not None and not local.shared and "backup" in local.content
    assert await backups.storage_config("nowhere") is None

    pve.faults.fail_tasks("vzdump", message="job errors")
    failed = await backups.vzdump("pve2", vmids=[300], storage="local")
    assert failed is not None
    with pytest.raises(TaskFailed):
        await proxmox.tasks.wait(failed, timeout=30)
    runs = await backups.vzdump_runs("pve2", since=archive.ctime - 60)
    assert [r.failed for r in runs] == [True, False]
    assert [r.upid for r in await backups.vzdump_runs("pve2", errors=True)] == [failed.upid]

    restored = await backups.restore(
        "pve2", vmid=301, archive=archive.volid, options={"name": "restored", "onboot": False}
    )
    await proxmox.tasks.wait(restored, timeout=30)
    config = await proxmox.vm_config("pve2", 301)
    assert config.text("name") == "restored" and config.text("onboot") == "0"


def test_ssh_targets_may_name_their_user() -> None:
    assert parse_target("backup@10.0.0.9", 22) == SSHTarget("10.0.0.9", 22, "backup")
    assert parse_target("backup@[fd7a::1]:2222", 22) == SSHTarget("fd7a::1", 2222, "backup")
    assert str(parse_target("ops@h:2", 22)) == "ops@h:2"
    assert parse_target("h", 22).user is None
