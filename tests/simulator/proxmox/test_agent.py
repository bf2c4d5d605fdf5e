"""Guest-agent endpoints: not configured, not running yet, addresses, exec, file-write."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest
from proxmoxer import ResourceException

from homeport.simulator.settings import Timings
from tests.simulator.proxmox.target import Target, wait_for


def test_agent_lifecycle(make_sim: Callable[..., Target]) -> None:
    sim = make_sim(timings=Timings(guest_boot=60))  # 0.6 s of wall time at 100x
    sim.clone("pve2", 9001, 400, name="agent")
    agent = sim.api.nodes("pve2").qemu(400).agent
    with pytest.raises(ResourceException) as err:
        agent("network-get-interfaces").get()
    assert err.value.content == "VM 400 is not running"
    sim.start("pve2", 400)
    with pytest.raises(ResourceException) as err:
        agent("network-get-interfaces").get()
    assert err.value.content == "QEMU guest agent is not running"
    result = sim.wait_agent("pve2", 400)
    interfaces = {i["name"]: i for i in result["result"]}
    assert set(interfaces) == {"lo", "eth0"}
    eth0 = interfaces["eth0"]
    address = next(a["ip-address"] for a in eth0["ip-addresses"] if a["ip-address-type"] == "ipv4")
    assert (
        ipaddress.ip_address(address) in ipaddress.ip_network("127.0.0.0/8")
        and address != "127.0.0.1"
    )
    mac = sim.api.nodes("pve2").qemu(400).config.get()["net0"].split(",")[0].split("=")[1]
    assert eth0["hardware-address"] == mac.lower()
    assert agent.ping.post() == {"result": {}}


def test_addresses_are_stable_and_unique(sim: Target) -> None:
    for vmid in (401, 402):
        sim.clone("pve2", 9001, vmid)
        sim.start("pve2", vmid)
    first = _address(sim.wait_agent("pve2", 401))
    second = _address(sim.wait_agent("pve2", 402))
    assert first != second
    sim.ok("pve2", sim.api.nodes("pve2").qemu(401).status.stop.post())
    sim.start("pve2", 401)
    assert _address(sim.wait_agent("pve2", 401)) == first


def _address(result: dict[str, object]) -> str:
    interfaces = result["result"]
    assert isinstance(interfaces, list)
    eth0 = next(i for i in interfaces if i["name"] == "eth0")
    return str(eth0["ip-addresses"][0]["ip-address"])


def test_no_agent_configured(sim: Target) -> None:
    sim.clone("pve2", 9001, 403)
    sim.api.nodes("pve2").qemu(403).config.put(delete="agent")
    sim.start("pve2", 403)
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu(403).agent("network-get-interfaces").get()
    assert err.value.content == "No QEMU guest agent configured"


def test_exec_and_file_write(sim: Target) -> None:
    sim.clone("pve2", 9001, 404)
    sim.start("pve2", 404)
    sim.wait_agent("pve2", 404)
    agent = sim.api.nodes("pve2").qemu(404).agent
    assert agent("file-write").post(file="/etc/motd", content="hello\n") is None
    pid = agent.exec.post(command="cat /etc/motd")["pid"]
    status = wait_for(lambda: _exited(agent("exec-status").get(pid=pid)), what="exec to finish")
    assert status == {"exited": 1, "exitcode": 0, "out-data": "hello\n"}
    pid = agent.exec.post(command=["cat", "/nope"])["pid"]
    status = wait_for(lambda: _exited(agent("exec-status").get(pid=pid)), what="exec to finish")
    assert status["exitcode"] == 1 and "No such file" in status["err-data"]


def _exited(status: dict[str, object]) -> dict[str, object] | None:
    return status if status.get("exited") else None
