"""A pair's replication channel and self-fence guard on the simulator: one key per pair
and direction, restricted to the receive wrapper; the guard installed beside the App's
unit and the primary's lease renewed; all of it removed with the pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.reconcilers.standbypair.replkeys import key_path
from homeport.reconcilers.standbypair.selffence import LEASE_DIR, guard_unit
from testkit.harness import EstateHarness, until

pytestmark = pytest.mark.integration
PAIR_ESTATE = Path(__file__).parents[2] / "scenarios" / "pair_estate" / "estate.yaml"
FENCED = "  failover: {maxPerHour: 5}\n  selfFence: {enabled: true}\n"
UNIT = "homeport-shop-a.service"


def estate(tmp_path: Path) -> tuple[Path, str]:
    text = PAIR_ESTATE.read_text().replace("  failover: {maxPerHour: 5}\n", FENCED)
    assert FENCED in text
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "estate.yaml").write_text(text)
    return folder, text


def address(h: EstateHarness, vm: str) -> str:
    found = h.object("VM", vm)
    assert found is not None
    return str(found.status.details["address"])


async def read(h: EstateHarness, host: str, path: str) -> str:
    return ((await h.clients.ssh.read_file(host, path)) or b"").decode()


async def test_the_channel_is_restricted_and_leaves_with_the_pair(tmp_path: Path) -> None:
    folder, text = estate(tmp_path)
    async with EstateHarness.running(tmp_path, manifests=folder) as h:
        await h.converged(timeout=90)
        primary, standby = address(h, "shop-a"), address(h, "shop-b")
        keys = await read(h, standby, "/root/.ssh/authorized_keys")
        ours = [line for line in keys.splitlines() if "homeport-replica" in line]
        assert len(ours) == 1, keys
        assert ours[0].startswith(
            'restrict,command="/usr/local/sbin/homeport-replica receive shop /srv/apps/shop-b/data" ssh-ed25519 '
        )
        assert ours[0].endswith(" homeport-replica:shop:shop-a>shop-b")
        assert "homeport-replica" not in await read(h, primary, "/root/.ssh/authorized_keys")
        assert "PRIVATE KEY" in await read(h, primary, key_path("shop"))
        assert await read(h, standby, key_path("shop")) == ""  # one direction only
        # The guard runs beside each App's unit; only the primary holds a lease.
        systemd = h.clients.systemd
        assert await systemd.is_active(primary, guard_unit(UNIT))
        assert await systemd.is_active(standby, guard_unit("homeport-shop-b.service"))
        await until(
            lambda: (
                bool(h.estate.guests)  # the renewal loop arms the primary
                and (h.estate.guests.disk_path(_vmid(h, "shop-a")) / LEASE_DIR[1:] / UNIT).is_file()
            ),
            what="the primary's lease",
        )
        assert not (
            h.estate.guests.disk_path(_vmid(h, "shop-b"))  # type: ignore[union-attr]
            / LEASE_DIR[1:]
            / "homeport-shop-b.service"
        ).exists()

        without = text.split("---\napiVersion: homeport.dev/v1alpha1\nkind: StandbyPair")[0]
        without += (
            "---\napiVersion: homeport.dev/v1alpha1\nkind: ProxyRoute\nmetadata: {name: shop}\n"
            "spec: {host: shop.example.com, app: shop-a}\n"
        )
        await h.push({"manifests/estate.yaml": without}, "the pair goes")
        await until(lambda: h.object("StandbyPair", "shop") is None, timeout=60, what="pair gone")
        keys = await read(h, standby, "/root/.ssh/authorized_keys")
        assert "homeport-replica" not in keys
        assert await read(h, primary, key_path("shop")) == ""
        assert not await systemd.is_active(primary, guard_unit(UNIT))
        assert await read(h, primary, f"/etc/systemd/system/{guard_unit(UNIT)}") == ""
        assert await systemd.is_active(primary, UNIT)  # the App itself is left as it is


def _vmid(h: EstateHarness, vm: str) -> int:
    found = h.object("VM", vm)
    assert found is not None
    return int(found.status.details["vmid"])
