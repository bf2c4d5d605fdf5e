"""`homeport failover|failback|describe|suspend|resume|reconcile` against a live estate."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from homeport.cli.main import app
from testkit.harness import EstateHarness, until

pytestmark = pytest.mark.integration
ESTATE = Path(__file__).parents[1] / "scenarios" / "pair_estate"


async def cli(h: EstateHarness, *args: str) -> Result:
    """Run the CLI in a thread: the daemon keeps running in this event loop meanwhile."""
    argv = [*args, "--config", str(h.estate.config_path)]
    return await asyncio.to_thread(CliRunner().invoke, app, argv)


def memory(h: EstateHarness) -> dict[str, object]:
    return h.pair_memory("shop")


async def test_switchover_failback_and_the_timeline(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path, manifests=ESTATE) as h:
        await h.converged(timeout=60)
        await until(lambda: bool(memory(h).get("established")), what="pair established")
        result = await cli(h, "failover", "shop", "--wait", "30")
        assert result.exit_code == 0, result.output
        assert "done: shop-a → shop-b (epoch 2)" in result.output
        assert (await h.through_caddy("shop.example.com")).json()["app"] == "homeport-shop-b"
        await until(
            lambda: memory(h).get("phase") == "Healthy" and memory(h).get("last_sync") is not None,
            what="pair Healthy after the switchover",
        )

        described = await cli(h, "describe", "standbypair", "shop")
        assert described.exit_code == 0, described.output
        assert (
            "epoch 2: failover shop-a → shop-b, completed, data-loss window 0.0s"
            in described.output
        )
        for phase in ("Fencing", "IngressCut", "Fenced", "FinalSync", "Promoted", "Rerouted"):
            assert phase in described.output
        document = json.loads(
            (await cli(h, "describe", "standbypair", "shop", "-o", "json")).stdout
        )
        assert document["failovers"][-1]["to_app"] == "shop-b"

        await h.converged({"StandbyPair"}, timeout=30)
        back = await cli(h, "failback", "shop", "--wait", "30")
        assert back.exit_code == 0, back.output
        assert "done: shop-b → shop-a (epoch 3)" in back.output
        assert (await h.through_caddy("shop.example.com")).json()["app"] == "homeport-shop-a"


async def test_suspend_resume_and_reconcile(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path, manifests=ESTATE) as h:
        await h.converged(timeout=60)
        assert (await cli(h, "suspend", "app", "shop-b")).exit_code == 0
        await until(
            lambda: any(
                c.reason == "Suspended" for c in h.object("App", "shop-b").status.conditions
            ),  # type: ignore[union-attr]
            what="suspended",
        )
        listed = await cli(h, "get", "apps")
        row = next(line for line in listed.output.splitlines() if "shop-b" in line)
        assert "Suspended" in row, listed.output
        described = await cli(h, "describe", "app", "shop-b")
        assert "suspended by `homeport suspend` at" in described.output
        assert "homeport resume app shop-b" in described.output
        assert (await cli(h, "resume", "app", "shop-b")).exit_code == 0
        assert (await cli(h, "reconcile", "app", "shop-b")).exit_code == 0
        await until(
            lambda: h.object("App", "shop-b").status.conditions[1].reason != "Suspended",  # type: ignore[union-attr]
            what="resumed",
        )
        missing = await cli(h, "reconcile", "app", "nope")
        assert missing.exit_code == 1
        assert "App/nope not found" in missing.output
