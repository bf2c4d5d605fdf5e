"""What the daemon does is in its log as well as in the events: one line per action,
readiness, retry and stall, with the object, the reason and the revision as JSON fields."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from homeport.controller.logs import JsonFormatter
from tests.controller.fakes import TemporaryError
from tests.controller.test_engine import MACHINE, Harness


def json_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, str]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records]


async def test_actions_readiness_and_retries_are_logged_with_their_object(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(tmp_path)
    caplog.set_level(logging.INFO, logger="homeport")
    h.adopt(MACHINE)
    await h.drain()
    lines = json_lines(caplog)
    acted = [line for line in lines if line.get("reason") == "create"]
    assert acted and acted[0]["kind"] == "Machine" and acted[0]["name"] == "m1"
    assert "create Machine/m1" in acted[0]["message"]
    ready = [line for line in lines if line.get("reason") == "Ready"]
    assert ready and ready[0]["revision"] == "rev1" and ready[0]["level"] == "info"

    caplog.clear()
    h.world.fail_next.append(TemporaryError("Proxmox answered 503", reason="ProxmoxBusy"))
    h.engine.queue.add(("Machine", "m1"))
    await h.drain()
    retried = [line for line in json_lines(caplog) if line.get("reason") == "ProxmoxBusy"]
    assert retried and retried[0]["level"] == "warning"
    assert retried[0]["kind"] == "Machine" and "503" in retried[0]["message"]
