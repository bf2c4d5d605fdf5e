"""A clean first push of the example estate reads clean, and the commands that talk to
Proxmox print valid JSON/YAML in every format they offer.

Noise this guards against: ``Retrying: vmid 1000 was taken: no free vmid in [1000,
1000]`` (VMs planned together all picked the first free vmid and the reservation searched
a one-element range), ``primary failed 3 probes: address unknown`` before the pair's
members had addresses, and ``Established`` reported twice (engine and reconciler).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.controller.store import Store
from testkit.harness import EstateHarness
from tests.cli.test_scriptable import LIVE, check_format, output_commands

pytestmark = pytest.mark.integration


async def test_a_clean_first_convergence_reads_clean(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="homeport")
    async with EstateHarness.running(tmp_path) as h:
        await h.converged()
        store = Store.open(h.settings.store.path, readonly=True)
        try:
            events = store.events.recent(10_000)
        finally:
            store.close()
    warnings = [f"{e.kind}/{e.name} {e.reason}: {e.message}" for e in events if e.type == "Warning"]
    assert warnings == []
    # An object may become Ready, lose it (a peer's firewall rule) and regain it; what must
    # not happen is one thing reported twice in a row (two emitters of one event).
    last: dict[tuple[str, str], tuple[str, str]] = {}
    doubled = []
    for e in events:
        said = (e.reason.casefold(), e.message)
        if last.get((e.kind, e.name)) == said:
            doubled.append(f"{e.kind}/{e.name} {e.reason}: {e.message}")
        last[(e.kind, e.name)] = said
    assert doubled == []
    assert [e.reason for e in events if e.reason.casefold() == "established"] == [
        "Established",
        "Established",
    ]  # one per pair
    reserved = sorted(e.message for e in events if e.reason == "allocate-vmid")
    assert len(set(reserved)) == len(reserved) == 6  # each VM's own vmid, as it got it
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert logged == []


async def test_live_commands_print_every_format(tmp_path: Path) -> None:
    formats = output_commands()
    async with EstateHarness.running(tmp_path) as h:
        await h.converged()
        config = str(h.estate.config_path)

        async def cli(*args: str, code: int | tuple[int, ...] = 0) -> str:
            result = await asyncio.to_thread(CliRunner().invoke, app, [*args, "--config", config])
            codes = code if isinstance(code, tuple) else (code,)
            assert result.exit_code in codes, result.output
            errors.append(result.stderr)
            return result.stdout

        errors: list[str] = []

        seen = set()
        for fmt in formats["plan"]:
            check_format(fmt, await cli("plan", "-o", fmt, code=(0, 1)))
        seen.add("plan")
        for fmt in formats["audit"]:
            check_format(fmt, await cli("audit", "-o", fmt, code=(0, 1)))
        seen.add("audit")
        volid = ""
        for fmt in formats["backup now"]:
            parsed = check_format(fmt, await cli("backup", "now", "dev-1", "-o", fmt))
            if fmt == "json":
                volid = parsed["volid"]
        seen.add("backup now")
        for n, fmt in enumerate(formats["restore"]):
            args = ("restore", "dev-1", "--from", volid, "--as", f"dev-copy-{n}", "-o", fmt)
            check_format(fmt, await cli(*args))
        seen.add("restore")
        for fmt in ("json", "yaml"):
            check_format(fmt, await cli("estate", "shutdown", "--layer", "4", "-y", "-o", fmt))
            check_format(fmt, await cli("estate", "start", "-o", fmt))
        seen |= {"estate shutdown", "estate start"}
        assert seen == LIVE
        # Progress went to standard error as plain lines (CliRunner's stderr is a pipe):
        # no spinner frames, no colour, standard output left parseable (checked above).
        progress = "".join(errors).splitlines()
        assert "plan: observing VM/shop-a" in progress
        assert any(line.startswith("backup now: back up VM ") for line in progress)
        assert any(
            line.startswith("backup now: waiting for Proxmox task UPID:") for line in progress
        )
        assert any(line.startswith("restore: ") for line in progress)
        assert any(line.startswith("estate shutdown: ") for line in progress)
        assert not any("\x1b" in line or "\r" in line for line in progress)
