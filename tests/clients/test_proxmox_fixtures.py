"""The reply models on replies as real PVE 8/9 sends them, held to PVE's own API schema.

Each ``fixtures/pve/*.json`` is one reply's ``data`` for one endpoint. First each fixture is
checked against that endpoint's ``returns`` (``pve_schema``), so the fixtures cannot drift
from the vendor's schema; then the models parse them and the tests assert what homeport
reads, quirks included (0/1 booleans, numbers as strings, absent keys, property strings).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport.clients import proxmox_backups, proxmox_models, proxmox_pci, proxmox_tasks
from homeport.clients.proxmox_backups import StorageConfig, TaskSummary, VolumeInfo
from homeport.clients.proxmox_fields import PveItem
from homeport.clients.proxmox_models import (
    AgentExecStatus,
    BackupJob,
    BackupVolume,
    ClusterResources,
    ClusterStatus,
    FirewallOptions,
    FirewallRules,
    GuestInterface,
    HaResource,
    NodeInfo,
    NodeStatus,
    PendingChange,
    PveVersion,
    ReplicationJob,
    ReplicationState,
    StorageInfo,
    TaskStatus,
    VmConfig,
    VmStatus,
)
from homeport.clients.proxmox_pci import PciMapping
from homeport.clients.proxmox_tasks import ActiveTask
from tests.clients.pve_schema import FIXTURES, RETURNS, extract_returns, load_returns, problems

GIB = 1 << 30
KEYS = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOx+/abcDEF0123 ops@laptop",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB9kEYtwo deploy@ci",
]


def fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*.json") if p != RETURNS)


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def data(name: str) -> Any:
    return fixture(name)["data"]


# --- the fixtures follow the vendor's schema ----------------------------------------------


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: p.stem)
def test_fixture_follows_the_vendor_schema(path: Path) -> None:
    reply = json.loads(path.read_text())
    schema = load_returns()[reply["endpoint"]]
    assert problems(reply["endpoint"], reply["data"], schema) == []


def _vendor_apidata() -> Path | None:
    """PVE's apidata, where a checkout has it: ``HOMEPORT_PVE_APIDATA`` or the shared
    reference folder beside the repository."""
    given = os.environ.get("HOMEPORT_PVE_APIDATA")
    repo = Path(__file__).resolve().parents[2]
    candidate = Path(given) if given else repo.parent / "shared/reference/pve-apidata-9.1.json"
    return candidate if candidate.is_file() else None


def test_the_schema_extract_is_the_vendor_schema() -> None:
    """``apidata-returns.json`` is cut from the vendor file, for every fixture's endpoint."""
    endpoints = {json.loads(p.read_text())["endpoint"] for p in fixture_files()}
    committed = json.loads(RETURNS.read_text())
    assert set(committed["returns"]) == endpoints
    vendor = _vendor_apidata()
    if vendor is None:
        pytest.skip("pve-apidata-9.1.json not found (set HOMEPORT_PVE_APIDATA to check)")
    assert extract_returns(json.loads(vendor.read_text()), endpoints) == committed


def _models() -> Iterator[type[PveItem]]:
    stack = list(PveItem.__subclasses__())
    while stack:
        model = stack.pop()
        stack += model.__subclasses__()
        yield model


PARSED_BY_TESTS = {
    AgentExecStatus, BackupJob, BackupVolume, GuestInterface, HaResource, NodeInfo, NodeStatus,
    PendingChange, PveVersion, ReplicationJob, ReplicationState, StorageInfo, TaskStatus,
    StorageConfig, TaskSummary, VolumeInfo, ActiveTask, PciMapping, VmStatus,
}  # fmt: skip
"""Every reply model the tests below parse from a fixture. A new model joins this set with
a fixture and a test of its own."""

PARSED_AS_PARTS = {
    "ClusterNode", "VmResource", "NodeResource", "StorageResource", "FirewallRule", "GuestAddress",
}  # fmt: skip
"""Items parsed through their list's model (``ClusterStatus``, ``ClusterResources``, ...)."""


def test_every_reply_model_is_tested_on_a_fixture() -> None:
    modules = {m.__name__ for m in (proxmox_models, proxmox_backups, proxmox_tasks, proxmox_pci)}
    public = {m for m in _models() if m.__module__ in modules and not m.__name__.startswith("_")}
    assert {m.__name__ for m in public} - PARSED_AS_PARTS == {m.__name__ for m in PARSED_BY_TESTS}


# --- the referee can fail -------------------------------------------------------------------

RESOURCES = "GET /cluster/resources"
CONFIG = "GET /nodes/{node}/qemu/{vmid}/config"


