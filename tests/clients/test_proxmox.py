"""ProxmoxClient against the simulator's HTTPS API (TLS verified against its CA)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from homeport.clients.errors import (
    AuthFailed,
    ChecksumMismatch,
    Locked,
    OutcomeUnknown,
    ShrinkRefused,
    TaskFailed,
    TLSVerificationFailed,
)
from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.proxmox_models import TaskRef
from homeport.clients.proxmox_settings import ProxmoxSettings
from homeport.clients.proxmox_transport import build_proxmoxer
from homeport.clients.secret import read_secret_file
from homeport.simulator.pki import ensure_pki
from homeport.simulator.simulator import ProxmoxSimulator

pytestmark = pytest.mark.integration

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0x5v9yWbx8j4P8hTQ3xqSbhTLa4Zm7+g5kZ2kq1m2N ops@laptop"
GIB = 1 << 30


async def clone(
    px: ProxmoxClient, name: str = "web-1", storage: str = "local-lvm"
) -> tuple[int, TaskRef]:
    vmid = await px.next_vmid()
    task = await px.clone_vm("pve1", 9000, newid=vmid, name=name, full=True, storage=storage)
    return vmid, task


async def test_reads_the_cluster(proxmox: ProxmoxClient) -> None:
    assert (await proxmox.version()).release
    assert {n.node for n in await proxmox.nodes() if n.online} == {"pve1", "pve2", "pve3"}
    status = await proxmox.cluster_status()
    assert status.quorate and set(status.online_nodes) == {"pve1", "pve2", "pve3"}
    snapshot = await proxmox.cluster_resources()
    templates = {v.vmid for v in snapshot.vms if v.template}
    assert {9000, 9001, 9002} <= templates
    assert {n.node for n in snapshot.nodes} == {"pve1", "pve2", "pve3"}
    only_vms = await proxmox.cluster_resources(type="vm")
    assert only_vms.nodes == () and only_vms.vms
    assert (await proxmox.node_status("pve1")).memory_total > 0
    storages = {s.storage for s in await proxmox.backups.storages("pve1")}
    assert {"local", "local-lvm", "local-zfs", "nas"} <= storages
    assert proxmox.stats.snapshot().total_mutations == 0


async def test_clone_configure_resize_power_and_delete(
    proxmox: ProxmoxClient, pve: ProxmoxSimulator
) -> None:
    held = pve.faults.stick_tasks("qmclone")
    vmid, task = await clone(proxmox)
    assert task.node == "pve1"
    assert (await proxmox.vm_config("pve1", vmid)).lock == "clone"
    with pytest.raises(Locked) as caught:
        await proxmox.update_config("pve1", vmid, changes={"cores": 2})
    assert caught.value.lock in ("clone", None)  # the config lock, or the flock the clone holds
    pve.faults.release(held)
    assert (await proxmox.tasks.wait(task, timeout=30)).exitstatus == "OK"
    await proxmox.wait_unlocked("pve1", vmid, timeout=10)

    config = await proxmox.vm_config("pve1", vmid)
    assert config.text("name") == "web-1"
    update = await proxmox.update_config(
        "pve1",
        vmid,
        changes={
            "cores": 2,
            "memory": "2048",
            "onboot": True,
            "tags": "homeport;web",
            "sshkeys": [KEY],
        },
        digest=config.digest,
    )
    assert update is not None
    await proxmox.tasks.wait(update, timeout=10)
    config = await proxmox.vm_config("pve1", vmid)
    assert (config.number("cores"), config.memory_mib, config.flag("onboot")) == (2, 2048, True)
    assert config.sshkeys == [KEY]
    assert config.tags == ("homeport", "web")
    with pytest.raises(ChecksumMismatch):
        await proxmox.update_config("pve1", vmid, changes={"cores": 4}, digest="0" * 40, sync=True)
    assert await proxmox.update_config("pve1", vmid) is None  # nothing to change, nothing sent

    disk = next(k for k in ("scsi0", "virtio0", "sata0") if config.disk_size(k))
    current = config.disk_size(disk)
    assert current is not None
    with pytest.raises(ShrinkRefused):
        await proxmox.resize_disk("pve1", vmid, disk=disk, size=current - GIB, config=config)
    assert await proxmox.resize_disk("pve1", vmid, disk=disk, size=current, config=config) is None
    grow = await proxmox.resize_disk("pve1", vmid, disk=disk, size=current + 8 * GIB, config=config)
    if grow is not None:
        await proxmox.tasks.wait(grow, timeout=10)
    assert (await proxmox.vm_config("pve1", vmid)).disk_size(disk) == current + 8 * GIB

    start = await proxmox.start_vm("pve1", vmid)
    assert start is not None
    await proxmox.tasks.wait(start, timeout=10)
    assert (await proxmox.vm_status("pve1", vmid)).running
    again = await proxmox.start_vm("pve1", vmid)  # already running: a success (pitfall 17)
    if again is not None:
        await proxmox.tasks.wait(again, timeout=10)
    stop = await proxmox.stop_vm("pve1", vmid)
    if stop is not None:
        await proxmox.tasks.wait(stop, timeout=10)
    stopped_again = await proxmox.stop_vm("pve1", vmid)
    if stopped_again is not None:
        await proxmox.tasks.wait(stopped_again, timeout=10)
    assert not (await proxmox.vm_status("pve1", vmid)).running

    delete = await proxmox.delete_vm("pve1", vmid)
    assert delete is not None
    await proxmox.tasks.wait(delete, timeout=10)
    assert (await proxmox.cluster_resources()).vm(vmid) is None
    assert await proxmox.delete_vm("pve1", vmid) is None


async def test_failed_task_raises_with_the_log_tail(
    proxmox: ProxmoxClient, pve: ProxmoxSimulator
) -> None:
    pve.faults.fail_tasks("qmclone", message="clone failed: storage exploded")
    _, task = await clone(proxmox)
    with pytest.raises(TaskFailed) as caught:
        await proxmox.tasks.wait(task, timeout=10)
    assert caught.value.exitstatus == "clone failed: storage exploded"
    assert caught.value.log_tail[-1] == "TASK ERROR: clone failed: storage exploded"


async def test_fresh_task_answering_no_such_task_is_waited_for(
    proxmox: ProxmoxClient, pve: ProxmoxSimulator
) -> None:
    pve.faults.no_such_task_chaos(window=20.0)  # 0.2 s of wall time at scale 100
    _, task = await clone(proxmox)
    assert (await proxmox.tasks.wait(task, timeout=10)).exitstatus == "OK"


async def test_5xx_on_reads_is_retried(proxmox: ProxmoxClient, pve: ProxmoxSimulator) -> None:
    pve.faults.api_error("cluster/resources", status=596, count=2)
    assert (await proxmox.cluster_resources()).vms
    counts = proxmox.stats.snapshot()
    assert counts.reads["GET cluster.resources"] == 1
    assert counts.retries["GET cluster.resources"] == 2


async def test_lost_clone_response_is_never_repeated(
    proxmox: ProxmoxClient, pve: ProxmoxSimulator
) -> None:
    pve.faults.api_drop_response(r"/clone$", method="POST", count=1)
    vmid = await proxmox.next_vmid()
    with pytest.raises(OutcomeUnknown):
        await proxmox.clone_vm("pve1", 9000, newid=vmid, name="lost-1", storage="local-lvm")
    assert proxmox.stats.snapshot().mutations == {"POST qemu.clone": 1}
    snapshot = await proxmox.cluster_resources()
    assert [v.vmid for v in snapshot.vms if v.vmid == vmid] == [vmid]  # it did happen, once
    await proxmox.wait_unlocked("pve1", vmid, timeout=10)  # how a reconciler finds the end
    assert (await proxmox.vm_config("pve1", vmid)).text("name") == "lost-1"


async def test_500_error_on_a_mutation_is_not_retried(
    proxmox: ProxmoxClient, pve: ProxmoxSimulator
) -> None:
    pve.faults.api_error(r"/clone$", method="POST", status=596, count=1)
    vmid = await proxmox.next_vmid()
    with pytest.raises(OutcomeUnknown):
        await proxmox.clone_vm("pve1", 9000, newid=vmid, name="maybe-1", storage="local-lvm")
    assert proxmox.stats.snapshot().retries == {}


async def test_tls_is_verified_against_the_configured_ca(
    proxmox_settings: ProxmoxSettings, tmp_path: Path
) -> None:
    other_ca = ensure_pki(tmp_path / "other-ca").ca_cert
    settings = dataclasses.replace(proxmox_settings, ca_bundle=other_ca)
    async with ProxmoxClient(settings) as px:
        with pytest.raises(TLSVerificationFailed):
            await px.version()


async def test_the_environments_ca_bundle_is_used_when_none_is_configured(
    proxmox_settings: ProxmoxSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read once when the client is built (requests no longer reads the environment per
    call), as requests reads it: REQUESTS_CA_BUNDLE."""
    assert proxmox_settings.ca_bundle is not None
    settings = dataclasses.replace(proxmox_settings, ca_bundle=None)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(proxmox_settings.ca_bundle))
    async with ProxmoxClient(settings) as px:
        assert (await px.version()).version
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ensure_pki(tmp_path / "other").ca_cert))
    async with ProxmoxClient(settings) as px:
        with pytest.raises(TLSVerificationFailed):
            await px.version()


