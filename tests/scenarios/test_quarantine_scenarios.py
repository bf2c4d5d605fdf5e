"""A returned old primary that could not be stopped at the failover: stopped once, first,
before it is redeployed as the standby (never a stop/restart fight with its App), and
the timeline says what happened to the refused stop.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx

from homeport.controller.store import Store
from homeport.controller.store.records import Event
from testkit.harness import until
from tests.scenarios.test_failover_scenarios import UNIT, Scenario, pair

__all__ = ["pair"]  # the fixture, shared with the failover scenarios


def _events(scenario: Scenario, kind: str, name: str) -> list[Event]:
    store = Store.open(scenario.h.settings.store.path, readonly=True)
    try:
        return store.events.for_object(kind, name, limit=1000)
    finally:
        store.close()


def _stops(scenario: Scenario) -> list[Event]:
    return [e for e in _events(scenario, "StandbyPair", "shop") if e.reason == "quarantine"]


async def test_a_refused_stop_is_said_and_the_returned_primary_is_stopped_once(
    pair: Scenario,
) -> None:
    faults = pair.h.estate.pve.faults  # type: ignore[union-attr]
    faults.api_error(r"/status/stop$", method="POST", status=500, message="VM is in a bad state")
    vmid, _ = pair.vm("shop-a")
    pair.h.estate.guests.fail_app(vmid, UNIT, 500)  # type: ignore[union-attr]
    await pair.wait_promoted()
    fenced = next(s["detail"] for s in pair.failovers()[-1]["timeline"] if s["phase"] == "Fenced")
    assert "answered but refused to stop VM" in fenced, fenced
    assert "unreachable" not in fenced, fenced
    faults.clear()
    pair.h.estate.guests.heal_app(vmid, UNIT)  # type: ignore[union-attr]
    await pair.wait_healthy()
    # One stop, one event: the old primary was stopped once, then rejoined as the standby.
    assert len(_stops(pair)) == 1, [e.message for e in _stops(pair)]
    app_events = [e for e in _events(pair, "App", "shop-a") if e.at >= _stops(pair)[0].at]
    assert sum(e.reason == "restart" for e in app_events) <= 1, [e.message for e in app_events]
    pair.traffic.check_one_primary_at_a_time()


async def test_a_partitioned_primary_is_stopped_first_when_the_partition_heals(
    pair: Scenario,
) -> None:
    details = pair.h.object("App", "shop-a").status.details  # type: ignore[union-attr]
    direct = f"http://{details['address']}:{details['port']}/"
    pair.h.estate.pve.faults.partition_node("pve1")  # type: ignore[union-attr]
    await pair.wait_promoted()
    assert pair.memory()["quarantine"]["app"] == "shop-a"  # the quorate path quarantines too
    answers: list[tuple[datetime, int | None]] = []
    stop = asyncio.Event()

    async def watch() -> None:
        """The old primary on its own address, as a client on the tailnet sees it."""
        async with httpx.AsyncClient(timeout=0.5, trust_env=False) as client:
            while not stop.is_set():
                try:
                    body = (await client.get(direct)).json()
                    answers.append((datetime.now(UTC), body.get("epoch")))
                except (httpx.HTTPError, ValueError):
                    pass
                await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    pair.h.estate.pve.faults.recover_node("pve1")  # type: ignore[union-attr]
    try:
        await until(lambda: bool(_stops(pair)), timeout=30, what="the returned primary stopped")
        await pair.wait_healthy(timeout=90)
    finally:
        stop.set()
        await watcher
    stopped_at = datetime.fromisoformat(_stops(pair)[0].at)
    # Demoted first: the first thing done to it was the stop, never a restart by its App
    # (which would fight the stop and let the old primary serve meanwhile).
    started = datetime.fromisoformat(pair.failovers()[-1]["started_at"])
    restarts = [
        e.message
        for e in _events(pair, "App", "shop-a")
        if e.reason == "restart" and started < datetime.fromisoformat(e.at) < stopped_at
    ]
    assert restarts == []
    assert len(_stops(pair)) == 1
    # After the stop it answers only as the standby of the current epoch.
    late = [epoch for at, epoch in answers if at > stopped_at and epoch != 2]
    assert late == [], late
    assert pair.memory()["quarantine"] is None
