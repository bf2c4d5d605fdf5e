"""A pair's Proxmox storage replication job on the simulator: created for the primary's VM
on ZFS, syncing, moved to the new primary after a failover; refused off ZFS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from homeport.reconcilers.ownership import marker
from testkit.harness import EstateHarness, until

pytestmark = pytest.mark.integration
PAIR_ESTATE = Path(__file__).parents[2] / "scenarios" / "pair_estate" / "estate.yaml"
STORAGE = '  replication: {intervalSeconds: 1, maxLagSeconds: 5, storage: {schedule: "*/1"}}\n'


def estate(tmp_path: Path, *, zfs: bool) -> Path:
    text = PAIR_ESTATE.read_text()
    text = text.replace("  replication: {intervalSeconds: 1, maxLagSeconds: 5}\n", STORAGE)
    if zfs:
        text = text.replace("memoryMiB: 65536}}", "memoryMiB: 65536}, storage: local-zfs}")
    assert STORAGE in text and (not zfs or "local-zfs" in text)
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "estate.yaml").write_text(text)
    return folder


async def our_jobs(h: EstateHarness) -> list[Any]:
    jobs = await h.clients.proxmox.replication.jobs()
    return [j for j in jobs if j.comment == marker("StandbyPair", "shop") and not j.remove_job]


def vmid(h: EstateHarness, vm: str) -> int:
    found = h.object("VM", vm)
    assert found is not None
    return int(found.status.details["vmid"])


def pair_details(h: EstateHarness) -> dict[str, Any]:
    found = h.object("StandbyPair", "shop")
    assert found is not None
    return dict(found.status.details)


async def test_the_job_replicates_the_primary_and_follows_a_failover(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path, manifests=estate(tmp_path, zfs=True)) as h:
        await h.converged(timeout=90)
        first = vmid(h, "shop-a")
        await until(
            lambda: (pair_details(h).get("storageReplication") or {}).get("lastSync") is not None,
            timeout=60,
            what="the first storage replication sync",
        )
        jobs = await our_jobs(h)
        assert [(j.id, j.guest, j.target, j.schedule) for j in jobs] == [
            (f"{first}-0", first, "pve2", "*/1")
        ]
        await h.estate.guests.crash_vm(first)  # type: ignore[union-attr]

        def promoted() -> bool:
            return h.pair_memory("shop").get("primary") == "shop-b"

        await until(promoted, timeout=60, what="shop-b promoted")
        second = vmid(h, "shop-b")
        await until(
            lambda: (pair_details(h).get("storageReplication") or {}).get("job") == f"{second}-0",
            timeout=60,
            what="the job following the new primary",
        )
        assert [(j.guest, j.target) for j in await our_jobs(h)] == [(second, "pve1")]


async def test_a_primary_off_zfs_is_reported_and_gets_no_job(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path, manifests=estate(tmp_path, zfs=False)) as h:

        def unsupported() -> str | None:
            found = h.object("StandbyPair", "shop")
            if found is None:
                return None
            return next(
                (
                    c.message
                    for c in found.status.conditions
                    if c.reason == "StorageReplicationUnsupported"
                ),
                None,
            )

        await until(lambda: unsupported() is not None, timeout=90, what="the condition")
        assert "local-lvm (lvmthin)" in (unsupported() or "")
        assert await our_jobs(h) == []
