"""Task list, status, log and stop."""

from __future__ import annotations

import pytest
from proxmoxer import ResourceException

from tests.simulator.proxmox.target import Target


def test_task_list_filters(sim: Target) -> None:
    sim.clone("pve2", 9001, 500)
    sim.start("pve2", 500)
    tasks = sim.api.nodes("pve2").tasks.get()
    assert [t["type"] for t in tasks][:2] == ["qmstart", "qmclone"]
    for task in tasks:
        assert {
            "upid",
            "node",
            "pid",
            "pstart",
            "starttime",
            "endtime",
            "type",
            "id",
            "user",
            "status",
        } <= set(task)
        assert task["status"] == "OK"
    assert [t["type"] for t in sim.api.nodes("pve2").tasks.get(vmid=500)] == ["qmstart"]
    assert [t["id"] for t in sim.api.nodes("pve2").tasks.get(typefilter="qmclone")] == ["9001"]
    assert sim.api.nodes("pve3").tasks.get() == []
    upids = {t["upid"] for t in sim.api.cluster.tasks.get()}
    assert {t["upid"] for t in tasks} <= upids


def test_active_tasks_are_listed_as_running(sim: Target) -> None:
    slow_disk = sim.faults.stick_tasks("qmclone")
    upid = sim.api.nodes("pve2").qemu(9001).clone.post(newid=501, full=1)
    active = sim.api.nodes("pve2").tasks.get(source="active")
    assert [t["upid"] for t in active] == [upid]
    assert active[0]["status"] == "RUNNING"
    assert upid not in {t["upid"] for t in sim.api.nodes("pve2").tasks.get()}
    sim.faults.release(slow_disk)
    sim.ok("pve2", upid)


def test_log_paging_and_total(sim: Target) -> None:
    upid = sim.api.nodes("pve2").qemu(9001).clone.post(newid=502, full=1)
    sim.ok("pve2", upid)
    response = sim.session().get(
        sim.url(f"/nodes/pve2/tasks/{upid}/log"), params={"start": 1, "limit": 2}
    )
    body = response.json()
    assert body["total"] == len(sim.task_log("pve2", upid))
    assert [line["n"] for line in body["data"]] == [2, 3]


def test_unknown_and_unparsable_tasks(pve: Target) -> None:
    node = pve.nodes[0]
    with pytest.raises(ResourceException) as err:
        pve.api.nodes(node).tasks("garbage").status.get()
    assert err.value.status_code == 400 and err.value.errors == {
        "upid": "unable to parse worker upid"
    }
    upid = f"UPID:{node}:00001234:00005678:6500AAAA:qmstart:100:root@pam:"
    with pytest.raises(ResourceException) as err:
        pve.api.nodes(node).tasks(upid).status.get()
    assert err.value.status_code == 400 and err.value.errors == {"upid": "no such task"}


def test_a_task_is_only_known_to_its_node(sim: Target) -> None:
    upid = sim.api.nodes("pve2").qemu(9001).clone.post(newid=503)
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve3").tasks(upid).status.get()
    assert err.value.errors == {"upid": "no such task"}
    sim.ok("pve2", upid)


def test_stopping_a_task(sim: Target) -> None:
    sim.faults.stick_tasks("qmclone")
    upid = sim.api.nodes("pve2").qemu(9001).clone.post(newid=504, full=1)
    assert sim.api.nodes("pve2").tasks(upid).delete() is None
    status = sim.wait_task("pve2", upid)
    assert status["exitstatus"] == "clone failed: interrupted by signal"
    with pytest.raises(ResourceException):
        sim.api.nodes("pve2").qemu(504).config.get()