def resources_problems(**entry: Any) -> list[str]:
    item = {"id": "qemu/100", "type": "qemu", "vmid": 100, **entry}
    return problems(RESOURCES, [item], load_returns()[RESOURCES])


def config_problems(**config: Any) -> list[str]:
    return problems(CONFIG, {"digest": "d", **config}, load_returns()[CONFIG])


def test_the_check_takes_pve_wire_quirks() -> None:
    assert resources_problems(template=1, maxcpu="2", cpu="0.5", uptime="30") == []
    assert config_problems(onboot="1", memory="current=2048", cpulimit="1.5") == []


def test_the_check_refuses_what_pve_would_not_send() -> None:
    assert resources_problems(template=2) == ["data[0].template: 2 is not a PVE boolean"]
    assert resources_problems(uptime="soon") == ["data[0].uptime: 'soon' is not a PVE integer"]
    assert resources_problems(type="vm") == [
        "data[0].type: 'vm' is not one of "
        "['node', 'storage', 'pool', 'qemu', 'lxc', 'openvz', 'sdn', 'network']"
    ]
    assert resources_problems(vmid=99) == ["data[0].vmid: 99 is below the minimum 100"]
    assert resources_problems(maxcpus=2) == ["data[0].maxcpus: not declared by the schema"]
    assert problems(RESOURCES, [{"type": "qemu"}], load_returns()[RESOURCES]) == [
        "data[0].id: required by the schema, missing"
    ]


def test_the_check_reads_property_strings() -> None:
    assert config_problems(net0="virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1") == []
    assert config_problems(net0="virtio=BC:24:11:00:00:01,firewall=maybe") == [
        "data.net0.firewall: 'maybe' is not a property-string boolean"
    ]
    assert config_problems(net0="virtio=BC:24:11:00:00:01,bridge=vmbr0,vlan=4") == [
        "data.net0: 'vlan' is not a key of this property string"
    ]
    assert config_problems(net0="nic9=BC:24:11:00:00:01") == [
        "data.net0: 'nic9' is not a key of this property string"
    ]
    assert config_problems(scsi0="local-lvm:vm-100-disk-0,iothread=1,size=32G") == []
    assert config_problems(memory="current=8") == [
        "data.memory.current: '8' is below the minimum 16"
    ]


# --- the models read the fixtures -----------------------------------------------------------


def test_version_and_nodes() -> None:
    assert PveVersion.parse(data("version")).version == "9.1.1"
    online, offline = NodeInfo.parse_list(data("nodes"))
    assert online.online and (online.maxcpu, online.maxmem) == (16, 67280273408)
    assert not offline.online and (offline.cpu, offline.mem, offline.uptime) == (0.0, 0, 0)


def test_node_status_reads_nested_figures_and_string_load() -> None:
    status = NodeStatus.parse(data("node-status"))
    assert (status.cpus, status.cpu_model) == (16, "AMD Ryzen 7 5700G with Radeon Graphics")
    assert (status.memory_total, status.memory_used) == (67280273408, 12073766912)
    assert (status.rootfs_total, status.rootfs_used) == (100861726720, 9016643584)
    assert status.loadavg == (0.21, 0.30, 0.27)
    assert status.pveversion.startswith("pve-manager/9.1.1/")


def test_cluster_status_from_real_shapes() -> None:
    clustered = ClusterStatus.parse(data("cluster-status-clustered"))
    assert (clustered.name, clustered.quorate) == ("edge", True)
    assert clustered.online_nodes == ("pve1", "pve3")
    pve1 = clustered.nodes[0]
    assert (pve1.nodeid, pve1.local, pve1.ip) == (1, True, "10.20.0.11")
    standalone = ClusterStatus.parse(data("cluster-status-standalone"))
    assert standalone.name is None and standalone.quorate
    assert standalone.online_nodes == ("proxmoxtest01",)


def test_cluster_resources_template_lock_and_absent_keys() -> None:
    snapshot = ClusterResources.parse(data("cluster-resources"))
    assert [(v.vmid, v.type) for v in snapshot.vms] == [
        (9000, "qemu"),
        (101, "qemu"),
        (102, "qemu"),
        (200, "lxc"),
    ]
    template, shop, fresh = snapshot.vm(9000), snapshot.vm(101), snapshot.vm(102)
    assert template is not None and template.template and not template.running
    assert shop is not None and not shop.template  # `template` absent
    assert (shop.lock, shop.hastate, shop.pool) == ("migrate", "started", "prod")
    assert shop.tags == ("homeport", "prod", "web") and shop.running
    assert (shop.maxmem, shop.mem, shop.uptime, shop.cpu) == (4294967296, 1824522240, 86211, 0.0131)
    assert fresh is not None and fresh.name is None and fresh.lock is None and fresh.tags == ()
    assert fresh.status == "unknown"
    assert snapshot.vms_named("shop-a") == (shop,)
    assert [(n.node, n.hastate, n.maxcpu) for n in snapshot.nodes] == [
        ("pve1", "online", 16),
        ("pve2", "maintenance", 8),
    ]
    local, nas = snapshot.storages
    assert (local.shared, local.content, local.plugintype) == (
        False,
        ("images", "rootdir"),
        "lvmthin",
    )
    assert nas.shared and nas.content == ("backup", "iso", "vztmpl")


