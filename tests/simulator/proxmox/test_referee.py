"""The vendor-schema referee (`simulator.proxmox_api.referee`) objects to what real PVE
refuses and lets through what it takes, so the suite-wide check cannot pass silently."""

from __future__ import annotations

from typing import Any

import pytest
from proxmoxer import ResourceException

from homeport.simulator.proxmox_api.exchanges import Exchange, listening
from homeport.simulator.proxmox_api.referee import ApiSchema
from tests.pve_referee import Recorder, vendor_schema, verdict
from tests.simulator.proxmox.target import Target

CLONE = "/nodes/pve1/qemu/100/clone"
CONFIG = "/nodes/pve1/qemu/100/config"
STATUS = "/nodes/pve1/qemu/100/status/current"


@pytest.fixture(scope="module")
def schema() -> ApiSchema:
    return vendor_schema()


UPID = "UPID:pve1:00001234:00005678:65000000:qmclone:100:homeport@pve!homeport:"


def problems(
    schema: ApiSchema, method: str, path: str, params: dict[str, Any], data: Any = UPID
) -> list[str]:
    found = schema.check(Exchange(method, path, params, 200, data))
    return [f"{v.where}: {v.problem}" for v in found]


def test_a_valid_request_and_answer_pass(schema: ApiSchema) -> None:
    params = {"newid": "101", "full": "1", "name": "web-1", "target": "pve2", "storage": "local"}
    assert problems(schema, "POST", CLONE, params) == []
    net = "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1"
    assert problems(schema, "POST", CONFIG, {"net0": net, "memory": "2048", "delete": "ide2"}) == []


def test_an_unknown_parameter_fails(schema: ApiSchema) -> None:
    assert problems(schema, "POST", CLONE, {"newid": "101", "bogus": "1"}) == [
        "parameter 'bogus': not defined in the schema (PVE refuses unknown parameters)"
    ]


def test_a_value_outside_the_enum_fails(schema: ApiSchema) -> None:
    assert problems(schema, "POST", CLONE, {"newid": "101", "format": "vhd"}) == [
        "parameter 'format': enum is ['raw', 'qcow2', 'vmdk'], got 'vhd'"
    ]


def test_types_ranges_required_and_requires(schema: ApiSchema) -> None:
    assert problems(schema, "POST", CLONE, {"newid": "abc"}) == [
        "parameter 'newid': type is 'integer', got 'abc'"
    ]
    assert problems(schema, "POST", CLONE, {"newid": "99"}) == [
        "parameter 'newid': minimum is 100, got '99'"
    ]
    assert problems(schema, "POST", CLONE, {"full": "maybe"}) == [
        "parameter 'full': type is 'boolean' (0/1), got 'maybe'",
        "parameter 'newid': missing, and the schema says it is not optional",
    ]
    assert problems(schema, "POST", "/nodes/pve1/vzdump", {"vmid": "100", "protected": "1"}) == [
        "parameter 'protected': requires parameter 'storage', which is missing"
    ]


def test_formats_and_property_strings(schema: ApiSchema) -> None:
    assert problems(schema, "POST", CLONE, {"newid": "101", "name": "web_1"}) == [
        "parameter 'name': format is 'dns-name', got 'web_1'"
    ]
    assert problems(schema, "POST", CONFIG, {"net0": "virtio=BC:24:11:00:00:01,bridgex=vmbr0"}) == [
        "parameter 'net0': property string has no key 'bridgex' in its format"
    ]
    assert problems(schema, "POST", CONFIG, {"net0": "virtio,firewall=2,tag=5000"}) == [
        "parameter 'net0': key 'firewall': type is 'boolean' (0/1), got '2'",
        "parameter 'net0': key 'tag': maximum is 4094, got '5000'",
    ]


def test_named_formats_and_their_lists(schema: ApiSchema) -> None:
    create = {"id": "100-0", "type": "local", "target": "pve2"}
    assert problems(schema, "POST", "/cluster/replication", create, None) == []
    assert problems(schema, "POST", "/cluster/replication", {**create, "id": "100"}, None) == [
        "parameter 'id': pattern is /[1-9][0-9]{2,8}-\\d{1,9}/, got '100'",
        "parameter 'id': format is 'pve-replication-job-id', got '100'",
    ]
    assert problems(schema, "POST", CONFIG, {"ipconfig0": "ip=dhcp,gateway=10.0.0.1"}) == [
        "parameter 'ipconfig0': format is 'pve-qm-ipconfig', got 'ip=dhcp,gateway=10.0.0.1'"
    ]
    assert (
        problems(schema, "POST", "/nodes/pve1/vzdump", {"vmid": "100,101", "storage": "local"})
        == []
    )
    assert problems(
        schema, "POST", "/nodes/pve1/vzdump", {"vmid": "100,x1", "storage": "local"}
    ) == ["parameter 'vmid': format is 'pve-vmid-list', got 'x1'"]


def test_an_unknown_endpoint_fails(schema: ApiSchema) -> None:
    assert problems(schema, "GET", "/nodes/pve1/nope", {}) == [
        "path: PVE 9.1 has no such endpoint (the request would be refused with 501)"
    ]
    assert problems(schema, "DELETE", "/cluster/resources", {}) == [
        "method: PVE 9.1 has no such endpoint (the request would be refused with 501)"
    ]


def test_answers_are_checked_against_returns(schema: ApiSchema) -> None:
    good = {"status": "running", "vmid": 100, "ha": {"managed": 0}, "agent": 1, "cpus": "2"}
    assert problems(schema, "GET", STATUS, {}, good) == []
    bad = {"status": "paused", "vmid": "x", "agent": "maybe"}
    assert problems(schema, "GET", STATUS, {}, bad) == [
        "returns.data.agent: type is 'boolean' (0/1), got 'maybe'",
        "returns.data.ha: missing, and the schema says it is not optional",
        "returns.data.status: enum is ['stopped', 'running'], got 'paused'",
        "returns.data.vmid: type is 'integer', got 'x'",
    ]


def test_a_volume_id_with_slashes_is_one_path_parameter(schema: ApiSchema) -> None:
    found = schema.match("/nodes/pve1/storage/local/content/local:backup/vzdump-qemu-100.vma.zst")
    assert found is not None
    endpoint, params = found
    assert endpoint.template == "/nodes/{node}/storage/{storage}/content/{volume}"
    assert params["volume"] == "local:backup/vzdump-qemu-100.vma.zst"


@pytest.mark.pve_refusal_expected
def test_the_suite_hears_every_exchange_and_objects(sim: Target) -> None:
    """What the suite-wide fixture does, on a live simulator: a request real PVE refuses is
    an objection, whatever the simulator answered; a fine one is not."""
    recorder = Recorder()
    with listening(recorder):
        sim.api.cluster.resources.get(type="vm")
        with pytest.raises(ResourceException):
            sim.api.cluster.resources.get(type="vms")
    heard = recorder.take()
    assert [(e.method, e.path, e.status) for e in heard] == [
        ("GET", "/cluster/resources", 200),
        ("GET", "/cluster/resources", 400),
    ]
    assert verdict(vendor_schema(), heard, refusals_expected=True) == []
    assert verdict(vendor_schema(), heard, refusals_expected=False) == [
        "GET /cluster/resources (/cluster/resources): parameter 'type':"
        " enum is ['vm', 'storage', 'node', 'sdn'], got 'vms' [the simulator answered 400]"
    ]
