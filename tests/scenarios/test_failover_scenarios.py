"""Failover scenarios on the simulator + real Caddy, with HTTP traffic flowing through Caddy
for the whole test. Each asserts the outcome, that at no instant two primaries were
reachable through Caddy, and that requests failed only inside the measured outage window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from homeport.controller.store import Store
from homeport.reconcilers.standbypair.replkeys import known_hosts_path
from testkit.harness import EstateHarness, until
from testkit.traffic import Traffic

pytestmark = [pytest.mark.scenario, pytest.mark.integration]
ESTATE = Path(__file__).parent / "pair_estate"
UNIT = "homeport-shop-a.service"


@dataclass
class Scenario:
    h: EstateHarness
    traffic: Traffic

    def memory(self) -> dict[str, Any]:
        return self.h.pair_memory("shop")

    def failovers(self) -> list[dict[str, Any]]:
        store = Store.open(self.h.settings.store.path, readonly=True)
        try:
            return store.failovers.for_pair("shop")
        finally:
            store.close()

    def vm(self, name: str) -> tuple[int, str]:
        obj = self.h.object("VM", name)
        assert obj is not None
        return int(obj.status.details["vmid"]), str(obj.status.details["node"])

    async def wait_promoted(self, epoch: int = 2, timeout: float = 30) -> None:
        await until(
            lambda: self.memory().get("epoch") == epoch and self.memory().get("phase") != "Fencing",
            timeout=timeout,
            what=f"epoch {epoch}",
        )
        await until(
            lambda: "homeport-shop-b" in self.traffic.served_by(),
            timeout=timeout,
            what="traffic served by the standby",
        )
        # The standby serves the moment Caddy has the new route; the reroute is recorded in
        # the failover's timeline only once Caddy's API has answered.
        await until(
            lambda: self.rerouted(epoch), timeout=timeout, what="the reroute in the timeline"
        )

    def rerouted(self, epoch: int) -> bool:
        record = next((f for f in reversed(self.failovers()) if f.get("epoch") == epoch), None)
        return record is not None and any(
            step.get("phase") == "Rerouted" for step in record.get("timeline") or ()
        )

    async def wait_healthy(self, timeout: float = 60) -> None:
        await until(
            lambda: self.memory().get("phase") == "Healthy" and self.memory().get("epoch", 1) > 1,
            timeout=timeout,
            what="the pair Healthy again",
        )

    def condition(self, kind: str) -> tuple[str, str] | None:
        obj = self.h.object("StandbyPair", "shop")
        assert obj is not None
        found = next((c for c in obj.status.conditions if c.type == kind), None)
        return (found.status, found.message) if found else None

    def check_traffic(self, fault_at: float) -> None:
        self.traffic.check_one_primary_at_a_time()
        window = self.traffic.outage(fault_at)
        if window is not None:
            outside = self.traffic.failures_outside(fault_at + window[0], fault_at + window[1])
            assert outside == [], f"requests failed outside the outage window: {outside[:3]}"


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Scenario]:
    async with EstateHarness.running(tmp_path, manifests=ESTATE) as h:
        await h.converged(timeout=60)
        scenario = Scenario(
            h, Traffic(h.estate.endpoints()["caddy"]["http"] + "/", "shop.example.com")
        )
        await until(
            lambda: bool(scenario.memory().get("established")), timeout=30, what="pair established"
        )
        stop = asyncio.Event()
        task = asyncio.create_task(scenario.traffic.run(stop))
        await until(lambda: len(scenario.traffic.samples) > 5, what="traffic")
        try:
            yield scenario
        finally:
            stop.set()
            await task


async def test_primary_vm_crash(pair: Scenario) -> None:
    vmid, _ = pair.vm("shop-a")
    crashed = time.monotonic()
    await pair.h.estate.guests.crash_vm(vmid)
    await pair.wait_promoted()
    record = pair.failovers()[-1]
    phases = [s["phase"] for s in record["timeline"]]
    assert phases[:3] == ["FailureStarted", "Detected", "Fencing"]
    assert phases.index("Fenced") < phases.index("Promoted") < phases.index("Rerouted")
    assert "stopped on pve1 (confirmed)" in next(
        s["detail"] for s in record["timeline"] if s["phase"] == "Fenced"
    )
    assert record["rpo_seconds"] is not None
    await pair.wait_healthy()
    pair.check_traffic(crashed)
    assert pair.traffic.samples[-1].app == "homeport-shop-b"
    assert pair.traffic.samples[-1].epoch == 2


async def test_primary_node_crash(pair: Scenario) -> None:
    crashed = time.monotonic()
    pair.h.estate.pve.faults.crash_node("pve1")  # type: ignore[union-attr]
    await pair.wait_promoted()
    fenced = next(s["detail"] for s in pair.failovers()[-1]["timeline"] if s["phase"] == "Fenced")
    assert "pve1" in fenced
    pair.h.estate.pve.faults.recover_node("pve1")  # type: ignore[union-attr]
    await pair.wait_healthy(timeout=90)
    pair.check_traffic(crashed)


async def test_primary_node_partitioned(pair: Scenario) -> None:
    cut = time.monotonic()
    pair.h.estate.pve.faults.partition_node("pve1")  # type: ignore[union-attr]
    await pair.wait_promoted()
    memory = pair.memory()
    fenced = next(s["detail"] for s in pair.failovers()[-1]["timeline"] if s["phase"] == "Fenced")
    assert memory["quarantine"] is not None or "down according to the quorate cluster" in fenced, (
        fenced
    )
    pair.h.estate.pve.faults.recover_node("pve1")  # type: ignore[union-attr]
    await pair.wait_healthy(timeout=90)
    assert pair.memory()["quarantine"] is None
    pair.check_traffic(cut)


async def test_app_hangs_with_its_port_open(pair: Scenario) -> None:
    vmid, _ = pair.vm("shop-a")
    hung = time.monotonic()
    pair.h.estate.guests.hang_app(vmid, UNIT)  # type: ignore[union-attr]
    await pair.wait_promoted()
    assert pair.failovers()[-1]["trigger"] == "automatic"
    pair.h.estate.guests.heal_app(vmid, UNIT)  # type: ignore[union-attr]
    await pair.wait_healthy()
    pair.check_traffic(hung)


async def test_app_returns_500(pair: Scenario) -> None:
    vmid, _ = pair.vm("shop-a")
    broke = time.monotonic()
    pair.h.estate.guests.fail_app(vmid, UNIT, 500)  # type: ignore[union-attr]
    await pair.wait_promoted()
    pair.h.estate.guests.heal_app(vmid, UNIT)  # type: ignore[union-attr]
    await pair.wait_healthy()
    pair.check_traffic(broke)


async def test_standby_down_at_failover_time(pair: Scenario) -> None:
    standby_vmid, _ = pair.vm("shop-b")
    primary_vmid, _ = pair.vm("shop-a")
    guests = pair.h.estate.guests
    assert guests is not None
    guests.fail_app(standby_vmid, "homeport-shop-b.service", 503)
    await until(
        lambda: pair.memory().get("phase") == "Healthy" and pair.condition("Degraded") is not None,
        what="standby reported down",
    )
    guests.fail_app(primary_vmid, UNIT, 500)
    await until(
        lambda: (pair.condition("Degraded") or ("", ""))[1].find("not healthy either") >= 0,
        what="both down reported",
    )
    assert pair.memory()["epoch"] == 1  # nothing to promote: no failover
    guests.heal_app(standby_vmid, "homeport-shop-b.service")
    await pair.wait_promoted()
    # Rerouted is in the timeline once Caddy's API answered: every request sent from here
    # on reaches the healed standby (a bound in seconds after the heal measured the load)
    promoted = time.monotonic()
    guests.heal_app(primary_vmid, UNIT)
    await pair.wait_healthy()
    pair.traffic.check_one_primary_at_a_time()
    late = [s for s in pair.traffic.samples if s.at >= promoted and s.status != 200]
    assert late == [], f"requests failed after the standby was promoted: {late[:3]}"
    assert any(s.at >= promoted for s in pair.traffic.samples), "no traffic after the promotion"


async def test_replication_lag_blocks_automatic_promotion(pair: Scenario) -> None:
    ssh = pair.h.clients.ssh
    primary = pair.h.object("VM", "shop-a")
    assert primary is not None
    # Break replication the way a rotated host key would: the primary no longer trusts the standby.
    await ssh.run(
        primary.status.details["address"],
        ["rm", "-f", known_hosts_path("shop")],
    )
    await until(
        lambda: (pair.h.object("StandbyPair", "shop").status.details.get("lagSeconds") or 0) > 5,  # type: ignore[union-attr]
        timeout=30,
        what="replication lag above the maximum",
    )
    vmid, _ = pair.vm("shop-a")
    pair.h.estate.guests.fail_app(vmid, UNIT, 500)  # type: ignore[union-attr]
    await until(
        lambda: (pair.condition("Stalled") or ("", ""))[1].startswith(
            "automatic promotion refused"
        ),
        what="promotion refused for the data-loss gate",
    )
    assert pair.memory()["epoch"] == 1
    store = Store.open(
        pair.h.settings.store.path
    )  # what `homeport failover shop --accept-data-loss` writes
    try:
        store.memory.set(
            "StandbyPair.request", "shop", {"op": "failover", "accept_data_loss": True}, now="-"
        )
    finally:
        store.close()
    assert pair.h.daemon is not None and pair.h.daemon.engine is not None
    pair.h.daemon.engine.queue.add(("StandbyPair", "shop"))
    await pair.wait_promoted()
    assert pair.failovers()[-1]["trigger"] == "manual"
    assert pair.failovers()[-1]["rpo_seconds"] > 5
    pair.traffic.check_one_primary_at_a_time()


async def test_proxmox_api_down_while_fencing(pair: Scenario) -> None:
    faults = pair.h.estate.pve.faults  # type: ignore[union-attr]
    faults.api_error(
        r"/status/stop$", method="POST", status=500, message="cannot connect to pvedaemon"
    )
    vmid, _ = pair.vm("shop-a")
    broke = time.monotonic()
    pair.h.estate.guests.fail_app(vmid, UNIT, 500)  # type: ignore[union-attr]
    await pair.wait_promoted()
    assert (
        pair.memory()["quarantine"] is not None
    )  # ingress cut, primary quarantined: no split brain
    faults.clear()
    pair.h.estate.guests.heal_app(vmid, UNIT)  # type: ignore[union-attr]
    await pair.wait_healthy()
    pair.check_traffic(broke)


def _machine_object(pair: Scenario, name: str) -> tuple[str, str]:
    obj = pair.h.object("Machine", name)
    assert obj is not None
    ready = next(c for c in obj.status.conditions if c.type == "Ready")
    return ready.status, ready.reason


async def test_machine_maintenance_drains_its_primaries(pair: Scenario) -> None:
    manifest = (ESTATE / "estate.yaml").read_text()
    drained = manifest.replace(
        "spec: {node: pve1, capacity: {cores: 16, memoryMiB: 65536}}",
        "spec: {node: pve1, capacity: {cores: 16, memoryMiB: 65536}, maintenance: true}",
    )
    assert drained != manifest
    started = time.monotonic()
    await pair.h.push({"manifests/estate.yaml": drained}, "pve1 into maintenance")
    await pair.wait_promoted()
    record = pair.failovers()[-1]
    assert record["trigger"] == "maintenance"
    assert record["rpo_seconds"] == 0.0
    phases = [s["phase"] for s in record["timeline"]]
    assert phases.index("Fenced") < phases.index("Promoted") < phases.index("Rerouted")
    await until(
        lambda: _machine_object(pair, "m1") == ("False", "Maintenance"),
        timeout=30,
        what="m1 drained and in maintenance",
    )
    # A planned switchover keeps the primary's VM running (it is only drained), and the
    # other Machine is untouched.
    assert _machine_object(pair, "m2")[0] == "True"
    m2 = pair.h.object("Machine", "m2")
    assert m2 is not None
    assert m2.status.details["node"] == "pve2" and m2.status.details["cpus"] > 0
    assert m2.status.details["version"].startswith("pve-manager/")
    assert m2.status.details["firewall"] in ("on", "off")
    shop_a = pair.h.object("VM", "shop-a")
    assert shop_a is not None and shop_a.status.details["status"] == "running"
    await pair.wait_healthy()
    pair.check_traffic(started)

    # Ending maintenance makes the Machine Ready again; the pair stays where it is
    # (failing back is the operator's call: `homeport failback`).
    await pair.h.push({"manifests/estate.yaml": manifest}, "pve1 back from maintenance")
    await until(lambda: _machine_object(pair, "m1")[0] == "True", timeout=30, what="m1 Ready")
    assert pair.memory()["primary"] == "shop-b"
    assert pair.memory()["epoch"] == 2


async def test_automatic_failback_once_the_old_primary_stayed_healthy(pair: Scenario) -> None:
    manifest = (ESTATE / "estate.yaml").read_text()
    automatic = manifest.replace(
        "  failover: {maxPerHour: 5}\n",
        "  failover: {maxPerHour: 5}\n  failback: {mode: automatic, afterHealthySeconds: 3}\n",
    )
    assert automatic != manifest
    await pair.h.push({"manifests/estate.yaml": automatic}, "automatic failback")
    await until(
        lambda: pair.h.object("StandbyPair", "shop").generation > 1,  # type: ignore[union-attr]
        timeout=30,
        what="the new pair spec adopted",
    )
    vmid, _ = pair.vm("shop-a")
    crashed = time.monotonic()
    await pair.h.estate.guests.crash_vm(vmid)  # type: ignore[union-attr]
    await pair.wait_promoted()
    await until(
        lambda: pair.memory().get("epoch") == 3 and pair.memory().get("phase") == "Healthy",
        timeout=90,
        what="the failback to shop-a (epoch 3)",
    )
    back = pair.failovers()[-1]
    assert back["trigger"] == "failback" and back["rpo_seconds"] == 0.0
    assert back["from_app"] == "shop-b" and back["to_app"] == "shop-a"
    await until(
        lambda: pair.traffic.samples[-1].app == "homeport-shop-a", timeout=30, what="shop-a serves"
    )
    pair.check_traffic(crashed)