def test_vm_status_while_migrating_and_as_template() -> None:
    shop = VmStatus.parse(data("qemu-status-running"))
    assert shop.running and (shop.qmpstatus, shop.lock) == ("running", "migrate")
    assert shop.agent and shop.ha_managed and shop.ha_state == "started"
    assert (shop.vmid, shop.name, shop.uptime) == (101, "shop-a", 86211)
    template = VmStatus.parse(data("qemu-status-template"))
    assert not template.running and template.lock is None
    assert not template.agent and not template.ha_managed and template.ha_state is None


def test_vm_config_property_strings_and_quirks() -> None:
    config = VmConfig.parse(101, data("qemu-config"))
    assert config.digest == "5b1e3f0c2a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f"
    assert "digest" not in config.values
    assert (config.number("cores"), config.memory_mib, config.flag("onboot")) == (2, 4096, True)
    assert config.get("cpulimit") == "1.5" and not config.flag("protection")
    assert config.disk_size("scsi0") == 32 * GIB and config.disk_size("scsi1") == 8 * GIB
    assert config.prop("scsi1", default_key="file")["backup"] == "0"
    assert config.prop("net0") == {
        "virtio": "BC:24:11:2F:4A:10",
        "bridge": "vmbr0",
        "firewall": "1",
    }
    assert config.prop("net1")["link_down"] == "1" and config.prop("net1")["tag"] == "20"
    assert config.prop("hostpci0") == {"mapping": "gpu", "pcie": "1"}
    assert config.prop("agent", default_key="enabled")["enabled"] == "1"
    assert config.sshkeys == KEYS
    assert config.tags == ("homeport", "prod", "web") and config.lock is None
    assert config.text("cipassword") == "**********"


def test_vm_config_mid_clone_and_template() -> None:
    cloning = VmConfig.parse(102, data("qemu-config-cloning"))
    assert cloning.lock == "clone" and cloning.memory_mib == 2048
    assert cloning.disk_size("scsi0") == 3584 << 20 and cloning.sshkeys == []
    template = VmConfig.parse(9000, data("qemu-config-template"))
    assert template.flag("template") and template.memory_mib == 2048
    assert not VmConfig.parse(101, data("qemu-config")).flag("template")


def test_pending_changes() -> None:
    cores, memory, nameserver, _ = PendingChange.parse_list(data("qemu-pending"))
    assert (cores.key, cores.value, cores.pending, cores.delete) == ("cores", "2", "4", 0)
    assert (memory.value, memory.pending) == ("4096", None)
    assert nameserver.delete == 1


def test_task_status_running_failed_and_with_warnings() -> None:
    running = TaskStatus.parse(data("task-status-running"))
    assert running.running and not running.succeeded and running.exitstatus is None
    assert (running.node, running.type, running.id) == ("pve1", "qmclone", "9000")
    failed = TaskStatus.parse(data("task-status-failed"))
    assert not failed.running and not failed.succeeded
    assert failed.exitstatus == "VM 101 already running"
    assert TaskStatus.parse(data("task-status-warnings")).succeeded


def test_task_lists() -> None:
    ok, failed, running = TaskSummary.parse_list(data("tasks"))
    assert not ok.failed and ok.endtime == 1736937131
    assert failed.failed and failed.id == ""
    assert not running.failed and running.endtime is None
    assert [t.type for t in ActiveTask.parse_list(data("cluster-tasks"))] == ["qmigrate", "vzdump"]


def test_storages_archives_and_volumes() -> None:
    local, thin, nas = StorageInfo.parse_list(data("storage"))
    assert local.content == ("iso", "vztmpl", "backup") and local.active and not local.shared
    assert (thin.total, thin.used, thin.avail) == (366414495744, 73282899148, 293131596596)
    assert not nas.active and nas.enabled and nas.shared and nas.total == 0
    first, second, lxc = BackupVolume.parse_list(data("storage-content-backups"))
    assert first.protected and not second.protected  # `protected` only when set
    assert (first.vmid, first.ctime, first.format, first.subtype) == (
        101,
        1736937000,
        "vma.zst",
        "qemu",
    )
    assert (lxc.notes, lxc.subtype) == (None, "lxc")
    volume = VolumeInfo.parse(data("storage-volume"))
    assert volume.path.endswith(".vma.zst") and volume.protected and volume.size == 1234567890
    nfs = StorageConfig.parse(data("storage-config"))
    assert nfs.shared and (nfs.path, nfs.content) == ("/mnt/pve/nas", ("backup", "iso"))


