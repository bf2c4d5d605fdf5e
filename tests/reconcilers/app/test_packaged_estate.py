"""source.none on the simulated estate: a packaged service (a model server from apt, pinned)
gets its packages, unit and env file, no release directory and no checkout; its unit runs
the binary the package installed (without the package, systemd fails it: 203/EXEC); a
converged packaged App plans nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.simulator.guest.dpkg import read_status
from testkit.harness import ROOT, EstateHarness, until
from tests.reconcilers.app.estate import vm_and_app

pytestmark = pytest.mark.integration

VERSION = "0.0.5318-1"


def manifest(packages: str) -> str:
    spec = """\
  source: {none: {}}
  user: llama
  execStart: /usr/bin/llama-server --host ${HOST} --port ${PORT}
  port: 8081
  healthCheck: {path: /health}
"""
    return vm_and_app("models", spec + packages)


async def test_a_packaged_service_runs_the_binary_its_package_installed(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path, manifests=None, start_daemon=False) as h:
        machines = (ROOT / "manifests" / "machines" / "machines.yaml").read_text()
        await h.push({"manifests/machines.yaml": machines, "manifests/models.yaml": manifest("")})
        await h.start_daemon()
        await h.converged({"Machine", "VM"}, timeout=120)
        assert h.estate.pve is not None and h.estate.guests is not None
        vmid = next(v.vmid for v in h.estate.pve.world.vms.values() if v.name == "models")
        guest = h.estate.guests.guest(vmid)

        # Nothing installs /usr/bin/llama-server yet: the unit cannot start.
        def exec_failed() -> bool:
            entries = guest.journal.entries("homeport-models.service")
            return any("status=203/EXEC" in e.message for e in entries)

        await until(exec_failed, what="203/EXEC")
        app = h.object("App", "models")
        assert app is not None and not app.ready

        packages = f"  packages: [{{name: llama.cpp, version: {VERSION}}}]\n"
        await h.push({"manifests/models.yaml": manifest(packages)})
        await h.converged({"App"}, timeout=120)
        assert read_status(guest.disk)["llama.cpp"].version == VERSION
        assert guest.disk.host("/usr/bin/llama-server").is_file()
        assert guest.systemd.units["homeport-models.service"].active == "active"
        assert not guest.disk.host("/srv/apps/models/releases").exists()
        assert not guest.disk.host("/srv/apps/models/current").exists()
        unit = guest.disk.host("/etc/systemd/system/homeport-models.service").read_text()
        assert "WorkingDirectory=/srv/apps/models/data\n" in unit
        app = h.object("App", "models")
        assert app is not None and app.status.details["release"] is None
        assert await h.planned_changes() == []
