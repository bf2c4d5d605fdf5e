"""StandbyPairs of an App that does not speak HTTP (a Redis-protocol session store, no
ProxyRoute), on the simulator: probed with a TCP connect, a primary whose VM crashes or
hangs (drawn from a seeded RNG) is fenced and the standby serves, with the epoch and the
replicated data; probed with a command on the VM (``redis-cli ping``), a primary whose
process hangs while its port still accepts connections is failed over too, which a TCP
probe could not see. Replay a failure with ``TCP_PAIR_SEED=<seed>``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeport.controller.store import Store
from homeport.reconcilers.standbypair.state import parse_time
from homeport.simulator.guest.lineapp import request
from testkit.harness import EstateHarness, until
from tests.cli.test_operate_cli import cli

pytestmark = [pytest.mark.scenario, pytest.mark.integration]
ESTATE = Path(__file__).parent / "tcp_pair_estate" / "estate.yaml"
SEED = int(os.environ.get("TCP_PAIR_SEED", "1414"))
PORT = 6379
EXEC_PROBE = "{exec: {command: [/usr/bin/redis-cli, -h, 127.0.0.1, -p, '6379', ping]}"


def memory(h: EstateHarness) -> dict[str, Any]:
    return h.pair_memory("sessions")


def failovers(h: EstateHarness) -> list[dict[str, Any]]:
    store = Store.open(h.settings.store.path, readonly=True)
    try:
        return store.failovers.for_pair("sessions")
    finally:
        store.close()


def member(h: EstateHarness, app: str) -> tuple[int, str]:
    vm = h.object("VM", app)
    assert vm is not None
    return int(vm.status.details["vmid"]), str(vm.status.details["address"])


async def ask(address: str, line: str) -> str:
    async with asyncio.timeout(2):
        return await request(address, PORT, line)


def estate(tmp_path: Path, probe: str | None = None) -> Path:
    folder = tmp_path / "manifests"
    folder.mkdir()
    text = ESTATE.read_text()
    if probe is not None:
        text = text.replace("{tcp: {port: 6379}", probe)
        assert probe in text
    (folder / "estate.yaml").write_text(text)
    return folder


async def established(h: EstateHarness) -> None:
    await h.converged(timeout=90)
    await until(lambda: bool(memory(h).get("established")), timeout=30, what="pair established")
    await until(lambda: bool(memory(h).get("last_sync")), timeout=30, what="a first sync")


async def failed_over(h: EstateHarness, why: str) -> dict[str, Any]:
    await until(
        lambda: memory(h).get("epoch") == 2 and memory(h).get("phase") not in ("Fencing",),
        timeout=60,
        what=f"failover ({why})",
    )
    await until(
        lambda: bool(failovers(h)) and failovers(h)[-1].get("outcome") == "completed",
        timeout=60,
        what=f"the failover completed ({why})",
    )
    return failovers(h)[-1]


async def test_tcp_probed_pair_fails_over_when_the_primary_vm_dies(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    fault = rng.choice(["crash_vm", "hang_vm"])
    why = f"seed {SEED} (replay: TCP_PAIR_SEED={SEED}), fault {fault}"
    async with EstateHarness.running(tmp_path, manifests=estate(tmp_path), seed=SEED) as h:
        assert h.estate.guests is not None
        await established(h)
        vmid, primary = member(h, "sessions-a")
        _, standby = member(h, "sessions-b")
        written = datetime.now(UTC)
        assert await ask(primary, "SET cart-1 two-books") == "+OK", why
        # A sync that *started* after the write holds it (``last_sync`` is a sync's start:
        # one already running when the write landed may finish after it without it).
        await until(
            lambda: (parse_time(memory(h)["last_sync"]) or written) > written,
            timeout=30,
            what="a sync started after SET",
        )

        await asyncio.sleep(rng.uniform(0, 0.5))  # a seeded phase against the probe loop
        await getattr(h.estate.guests, fault)(vmid)
        record = await failed_over(h, why)

        phases = [step["phase"] for step in record["timeline"]]
        assert phases[:3] == ["FailureStarted", "Detected", "Fencing"], why
        assert phases.index("Fenced") < phases.index("Promoted") < phases.index("Rerouted"), why
        fenced = next(s["detail"] for s in record["timeline"] if s["phase"] == "Fenced")
        assert "(confirmed)" in fenced, why
        assert memory(h)["primary"] == "sessions-b", why
        # The standby serves, at the new epoch, with what was replicated before the crash.
        info = json.loads((await ask(standby, "INFO"))[1:])
        assert (info["app"], str(info["epoch"])) == ("homeport-sessions-b", "2"), why
        assert await ask(standby, "GET cart-1") == "+two-books", why
        assert await ask(standby, "PING") == "+PONG", why


async def test_exec_probed_pair_fails_over_a_hung_process(tmp_path: Path) -> None:
    """The hung process's port still accepts connections (its kernel runs), so only a
    check in the App's own protocol, run on the VM, sees it."""
    rng = random.Random(SEED)
    why = f"seed {SEED} (replay: TCP_PAIR_SEED={SEED})"
    folder = estate(tmp_path, EXEC_PROBE)
    async with EstateHarness.running(tmp_path, manifests=folder, seed=SEED) as h:
        assert h.estate.guests is not None
        await established(h)
        vmid, primary = member(h, "sessions-a")
        _, standby = member(h, "sessions-b")
        await asyncio.sleep(rng.uniform(0, 0.5))
        h.estate.guests.hang_app(vmid, "homeport-sessions-a.service")
        _, writer = await asyncio.open_connection(primary, PORT)  # still accepts
        writer.close()

        record = await failed_over(h, why)
        detected = next(s["detail"] for s in record["timeline"] if s["phase"] == "Detected")
        assert "timeout" in detected, why
        assert memory(h)["primary"] == "sessions-b", why
        info = json.loads((await ask(standby, "INFO"))[1:])
        assert (info["app"], str(info["epoch"])) == ("homeport-sessions-b", "2"), why


async def test_a_pair_without_a_route_switches_over_from_the_cli(tmp_path: Path) -> None:
    """`homeport failover` needs no ProxyRoute: the planned switchover stops the old
    primary's App, syncs and promotes (a write just before it survives), and `homeport
    status`, `describe` and the status page show the pair."""
    async with EstateHarness.running(tmp_path, manifests=estate(tmp_path), seed=SEED) as h:
        await established(h)
        _, primary = member(h, "sessions-a")
        _, standby = member(h, "sessions-b")
        assert await ask(primary, "SET order-7 paid") == "+OK"
        result = await cli(h, "failover", "sessions", "--wait", "30")
        assert result.exit_code == 0, result.output
        assert "done: sessions-a → sessions-b (epoch 2)" in result.output
        assert await ask(standby, "GET order-7") == "+paid"
        described = await cli(h, "describe", "standbypair", "sessions")
        assert "data-loss window 0.0s" in described.output, described.output
        assert "IngressCut" in described.output  # recorded, with nothing to cut
        await until(lambda: memory(h).get("phase") == "Healthy", timeout=60, what="Healthy")
        await h.converged({"StandbyPair"}, timeout=60)
        status = await cli(h, "status")
        assert "Pair      sessions: sessions-b serves (epoch 2" in status.output, status.output
        page_url = next(
            line.split()[1] for line in status.output.splitlines() if line.startswith("Page")
        )
        async with httpx.AsyncClient(timeout=5) as http:
            page = (await http.get(page_url)).text
        assert 'data-pair="sessions" data-primary="sessions-b" data-epoch="2"' in page
