"""spec.packages on the simulated estate: installed with apt before the App starts, read
back through dpkg-query, never installed again once present (a resync plans nothing and
dpkg's database is not rewritten), and a version the archives lack stalls the App with
apt's own error and the fix, changing nothing on the VM."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.simulator.guest.dpkg import STATUS
from testkit.harness import EstateHarness, until
from tests.reconcilers.app.estate import deploy_shop, shop_manifest

pytestmark = pytest.mark.integration


def packages(libpq5: str) -> str:
    return f"  packages:\n    - {{name: libpq5, version: {libpq5}}}\n    - {{name: curl}}\n"


async def test_packages_are_installed_once_and_a_missing_version_stalls(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path, manifests=None, start_daemon=False) as h:
        guest = await deploy_shop(h, packages("16.2-1ubuntu4"))
        status = guest.disk.host(STATUS)
        text = status.read_text()
        assert "Package: libpq5\nStatus: install ok installed\n" in text
        assert "Version: 16.2-1ubuntu4\n" in text  # pinned, not the newer candidate
        assert "Package: curl\n" in text
        written = status.stat().st_mtime_ns

        # Converged: a full resync plans nothing and apt is not run again.
        assert await h.planned_changes() == []
        assert status.stat().st_mtime_ns == written

        # A version the archives do not offer: Stalled with apt's answer, nothing changed.
        await h.push({"manifests/shop.yaml": shop_manifest(packages("99.0-1"))})
        await until(
            lambda: any(
                c.type == "Stalled" and c.status == "True"
                for c in h.object("App", "shop-a").status.conditions  # type: ignore[union-attr]
            ),
            what="the App stalled",
            timeout=60,
        )
        app = h.object("App", "shop-a")
        assert app is not None
        stalled = next(c for c in app.status.conditions if c.type == "Stalled")
        assert stalled.reason == "PackageNotFound"
        assert "E: Version '99.0-1' for 'libpq5' was not found" in stalled.message
        assert "spec.packages" in stalled.message
        assert status.stat().st_mtime_ns == written
        assert guest.systemd.units["homeport-shop-a.service"].active == "active"
