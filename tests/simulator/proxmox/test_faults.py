"""Every API-level fault and its observable effect through proxmoxer / requests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from proxmoxer import ResourceException

from homeport.simulator.settings import Timings
from tests.simulator.proxmox.target import Target, wait_for


def _exists(sim: Target, node: str, vmid: int) -> bool:
    try:
        sim.api.nodes(node).qemu(vmid).config.get()
    except ResourceException:
        return False
    return True


def test_api_error_status(sim: Target) -> None:
    sim.faults.api_error(
        r"/qemu/9001/clone$", method="POST", status=596, message="Connection timed out", count=1
    )
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu(9001).clone.post(newid=900)
    assert err.value.status_code == 596 and err.value.content == "Connection timed out"
    assert not _exists(sim, "pve2", 900)
    sim.clone("pve2", 9001, 900)


def test_api_timeout_holds_until_the_client_gives_up(sim: Target) -> None:
    sim.faults.api_timeout(r"^/cluster/resources$", count=1)
    impatient = sim.client(timeout=0.3)
    with pytest.raises(requests.exceptions.Timeout):
        impatient.cluster.resources.get()
    assert impatient.cluster.resources.get()


def test_slow_responses(sim: Target) -> None:
    sim.faults.api_slow(r"^/version$", delay=0.5)
    with pytest.raises(requests.exceptions.Timeout):
        sim.client(timeout=0.2).version.get()
    assert sim.client(timeout=5).version.get()["version"]


def test_lost_response_after_the_action_happened(sim: Target) -> None:
    sim.clone("pve2", 9001, 901)
    sim.faults.api_drop_response(r"/qemu/901/status/start$", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        sim.api.nodes("pve2").qemu(901).status.start.post()
    wait_for(
        lambda: sim.api.nodes("pve2").qemu(901).status.current.get()["status"] == "running",
        what="the start that happened anyway",
    )
    starts = sim.api.nodes("pve2").tasks.get(vmid=901, typefilter="qmstart")
    assert len(starts) == 1 and starts[0]["status"] == "OK"


def test_task_failure(sim: Target) -> None:
    sim.clone("pve2", 9001, 902)
    sim.faults.fail_tasks("qmstart", vmid=902, message="start failed: QEMU exited with code 1")
    status = sim.wait_task("pve2", sim.api.nodes("pve2").qemu(902).status.start.post())
    assert status["exitstatus"] == "start failed: QEMU exited with code 1"
    assert (
        sim.task_log("pve2", status["upid"])[-1]
        == "TASK ERROR: start failed: QEMU exited with code 1"
    )
    assert sim.api.nodes("pve2").qemu(902).status.current.get()["status"] == "stopped"
    sim.start("pve2", 902)


def test_stuck_task_until_released(sim: Target) -> None:
    stuck = sim.faults.stick_tasks("qmclone")
    upid = sim.api.nodes("pve2").qemu(9001).clone.post(newid=903)
    sim.advance(3600)
    assert sim.api.nodes("pve2").tasks(upid).status.get()["status"] == "running"
    assert sim.api.nodes("pve2").qemu(903).config.get()["lock"] == "clone"
    sim.faults.release(stuck)
    sim.ok("pve2", upid)
    assert "lock" not in sim.api.nodes("pve2").qemu(903).config.get()


def test_disk_full(sim: Target) -> None:
    sim.faults.disk_full("local-lvm", node="pve2")
    status = sim.wait_task("pve2", sim.api.nodes("pve2").qemu(9001).clone.post(newid=904, full=1))
    assert status["exitstatus"].startswith("clone failed: ")
    assert status["exitstatus"].endswith("No space left on device")
    assert not _exists(sim, "pve2", 904)
    sim.clone("pve3", 9002, 904, full=1)
    created = sim.wait_task("pve2", sim.api.nodes("pve2").qemu.post(vmid=905, scsi0="local-lvm:4"))
    assert (
        created["exitstatus"]
        == "unable to create VM 905 - lvcreate 'pve/vm-905-disk-0' error:   No space left on device"
    )
    assert not _exists(sim, "pve2", 905)
    sim.faults.disk_full("local-zfs", node="pve2")
    on_zfs = sim.wait_task("pve2", sim.api.nodes("pve2").qemu.post(vmid=905, scsi0="local-zfs:4"))
    assert (
        on_zfs["exitstatus"] == "unable to create VM 905 - zfs error: cannot create "
        "'rpool/data/vm-905-disk-0': out of space"
    )
    sim.faults.disk_full("local-zfs", node="pve2", full=False)
    sim.faults.disk_full("local-lvm", node="pve2", full=False)
    sim.clone("pve2", 9001, 906, full=1)


def test_backup_to_a_full_storage(sim: Target) -> None:
    sim.clone("pve2", 9001, 907)
    sim.faults.disk_full("local", node="pve2")
    status = sim.wait_task("pve2", sim.api.nodes("pve2").vzdump.post(vmid="907"))
    assert status["exitstatus"] == "job errors"
    assert any("No space left on device" in line for line in sim.task_log("pve2", status["upid"]))
    assert "lock" not in sim.api.nodes("pve2").qemu(907).config.get()


def test_replication_stall(sim: Target) -> None:
    sim.clone("pve2", 9001, 908, full=1, storage="local-zfs")
    sim.faults.stall_replication("908-0")
    sim.api.cluster.replication.post(id="908-0", type="local", target="pve3")
    status = wait_for(lambda: (s := _repl(sim, "908-0"))["fail_count"] and s, what="a failed sync")
    assert status["last_sync"] == 0 and "stalled" in str(status["error"])
    assert status["next_sync"] == int(str(status["last_try"])) + 300
    sim.advance(300)
    wait_for(lambda: _repl(sim, "908-0")["fail_count"] == 2, what="the retry to fail too")
    sim.faults.unstall_replication("908-0")
    sim.advance(600)
    status = wait_for(lambda: (s := _repl(sim, "908-0"))["last_sync"] and s, what="recovery")
    assert status["fail_count"] == 0 and "error" not in status


def _repl(sim: Target, job: str) -> dict[str, object]:
    return dict(sim.api.nodes("pve2").replication(job).status.get())


def test_node_crash_and_recovery(make_sim: Callable[..., Target]) -> None:
    sim = make_sim(timings=Timings(node_offline_after=60))
    sim.clone("pve3", 9002, 910)
    sim.clone("pve3", 9002, 911)
    sim.api.nodes("pve3").qemu(911).config.put(onboot=1)
    sim.start("pve3", 910)
    sim.start("pve3", 911)
    sim.faults.crash_node("pve3")
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve3").qemu(910).status.current.get()
    assert err.value.status_code == 595 and err.value.content == "No route to host"
    assert _online(sim)["pve3"] == 1
    sim.advance(60)
    assert _online(sim)["pve3"] == 0
    assert next(n for n in sim.api.nodes.get() if n["node"] == "pve3")["status"] == "offline"
    vms = {r["vmid"]: r for r in sim.api.cluster.resources.get(type="vm") if r["node"] == "pve3"}
    assert vms[910]["status"] == "unknown" and vms[911]["status"] == "unknown"
    assert next(e for e in sim.api.cluster.status.get() if e["type"] == "cluster")["quorate"] == 1
    sim.faults.recover_node("pve3")
    assert _online(sim)["pve3"] == 1
    assert sim.api.nodes("pve3").qemu(910).status.current.get()["status"] == "stopped"
    sim.advance(30)
    wait_for(
        lambda: sim.api.nodes("pve3").qemu(911).status.current.get()["status"] == "running",
        what="onboot autostart after the node came back",
    )
    assert sim.api.nodes("pve3").qemu(910).status.current.get()["status"] == "stopped"


def _online(sim: Target) -> dict[str, int]:
    return {e["name"]: e["online"] for e in sim.api.cluster.status.get() if e["type"] == "node"}


def test_vm_crash(sim: Target) -> None:
    sim.clone("pve2", 9001, 916)
    sim.start("pve2", 916)
    sim.wait_agent("pve2", 916)
    sim.faults.crash_vm(916)
    assert sim.api.nodes("pve2").qemu(916).status.current.get()["status"] == "stopped"
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu(916).agent("network-get-interfaces").get()
    assert err.value.content == "VM 916 is not running"
    sim.start("pve2", 916)


def test_crash_mid_clone_leaves_a_stale_lock(sim: Target) -> None:
    upid = sim.api.nodes("pve2").qemu(9001).clone.post(newid=912, full=1)
    wait_for(lambda: _exists(sim, "pve2", 912), what="the clone to start")
    sim.faults.crash_node("pve2")
    sim.faults.recover_node("pve2")
    status = sim.wait_task("pve2", upid)
    assert status["exitstatus"] == "unexpected status"
    assert sim.api.nodes("pve2").qemu(912).config.get()["lock"] == "clone"


def test_two_nodes_down_lose_quorum(sim: Target) -> None:
    sim.faults.crash_node("pve2")
    sim.faults.crash_node("pve3")
    sim.advance(10)
    assert next(e for e in sim.api.cluster.status.get() if e["type"] == "cluster")["quorate"] == 0
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve1").qemu(9000).clone.post(newid=913)
    assert err.value.content == "cluster not ready - no quorum?"
    sim.faults.recover_node("pve2")
    sim.faults.recover_node("pve3")


def test_partition(sim: Target) -> None:
    sim.clone("pve3", 9002, 914)
    sim.start("pve3", 914)
    sim.faults.partition_node("pve3")
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve3").status.get()
    assert err.value.status_code == 595
    sim.advance(10)
    vm = next(r for r in sim.api.cluster.resources.get(type="vm") if r["vmid"] == 914)
    assert vm["status"] == "unknown"
    sim.faults.recover_node("pve3")
    assert sim.api.nodes("pve3").qemu(914).status.current.get()["status"] == "running"


def test_no_such_task_right_after_creation(sim: Target) -> None:
    sim.faults.no_such_task_chaos(window=5)
    upid = sim.api.nodes("pve2").qemu(9001).clone.post(newid=915)
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").tasks(upid).status.get()
    assert err.value.status_code == 400 and err.value.errors == {"upid": "no such task"}
    sim.advance(5)
    sim.ok("pve2", upid)


def test_seeded_probabilities_replay(make_sim: Callable[..., Target]) -> None:
    outcomes = []
    for _ in range(2):
        sim = make_sim(seed=42)
        sim.faults.api_error(r"^/version$", probability=0.5, status=500, message="flaky")
        pattern = []
        for _ in range(20):
            try:
                sim.api.version.get()
                pattern.append(True)
            except ResourceException:
                pattern.append(False)
        outcomes.append(pattern)
    assert outcomes[0] == outcomes[1]
    assert True in outcomes[0] and False in outcomes[0]


def test_control_endpoint(sim: Target) -> None:
    session = sim.session()
    base = sim.base_url.removesuffix("/api2/json") + "/_sim"
    assert session.get(f"{base}/check").json() == {"data": []}
    rule = session.post(f"{base}/faults/stick_tasks", json={"type": "qmclone"}).json()["data"][
        "rule"
    ]
    upid = sim.api.nodes("pve2").qemu(9001).clone.post(newid=920)
    assert session.post(f"{base}/faults/crash_node", json={"node": "pve3"}).ok
    state = session.get(f"{base}/state").json()["data"]
    assert state["nodes"]["pve3"] == {"crashed": True, "partitioned": False}
    # The answer came once the fault was in effect: the cluster already counts pve3 offline.
    assert next(n for n in sim.api.nodes.get() if n["node"] == "pve3")["status"] == "offline"
    assert session.post(f"{base}/clock/advance", json={"seconds": 15}).ok
    assert sim.api.nodes("pve2").tasks(upid).status.get()["status"] == "running"
    assert session.post(f"{base}/faults/release", json={"rule": rule}).ok
    sim.ok("pve2", upid)
    assert session.post(f"{base}/faults/recover_node", json={"node": "pve3"}).ok
    assert session.post(f"{base}/faults/nonsense", json={}).status_code == 501
    assert sim.session(auth=False).get(f"{base}/check").status_code == 401
