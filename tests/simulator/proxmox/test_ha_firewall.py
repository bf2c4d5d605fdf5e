"""HA resources and status; per-VM firewall options and rules."""

from __future__ import annotations

import pytest
from proxmoxer import ResourceException

from tests.simulator.proxmox.target import Target


def test_ha_resources(sim: Target) -> None:
    sim.clone("pve2", 9001, 800)
    ha = sim.api.cluster.ha.resources
    assert ha.post(sid="vm:800", state="started", max_restart=2, comment="pinned") is None
    (resource,) = ha.get()
    assert (
        resource["sid"] == "vm:800" and resource["type"] == "vm" and resource["state"] == "started"
    )
    assert resource["max_restart"] == 2 and "digest" in resource
    assert ha("vm:800").get()["comment"] == "pinned"
    with pytest.raises(ResourceException) as err:
        ha.post(sid="800")
    assert err.value.content == "create resource failed: resource ID 'vm:800' already defined"
    with pytest.raises(ResourceException) as err:
        ha.post(sid="vm:999")
    assert err.value.content == "resource 'vm:999' does not exist in cluster"
    ha("vm:800").put(state="stopped")
    status = sim.api.cluster.ha.status.current.get()
    assert status[0]["type"] == "quorum" and status[0]["quorate"] == 1
    service = next(e for e in status if e["type"] == "service")
    assert (
        service["sid"] == "vm:800"
        and service["request_state"] == "stopped"
        and service["node"] == "pve2"
    )
    assert {e["id"] for e in status if e["type"] == "lrm"} == {"lrm:pve1", "lrm:pve2", "lrm:pve3"}
    ha("vm:800").delete()
    with pytest.raises(ResourceException) as err:
        ha("vm:800").get()
    assert err.value.content == "no such resource 'vm:800'"
    with pytest.raises(ResourceException) as err:
        ha("vm:800").delete()
    assert err.value.content == "cannot delete service 'vm:800', not HA managed!"


def test_firewall_options(sim: Target) -> None:
    sim.clone("pve2", 9001, 810)
    options = sim.api.nodes("pve2").qemu(810).firewall.options
    first = options.get()
    assert set(first) == {"digest"}
    options.put(enable=1, policy_in="DROP")
    current = options.get()
    assert current["enable"] == 1 and current["policy_in"] == "DROP"
    with pytest.raises(ResourceException) as err:
        options.put(enable=0, digest=first["digest"])
    assert (
        err.value.content
        == "detected modified configuration - file changed by other user? Try again."
    )
    options.put(delete="policy_in", digest=current["digest"])
    assert "policy_in" not in options.get()


@pytest.mark.pve_refusal_expected
def test_firewall_rules(sim: Target) -> None:
    sim.clone("pve2", 9001, 811)
    rules = sim.api.nodes("pve2").qemu(811).firewall.rules
    rules.post(
        type="in", action="ACCEPT", proto="tcp", dport="22", source="10.0.0.0/8", comment="ssh"
    )
    rules.post(type="in", action="ACCEPT", proto="tcp", dport="443", enable=1)
    listed = rules.get()
    assert [r["pos"] for r in listed] == [0, 1]
    assert listed[0]["dport"] == "443" and listed[0]["enable"] == 1
    assert listed[1]["dport"] == "22" and listed[1]["enable"] == 0 and listed[1]["ipversion"] == 4
    assert len({r["digest"] for r in listed}) == 1
    assert rules(1).get()["comment"] == "ssh"
    rules(1).put(enable=1, digest=listed[0]["digest"])
    assert rules(1).get()["enable"] == 1
    rules(1).put(moveto=0)
    assert rules(0).get()["dport"] == "22"
    rules(0).delete()
    assert [r["dport"] for r in rules.get()] == ["443"]
    with pytest.raises(ResourceException) as err:
        rules(5).get()
    assert err.value.content == "no rule at position 5"
    with pytest.raises(ResourceException) as err:
        rules.post(action="ACCEPT")
    assert err.value.status_code == 400 and "type" in err.value.errors


def test_node_and_cluster_firewall_options(pve: Target) -> None:
    node = pve.nodes[0]
    options = pve.api.nodes(node).firewall.options.get()
    assert "digest" in options
    cluster = pve.api.cluster.firewall.options.get()
    assert "digest" in cluster


def test_changing_node_and_cluster_firewall_options(sim: Target) -> None:
    node = sim.api.nodes("pve1").firewall.options
    before = node.get()
    assert before["enable"] == 1
    node.put(nosmurfs=1, digest=before["digest"])
    assert node.get()["nosmurfs"] == 1
    with pytest.raises(ResourceException):
        node.put(enable=0, digest=before["digest"])
    sim.api.cluster.firewall.options.put(enable=1, policy_in="DROP")
    assert sim.api.cluster.firewall.options.get()["policy_in"] == "DROP"
