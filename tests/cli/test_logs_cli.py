"""``homeport logs APP [-f]``: the App's journal read on its VM over SSH (strict
known_hosts, homeport's key), against the simulated estate's guests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from homeport.cli.main import app
from testkit.harness import EstateHarness
from tests.cli.test_watch import homeport

pytestmark = pytest.mark.integration
UNIT = "homeport-shop-a.service"


async def test_logs_tail_and_follow(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path) as h:
        await h.converged({"Machine", "VM", "App"})
        config = str(h.estate.config_path)
        assert h.estate.pve is not None and h.estate.guests is not None
        vmid = next(v.vmid for v in h.estate.pve.world.vms.values() if v.name == "shop-a")
        journal = h.estate.guests.guest(vmid).journal
        messages = [e.message for e in journal.entries(UNIT)]
        assert len(messages) >= 3

        tail = await asyncio.to_thread(
            CliRunner().invoke, app, ["logs", "shop-a", "-n", "3", "--config", config]
        )
        assert tail.exit_code == 0, tail.output
        lines = tail.stdout.splitlines()
        assert len(lines) == 3
        assert [line.split(": ", 1)[1] for line in lines] == messages[-3:]

        missing = await asyncio.to_thread(
            CliRunner().invoke, app, ["logs", "nope", "--config", config]
        )
        assert missing.exit_code == 1 and "App/nope not found" in missing.output

        # A real process, ended with Ctrl-C by the context manager (exit 0, no traceback).
        # In a thread: the process talks SSH to a guest this loop serves, also while it
        # closes its connection after Ctrl-C.
        loop = asyncio.get_running_loop()

        def follow() -> tuple[str, str]:
            with homeport("logs", "shop-a", "-f", "-n", "1", "--config", config) as out:
                first = out.next()
                loop.call_soon_threadsafe(
                    lambda: journal.log(
                        UNIT, "a line logged while following", identifier="sim-app", pid=42
                    )
                )
                return first, out.next()

        first, fresh = await asyncio.to_thread(follow)
        assert first.endswith(messages[-1])
        assert fresh.endswith("sim-app[42]: a line logged while following")
