"""Scheduled backup jobs: CRUD shapes, and the scheduler running them in simulated time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from proxmoxer import ResourceException

from tests.simulator.proxmox.target import Target, wait_for

START = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.UTC).timestamp()  # a Monday


def test_job_crud_and_shapes(sim: Target) -> None:
    jobs = sim.api.cluster.backup
    assert (
        jobs.post(
            id="nightly",
            schedule="mon..fri 21:00",
            storage="local",
            vmid="9001",
            mode="snapshot",
            compress="zstd",
            comment="homeport",
            **{
                "prune-backups": "keep-daily=7,keep-weekly=4,keep-monthly=12",
                "notes-template": "{{guestname}}",
            },
        )
        is None
    )
    (job,) = jobs.get()
    assert job["id"] == "nightly" and job["type"] == "vzdump" and job["enabled"] == 1
    assert job["prune-backups"] == {"keep-daily": "7", "keep-weekly": "4", "keep-monthly": "12"}
    assert isinstance(job["next-run"], int)
    assert jobs("nightly").get() == job
    jobs("nightly").put(schedule="sat 02:00", **{"prune-backups": "keep-last=3"})
    job = jobs("nightly").get()
    assert job["schedule"] == "sat 02:00" and job["prune-backups"] == {"keep-last": "3"}
    jobs("nightly").put(delete="comment")
    assert "comment" not in jobs("nightly").get()
    with pytest.raises(ResourceException) as err:
        jobs.post(id="nightly", schedule="21:00", vmid="9001")
    assert err.value.content == "Job 'nightly' already exists"
    with pytest.raises(ResourceException) as err:
        jobs.post(id="bad", schedule="someday", vmid="9001")
    assert err.value.status_code == 400 and "schedule" in err.value.errors
    jobs("nightly").delete()
    assert jobs.get() == []
    with pytest.raises(ResourceException):
        jobs("nightly").get()


def test_generated_job_ids(sim: Target) -> None:
    sim.api.cluster.backup.post(schedule="21:00", all=1)
    (job,) = sim.api.cluster.backup.get()
    assert job["id"].startswith("backup-") and job["all"] == 1


def test_next_run_follows_the_calendar(make_sim: Callable[..., Target]) -> None:
    sim = make_sim(start_epoch=START)
    sim.api.cluster.backup.post(id="evening", schedule="mon..fri 21:00", vmid="9001")
    next_run = sim.api.cluster.backup("evening").get()["next-run"]
    assert dt.datetime.fromtimestamp(next_run, dt.UTC) == dt.datetime(
        2025, 3, 10, 21, 0, tzinfo=dt.UTC
    )
    sim.api.cluster.backup("evening").put(schedule="sat 02:00")
    next_run = sim.api.cluster.backup("evening").get()["next-run"]
    assert dt.datetime.fromtimestamp(next_run, dt.UTC) == dt.datetime(
        2025, 3, 15, 2, 0, tzinfo=dt.UTC
    )


def test_the_scheduler_runs_due_jobs_and_prunes(make_sim: Callable[..., Target]) -> None:
    sim = make_sim(start_epoch=START)
    sim.clone("pve2", 9001, 650)
    sim.api.cluster.backup.post(
        id="daily",
        schedule="21:00",
        vmid="650",
        storage="local",
        **{"prune-backups": "keep-last=3"},
    )
    for day in range(1, 6):
        sim.advance(86400)
        wait_for(lambda d=day: len(_runs(sim)) >= d, what=f"backup run {day}")
        wait_for(
            lambda: not sim.api.nodes("pve2").tasks.get(source="active"), what="the run to finish"
        )
    runs = _runs(sim)
    assert all(r["user"] == "root@pam" and r["status"] == "OK" for r in runs)
    backups = sim.api.nodes("pve2").storage("local").content.get(content="backup", vmid=650)
    assert len(backups) == 3
    assert sim.api.nodes("pve3").tasks.get(typefilter="vzdump") == []


def _runs(sim: Target) -> list[dict[str, object]]:
    return list(sim.api.nodes("pve2").tasks.get(typefilter="vzdump", source="all"))


def test_disabled_jobs_do_not_run(make_sim: Callable[..., Target]) -> None:
    sim = make_sim(start_epoch=START)
    sim.api.cluster.backup.post(id="off", schedule="*/5", vmid="9001", enabled=0)
    assert "next-run" not in sim.api.cluster.backup("off").get()
    sim.advance(3600)
    sim.api.cluster.backup.post(id="probe", schedule="*/5", vmid="9000")
    sim.advance(600)
    wait_for(lambda: sim.api.nodes("pve1").tasks.get(typefilter="vzdump"), what="the probe job")
    assert sim.api.nodes("pve2").tasks.get(typefilter="vzdump", source="all") == []
