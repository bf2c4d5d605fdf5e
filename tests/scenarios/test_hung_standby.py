"""A standby whose VM hangs (Proxmox says running, the guest answers nothing) is reset by
homeport after ``failover.resetStandbyAfterSeconds`` and comes back as the warm standby."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.harness import EstateHarness, until
from tests.cli.test_operate_cli import memory

pytestmark = [pytest.mark.scenario, pytest.mark.integration]
ESTATE = Path(__file__).parent / "pair_estate" / "estate.yaml"


def _standby_healthy(h: EstateHarness) -> bool:
    pair = h.object("StandbyPair", "shop")
    return pair is not None and pair.status.details.get("standbyHealthy") is True


async def test_a_hung_standby_is_reset_and_rebuilt(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    manifest = ESTATE.read_text().replace(
        "failover: {maxPerHour: 5}", "failover: {maxPerHour: 5, resetStandbyAfterSeconds: 3}"
    )
    assert "resetStandbyAfterSeconds" in manifest
    (folder / "estate.yaml").write_text(manifest)
    async with EstateHarness.running(tmp_path, manifests=folder) as h:
        await h.converged(timeout=60)
        await until(lambda: bool(memory(h).get("established")), timeout=30, what="established")
        vm = h.object("VM", "shop-b")
        assert vm is not None
        vmid = int(vm.status.details["vmid"])
        guests = h.estate.guests
        assert guests is not None
        await guests.hang_vm(vmid)
        await until(lambda: not _standby_healthy(h), timeout=30, what="standby reported down")
        await until(
            lambda: memory(h).get("standby_reset_at") is not None, timeout=60, what="the reset"
        )
        await until(lambda: _standby_healthy(h), timeout=90, what="the standby back")
        assert memory(h)["epoch"] == 1  # no failover: only the standby was reset
        assert memory(h)["phase"] == "Healthy"
        status = await h.clients.proxmox.vm_status(str(vm.status.details["node"]), vmid)
        assert status.status == "running"