def test_the_environments_proxies_are_read_once_for_the_server(
    proxmox_settings: ProxmoxSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    api = build_proxmoxer(proxmox_settings, read_secret_file(proxmox_settings.token_file))
    session = api._store["session"]
    assert session.proxies == {"https": "http://proxy.example:3128"}
    assert session.trust_env is False  # not read again per call
    monkeypatch.setenv("NO_PROXY", proxmox_settings.host)
    api = build_proxmoxer(proxmox_settings, read_secret_file(proxmox_settings.token_file))
    assert api._store["session"].proxies == {}


async def test_a_wrong_token_fails_without_showing_it(
    proxmox_settings: ProxmoxSettings, tmp_path: Path
) -> None:
    token_file = tmp_path / "wrong-token"
    token_file.write_text("00000000-dead-beef-0000-000000000000")
    settings = dataclasses.replace(proxmox_settings, token_file=token_file)
    async with ProxmoxClient(settings) as px:
        with pytest.raises(AuthFailed) as caught:
            await px.version()
    assert "dead-beef" not in str(caught.value)


async def test_guest_agent(proxmox: ProxmoxClient) -> None:
    vmid, task = await clone(proxmox, "agent-1")
    await proxmox.tasks.wait(task, timeout=30)
    assert not await proxmox.agent.ping("pve1", vmid)  # stopped: no agent
    await proxmox.update_config("pve1", vmid, changes={"agent": "1"}, sync=True)
    start = await proxmox.start_vm("pve1", vmid)
    assert start is not None
    await proxmox.tasks.wait(start, timeout=10)
    await proxmox.wait_unlocked("pve1", vmid, timeout=10)
    for _ in range(200):
        if await proxmox.agent.ping("pve1", vmid):
            break
    else:
        pytest.fail("the guest agent never answered")
    await proxmox.agent.file_write("pve1", vmid, "/etc/motd", b"hello\n")
    result = await proxmox.agent.run("pve1", vmid, ["cat", "/etc/motd"], timeout=5)
    assert (result.exited, result.exitcode, result.out_data) == (True, 0, "hello\n")


async def test_backups_and_backup_jobs(proxmox: ProxmoxClient) -> None:
    vmid, task = await clone(proxmox, "backed-up")
    await proxmox.tasks.wait(task, timeout=30)
    dump = await proxmox.backups.vzdump("pve1", vmids=[vmid], storage="nas")
    assert dump is not None
    await proxmox.tasks.wait(dump, timeout=30)
    backups = await proxmox.backups.backups("pve1", "nas", vmid=vmid)
    assert [b.vmid for b in backups] == [vmid]

    from homeport.clients.proxmox_backups import BackupJobSpec

    spec = BackupJobSpec(
        schedule="21:00",
        storage="nas",
        vmids=[vmid],
        prune_backups={"keep-daily": 7, "keep-weekly": 4, "keep-monthly": 12},
        comment="homeport BackupPolicy/nightly",
    )
    await proxmox.backups.create_job("backup-homeport-nightly", spec)
    job = await proxmox.backups.job("backup-homeport-nightly")
    assert job is not None
    assert job.prune_backups == {"keep-daily": 7, "keep-weekly": 4, "keep-monthly": 12}
    assert job.vmids == (vmid,) and job.enabled
    await proxmox.backups.update_job(
        "backup-homeport-nightly", dataclasses.replace(spec, schedule="22:30")
    )
    assert [j.schedule for j in await proxmox.backups.jobs()] == ["22:30"]
    assert await proxmox.backups.delete_job("backup-homeport-nightly")
    assert not await proxmox.backups.delete_job("backup-homeport-nightly")
    assert await proxmox.backups.job("backup-homeport-nightly") is None


async def test_replication_ha_and_firewall(proxmox: ProxmoxClient) -> None:
    # Storage replication needs ZFS (a VM on local-lvm is refused).
    vmid, task = await clone(proxmox, "replicated", storage="local-zfs")
    await proxmox.tasks.wait(task, timeout=30)

    job_id = f"{vmid}-0"
    await proxmox.replication.create_job(job_id, target="pve2", schedule="*/15")
    jobs = await proxmox.replication.jobs()
    assert [(j.id, j.guest, j.target) for j in jobs] == [(job_id, vmid, "pve2")]
    state = await proxmox.replication.state("pve1", job_id)
    assert state is not None and state.guest == vmid
    assert await proxmox.replication.delete_job(job_id)

    assert await proxmox.ha.resources() == []
    assert await proxmox.ha.resource(f"vm:{vmid}") is None

    from homeport.clients.proxmox_firewall import FirewallRuleSpec

    options = await proxmox.firewall.options("pve1", vmid)
    await proxmox.firewall.set_options(
        "pve1", vmid, changes={"enable": True, "policy_in": "DROP"}, digest=options.digest
    )
    assert (await proxmox.firewall.options("pve1", vmid)).values["enable"] == 1
    ssh = FirewallRuleSpec(type="in", action="ACCEPT", proto="tcp", dport="22", comment="ssh")
    await proxmox.firewall.create_rule("pve1", vmid, ssh)
    rules = await proxmox.firewall.rules("pve1", vmid)
    assert [(r.dport, r.enable) for r in rules.rules] == [("22", True)]
    web = dataclasses.replace(ssh, dport="443", comment="https")
    await proxmox.firewall.update_rule("pve1", vmid, 0, web, digest=rules.digest)
    with pytest.raises(ChecksumMismatch):
        await proxmox.firewall.delete_rule("pve1", vmid, 0, digest=rules.digest)  # stale
    rules = await proxmox.firewall.rules("pve1", vmid)
    await proxmox.firewall.delete_rule("pve1", vmid, 0, digest=rules.digest)
    assert (await proxmox.firewall.rules("pve1", vmid)).rules == ()
