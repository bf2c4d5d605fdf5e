"""A StandbyPair failover interrupted by a change of leader completes exactly once.

The primary's VM crashes; the leading control plane starts the failover (epoch 2, phase
Fencing — shared in etcd) and is killed (``kill -9``) right then. The other plane takes
over, reads the pair's memory from etcd and carries the same failover through: one epoch
bump, one promotion, one failover record, the standby serving with epoch 2.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testkit.ha.planes import Estate, copy_manifests, running_estate

pytestmark = pytest.mark.integration
PAIR_ESTATE = Path(__file__).parents[2] / "scenarios" / "pair_estate"


async def test_failover_interrupted_by_a_leader_change_completes_once(tmp_path: Path) -> None:
    async with running_estate(tmp_path, planes=2) as world:
        cp1, cp2 = world.planes
        try:
            await cp1.start()
            assert await world.wait_leader(timeout=20) is cp1
            await cp2.start()
            copy_manifests(world.work, PAIR_ESTATE)
            world.push({}, "a standby pair")
            await wait_memory(world, lambda m: bool(m.get("established")), "pair established", 90)
            primary = next(o for o in cp1.objects() if o.key == ("VM", "shop-a"))
            guests = world.estate.guests
            assert guests is not None
            await guests.crash_vm(int(primary.status.details["vmid"]))
            await wait_memory(world, lambda m: m.get("phase") == "Fencing", "failover started", 30)
            assert cp1.daemon is not None
            await cp1.daemon.kill()
            assert await world.wait_leader(timeout=15, not_plane=cp1) is cp2
            await wait_memory(
                world,
                lambda m: m.get("epoch") == 2 and m.get("phase") == "Healthy",
                "failover completed and the standby rebuilt",
                120,
            )
            memory = await world.view.memory("StandbyPair", "shop")
            assert memory["primary"] == "shop-b" and memory["failover"] is None
            journal = [e for e in await world.view.journal() if e["kind"] == "StandbyPair"]
            done = Counter(e["verb"] for e in journal if e["state"] == "done")
            # One epoch bump: cp1 started the failover (killed right after: its intent is
            # left "interrupted", its effect — epoch 2, phase Fencing — is in the memory),
            # and cp2 carried on with it instead of starting another.
            started = [e for e in journal if e["verb"] == "failover"]
            assert len(started) == 1, started
            assert started[0]["holder"].startswith("cp1:")
            assert started[0]["state"] in ("done", "interrupted")
            assert done["promote"] == 1, done  # one promotion, by cp2
            assert done["failover-done"] == 1, done
            promote = next(e for e in journal if e["verb"] == "promote" and e["state"] == "done")
            assert promote["holder"].startswith("cp2:")
            records = await failover_records(world)
            assert [r["epoch"] for r in records] == [2], records
            assert records[0]["outcome"] == "completed"
        except BaseException:
            print(world.logs(80))
            raise


async def wait_memory(
    world: Estate, condition: Callable[[dict[str, Any]], bool], what: str, timeout: float
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition(await world.view.memory("StandbyPair", "shop")):
        if loop.time() > deadline:
            memory = await world.view.memory("StandbyPair", "shop")
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}: {memory}")
        await asyncio.sleep(0.01)


async def failover_records(world: Estate) -> list[dict[str, Any]]:
    kvs, _ = await world.view.client.range("/homeport/failover/", prefix=True)
    records = []
    for kv in kvs:
        key = kv.key.rsplit("/", 1)[-1]
        records.append({"epoch": int(key), **(kv.json() or {})})
    return records