def test_backup_jobs() -> None:
    nightly, everything = BackupJob.parse_list(data("cluster-backup"))
    assert nightly.vmids == (101, 102) and nightly.enabled and not nightly.all
    assert nightly.prune_backups == {"keep-daily": 7, "keep-weekly": 4, "keep-monthly": 12}
    assert (nightly.next_run, nightly.notes_template) == (1736971200, "{{guestname}}")
    assert (nightly.comment, nightly.node, nightly.mode) == (
        "homeport BackupPolicy/nightly",
        "pve1",
        "snapshot",
    )
    assert not everything.enabled and everything.all and everything.vmids == ()
    assert everything.prune_backups == {} and everything.next_run is None
    job = BackupJob.parse(data("cluster-backup-job"))
    assert job.vmids == (101,) and job.prune_backups == {"keep-last": 3}


def test_replication_jobs_and_states() -> None:
    shop, removing = ReplicationJob.parse_list(data("cluster-replication"))
    assert (shop.guest, shop.jobnum, shop.target, shop.schedule) == (101, 0, "pve2", "*/1")
    assert shop.rate == 50.0 and not shop.disabled and shop.remove_job is None
    assert removing.schedule == "*/15" and removing.disabled and removing.remove_job == "full"
    assert removing.rate is None
    syncing, failing = ReplicationState.parse_list(data("node-replication"))
    assert syncing.running and (syncing.last_sync, syncing.duration) == (1736937000, 3.51)
    assert not failing.running and failing.last_sync == 0 and failing.fail_count == 2
    assert failing.error is not None and failing.error.startswith("command 'zfs snapshot")
    state = ReplicationState.parse(data("replication-status"))
    assert not state.running and state.error is None and state.next_sync == 1736937060


def test_ha_resources() -> None:
    shop, disabled = HaResource.parse_list(data("ha-resources"))
    assert (shop.vmid, shop.state, shop.max_restart, shop.group) == (101, "started", 1, None)
    assert disabled.state == "disabled" and disabled.group == "prod-nodes"
    assert disabled.max_relocate == 1  # PVE's default when absent
    one = HaResource.parse(data("ha-resource"))
    assert (one.max_restart, one.max_relocate) == (2, 0)


def test_firewall() -> None:
    options = FirewallOptions.parse(data("firewall-options"))
    assert options.digest == "d2a1c0f9e8b7a6958473625140fedcba98765432"
    assert options.values["enable"] == 1 and options.values["policy_in"] == "DROP"
    assert "digest" not in options.values
    rules = FirewallRules.parse(data("firewall-rules"))
    assert rules.digest == "9c1f0e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7"
    ssh, https, dns = rules.rules
    assert ssh.enable and (ssh.proto, ssh.dport, ssh.iface) == ("tcp", "22", "net0")
    assert https.macro == "HTTPS" and https.proto is None
    assert not dns.enable and dns.type == "out"  # `enable` absent: disabled
    assert FirewallOptions.parse(data("cluster-firewall-options")).values["enable"] == 1
    assert FirewallOptions.parse(data("node-firewall-options")).values["nftables"] == 0


def test_guest_agent() -> None:
    lo, eth0, tailscale = GuestInterface.parse_list(data("agent-network")["result"])
    assert [a.address for a in lo.addresses] == ["127.0.0.1", "::1"]
    assert eth0.mac == "bc:24:11:2f:4a:10"
    ipv4 = eth0.addresses[0]
    assert (ipv4.type, ipv4.address, ipv4.prefix) == ("ipv4", "10.20.1.21", 24)
    assert tailscale.addresses == ()  # no addresses yet
    done = AgentExecStatus.parse(data("agent-exec-status"))
    assert done.exited and (done.exitcode, done.out_data, done.err_data) == (3, "inactive\n", "")
    assert not done.truncated and done.signal is None
    running = AgentExecStatus.parse(data("agent-exec-status-running"))
    assert not running.exited and running.exitcode is None and running.out_data == ""


def test_pci_mappings() -> None:
    gpu, spare = PciMapping.parse_list(data("mapping-pci"))
    assert gpu.paths == {"pve1": ("0000:0a:00.0", "0000:0a:00.1"), "pve2": ("0000:0b:00.0",)}
    assert spare.paths == {}
