"""Proxmox wire encoding, reply parsing and error mapping: pure, no sockets."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from proxmoxer.core import ResourceException
from urllib3.exceptions import MaxRetryError, NewConnectionError

from homeport.clients.errors import (
    AgentNotReady,
    AlreadyExists,
    AuthFailed,
    ChecksumMismatch,
    Locked,
    NotFound,
    OutcomeUnknown,
    ParameterError,
    ProxmoxError,
    TLSVerificationFailed,
    Unreachable,
)
from homeport.clients.proxmox_backups import BackupJobSpec, format_prune_backups
from homeport.clients.proxmox_errors import from_requests_exception, from_resource_exception
from homeport.clients.proxmox_models import (
    BackupJob,
    ClusterResources,
    ClusterStatus,
    FirewallRules,
    TaskRef,
    TaskStatus,
    Upid,
    VmConfig,
)
from homeport.clients.proxmox_wire import (
    decode_sshkeys,
    encode_params,
    encode_sshkeys,
    format_property_string,
    format_size,
    parse_property_string,
    parse_size,
    parse_tags,
)
from homeport.clients.secret import Secret

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOx+/abc= ops@laptop"

# --- encoding ---------------------------------------------------------------------------


def test_booleans_go_out_as_0_and_1_and_none_is_dropped() -> None:
    wire, secrets = encode_params(
        {"onboot": True, "template": False, "name": "web", "skip": None, "cores": 2}
    )
    assert wire == {"onboot": 1, "template": 0, "name": "web", "cores": 2}
    assert secrets == []


def test_secrets_are_revealed_on_the_wire_and_collected_for_scrubbing() -> None:
    password = Secret("s3cret")
    wire, secrets = encode_params({"cipassword": password, "command": ["cat", "/x"]})
    assert wire == {"cipassword": "s3cret", "command": ["cat", "/x"]}
    assert secrets == [password]
    assert "s3cret" not in repr(password)


def test_sshkeys_are_percent_encoded_with_20_for_spaces() -> None:
    encoded = encode_sshkeys([KEY])
    assert "+" not in encoded and " " not in encoded and "%20" in encoded
    assert "%2B" in encoded and "%40" in encoded and "%2F" in encoded
    assert encoded.endswith("%0A")
    assert decode_sshkeys(encoded) == [KEY]


@given(
    st.lists(
        st.text(
            st.characters(min_codepoint=33, max_codepoint=126) | st.just(" "), min_size=1
        ).filter(lambda s: s.strip() == s and s),
        max_size=4,
    )
)
def test_sshkeys_round_trip(keys: list[str]) -> None:
    assert decode_sshkeys(encode_sshkeys(keys)) == keys
    assert unquote(encode_sshkeys(keys)) == "".join(f"{k}\n" for k in keys)


def test_property_strings() -> None:
    net = parse_property_string("virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1")
    assert net == {"virtio": "BC:24:11:AA:BB:CC", "bridge": "vmbr0", "firewall": "1"}
    assert parse_property_string("2048", default_key="current") == {"current": "2048"}
    assert format_property_string({"enabled": True, "fstrim_cloned_disks": False}) == (
        "enabled=1,fstrim_cloned_disks=0"
    )
    assert format_property_string({"file": "local-lvm:32", "ssd": 1}, default_key="file") == (
        "local-lvm:32,ssd=1"
    )


def test_prune_backups_is_a_property_string_on_the_way_out() -> None:
    keep = {"keep-weekly": 4, "keep-daily": 7, "keep-monthly": 12}
    assert format_prune_backups(keep) == "keep-daily=7,keep-monthly=12,keep-weekly=4"
    spec = BackupJobSpec(schedule="21:00", storage="nas", vmids=[101, 100], prune_backups=keep)
    params = spec.params()
    assert params["prune-backups"] == "keep-daily=7,keep-monthly=12,keep-weekly=4"
    assert params["vmid"] == "100,101"
    assert params["enabled"] is True


def test_prune_backups_is_an_object_on_the_way_in() -> None:
    job = BackupJob.parse(
        {
            "id": "backup-1",
            "schedule": "21:00",
            "enabled": 1,
            "vmid": "100,101",
            "prune-backups": {"keep-daily": "7", "keep-weekly": "4"},
            "next-run": 1736971200,
        }
    )
    assert job.prune_backups == {"keep-daily": 7, "keep-weekly": 4}
    assert job.vmids == (100, 101)
    legacy = BackupJob.parse({"id": "b", "prune-backups": "keep-last=3"})
    assert legacy.prune_backups == {"keep-last": 3}


@pytest.mark.parametrize(
    ("text", "size"),
    [("32G", 32 << 30), ("512M", 512 << 20), ("1T", 1 << 40), ("1000", 1000), ("1.5G", 3 << 29)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@given(st.integers(min_value=1, max_value=1 << 45))
def test_size_round_trip(size: int) -> None:
    assert parse_size(format_size(size)) == size


def test_tags_are_sorted_and_unique() -> None:
    assert parse_tags("web;homeport,prod web") == ("homeport", "prod", "web")
    assert parse_tags(None) == ()


# --- parsing ----------------------------------------------------------------------------


def test_task_status_success_and_failure() -> None:
    base = {"upid": "UPID:pve1:0000ABCD:00AB00C3:66DC5987:qmclone:9000:homeport@pve!hp:"}
    assert TaskStatus.parse({**base, "status": "running"}).running
    assert TaskStatus.parse({**base, "status": "stopped", "exitstatus": "OK"}).succeeded
    warned = TaskStatus.parse({**base, "status": "stopped", "exitstatus": "WARNINGS: 2"})
    assert warned.succeeded
    failed = TaskStatus.parse({**base, "status": "stopped", "exitstatus": "clone failed: x"})
    assert not failed.succeeded and not failed.running


def test_upid_names_the_node_to_poll() -> None:
    upid = "UPID:pve1:0035D677:03AB00C3:66DC5987:qmclone:132:root@pam!api_token:"
    decoded = Upid.parse(upid)
    assert (decoded.node, decoded.type, decoded.id) == ("pve1", "qmclone", "132")
    assert TaskRef.of(upid).node == "pve1"
    with pytest.raises(ValueError):
        Upid.parse("UPID:pve1:missing-trailing-colon")


def test_cluster_status_standalone_and_clustered() -> None:
    standalone = ClusterStatus.parse(
        [{"type": "node", "name": "solo", "online": 1, "local": 1, "nodeid": 0}]
    )
    assert standalone.quorate and standalone.name is None
    assert standalone.online_nodes == ("solo",)
    clustered = ClusterStatus.parse(
        [
            {"type": "cluster", "name": "c", "quorate": 0, "nodes": 2},
            {"type": "node", "name": "a", "online": 1},
            {"type": "node", "name": "b", "online": 0},
        ]
    )
    assert not clustered.quorate
    assert clustered.online_nodes == ("a",)


def test_cluster_resources_split_by_type() -> None:
    snapshot = ClusterResources.parse(
        [
            {"type": "qemu", "vmid": "101", "node": "pve1", "name": "web", "status": "running",
             "tags": "homeport;web", "template": 0},
            {"type": "lxc", "vmid": 200, "node": "pve2", "status": "stopped"},
            {"type": "node", "node": "pve1", "status": "online", "maxcpu": 16},
            {"type": "storage", "storage": "nas", "node": "pve1", "content": "images,backup",
             "shared": 1},
        ]
    )  # fmt: skip
    assert [v.vmid for v in snapshot.vms] == [101, 200]
    web = snapshot.vm(101)
    assert web is not None and web.running and web.tags == ("homeport", "web")
    assert web.lock is None
    assert snapshot.nodes[0].maxcpu == 16
    assert snapshot.storages[0].content == ("images", "backup") and snapshot.storages[0].shared


def test_vm_config_accessors() -> None:
    config = VmConfig.parse(
        101,
        {
            "digest": "abc",
            "cores": 2,
            "memory": "current=4096",
            "onboot": 1,
            "scsi0": "local-lvm:vm-101-disk-0,iothread=1,size=32G",
            "sshkeys": encode_sshkeys([KEY]),
            "tags": "web;homeport",
            "lock": "clone",
        },
    )
    assert config.digest == "abc" and "digest" not in config.values
    assert config.memory_mib == 4096
    assert config.flag("onboot") and config.number("cores") == 2
    assert config.disk_size("scsi0") == 32 << 30
    assert config.sshkeys == [KEY]
    assert config.tags == ("homeport", "web")
    assert config.lock == "clone"
    assert VmConfig.parse(1, {"digest": "d"}).memory_mib == 512


def test_firewall_rules_keep_order_and_digest() -> None:
    rules = FirewallRules.parse(
        [
            {"pos": 1, "type": "in", "action": "DROP", "enable": 1, "digest": "d1"},
            {"pos": 0, "type": "in", "action": "ACCEPT", "dport": "22", "digest": "d1"},
        ]
    )
    assert rules.digest == "d1"
    assert [r.action for r in rules.rules] == ["ACCEPT", "DROP"]
    assert not rules.rules[0].enable


# --- error mapping ----------------------------------------------------------------------


def resource_error(
    status: int, reason: str, errors: object = None
) -> ResourceException:  # as proxmoxer raises it
    return ResourceException(status, "Internal Server Error", reason, errors=errors)


@pytest.mark.parametrize(
    ("status", "reason", "errors", "kind"),
    [
        (500, "VM is locked (clone)", None, Locked),
        (500, "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout", None, Locked),
        (500, "Configuration file 'nodes/pve1/qemu-server/117.conf' does not exist", None, NotFound),
        (500, "no such replication job '100-0'", None, NotFound),
        (400, "Parameter verification failed.", {"upid": "no such task"}, NotFound),
        (400, "Parameter verification failed.", {"vmid": "VM 218 already exists"}, AlreadyExists),
        (500, "unable to create VM 101 - VM 101 already exists on node 'pve2'", None, AlreadyExists),
        (400, "Parameter verification failed.", {"onboot": "type check failed"}, ParameterError),
        (500, "checksum mismatch (file change by other user?)", None, ChecksumMismatch),
        (500, "QEMU guest agent is not running", None, AgentNotReady),
        (500, "got no worker upid - start worker failed", None, Unreachable),
        (401, "Authentication failed!", {"errors": b""}, AuthFailed),
        (403, "Permission check failed (/vms/100, VM.PowerMgmt)", None, AuthFailed),
        (500, "VM 100 already running", None, ProxmoxError),
    ],
)  # fmt: skip
def test_error_mapping(status: int, reason: str, errors: object, kind: type[Exception]) -> None:
    mapped = from_resource_exception(
        resource_error(status, reason, errors), operation="op", mutating=True, secrets=[]
    )
    assert type(mapped) is kind
    assert mapped.status == status and mapped.message == reason


def test_locked_names_its_lock_and_is_transient() -> None:
    mapped = from_resource_exception(
        resource_error(500, "VM is locked (backup)"), operation="op", mutating=True, secrets=[]
    )
    assert isinstance(mapped, Locked) and mapped.lock == "backup" and mapped.transient


def test_lost_answers_of_mutations_are_outcome_unknown_but_595_is_not() -> None:
    lost = resource_error(596, "Connection timed out")
    assert type(from_resource_exception(lost, operation="op", mutating=True, secrets=[])) is (
        OutcomeUnknown
    )
    assert type(from_resource_exception(lost, operation="op", mutating=False, secrets=[])) is (
        Unreachable
    )
    refused = resource_error(595, "No route to host")
    assert type(from_resource_exception(refused, operation="op", mutating=True, secrets=[])) is (
        Unreachable
    )


def test_parameter_errors_keep_details_and_never_secrets() -> None:
    password = Secret("hunter2hunter2")
    exc = resource_error(
        400, "Parameter verification failed.", {"cipassword": "invalid value 'hunter2hunter2'\n"}
    )
    mapped = from_resource_exception(
        exc, operation="qemu.config", mutating=True, secrets=[password]
    )
    assert isinstance(mapped, ParameterError)
    assert mapped.errors == {"cipassword": "invalid value '***'"}
    assert "hunter2" not in str(mapped)
    assert str(mapped).startswith("qemu.config: 400 Parameter verification failed.")


def test_transport_errors() -> None:
    refused = requests.exceptions.ConnectionError(
        MaxRetryError(None, "/", NewConnectionError(None, "refused"))  # type: ignore[arg-type]
    )
    assert type(from_requests_exception(refused, operation="op", mutating=True)) is Unreachable
    timeout = requests.exceptions.ReadTimeout("read timed out")
    assert type(from_requests_exception(timeout, operation="op", mutating=True)) is OutcomeUnknown
    assert type(from_requests_exception(timeout, operation="op", mutating=False)) is Unreachable
    tls = requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert type(from_requests_exception(tls, operation="op", mutating=False)) is (
        TLSVerificationFailed
    )
