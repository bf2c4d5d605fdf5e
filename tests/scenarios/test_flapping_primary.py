"""A primary that flaps (fails, answers for a moment, fails again) is failed over once
`failureThreshold` of the last `window` probes missed, though it never fails many probes
in a row; the failover budget still holds (one failover, no ping-pong)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from testkit.harness import EstateHarness, until
from tests.cli.test_operate_cli import memory
from tests.scenarios.test_failover_scenarios import UNIT

pytestmark = [pytest.mark.scenario, pytest.mark.integration]
ESTATE = Path(__file__).parent / "pair_estate" / "estate.yaml"
SEED = 1907


async def _flap(h: EstateHarness, vmid: int, rng: random.Random, stop: asyncio.Event) -> None:
    """Down 45 % of every second: probes 0.5 s apart mostly alternate miss and pass, so
    misses never add up to three in a row, but three of the last six probes miss."""
    guests = h.estate.guests
    assert guests is not None
    await asyncio.sleep(rng.uniform(0, 1))  # a seeded phase against the probe loop
    while not stop.is_set():
        guests.fail_app(vmid, UNIT, 500)
        await asyncio.sleep(0.45)
        guests.heal_app(vmid, UNIT)
        await asyncio.sleep(0.55)


async def test_a_flapping_primary_is_failed_over_once(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    manifest = ESTATE.read_text().replace("failureThreshold: 3}", "failureThreshold: 3, window: 6}")
    assert "window: 6" in manifest
    (folder / "estate.yaml").write_text(manifest.replace("maxPerHour: 5", "maxPerHour: 1"))
    rng = random.Random(SEED)
    async with EstateHarness.running(tmp_path, manifests=folder, seed=SEED) as h:
        await h.converged(timeout=60)
        await until(lambda: bool(memory(h).get("established")), timeout=30, what="established")
        vm = h.object("VM", "shop-a")
        assert vm is not None
        stop = asyncio.Event()
        flapping = asyncio.create_task(_flap(h, int(vm.status.details["vmid"]), rng, stop))
        try:
            await until(
                lambda: memory(h).get("epoch") == 2, timeout=60, what=f"failover (seed {SEED})"
            )
        finally:
            stop.set()
            await flapping
        record = memory(h)
        assert record["primary"] == "shop-b", f"seed {SEED}"
        assert len(record["automatic_failovers"]) == 1, f"seed {SEED}"  # type: ignore[arg-type]
