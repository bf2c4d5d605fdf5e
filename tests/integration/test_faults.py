"""Faults during convergence: each ends converged (or with a clear condition), never with a
duplicate or a half-written file.
"""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from homeport.controller.store import Store
from homeport.reconcilers.ownership import owner_in_description
from testkit.harness import EstateHarness, until

pytestmark = [pytest.mark.integration, pytest.mark.scenario]
ESTATE = Path(__file__).parents[1] / "scenarios" / "pair_estate"


async def one_vm_per_manifest(h: EstateHarness) -> None:
    px = h.clients.proxmox
    resources = await px.cluster_resources()
    guests = [vm for vm in resources.vms if not vm.template]
    names = sorted(vm.name or "" for vm in guests)
    assert names == ["shop-a", "shop-b"], f"duplicated or orphaned VMs: {names}"
    for vm in guests:
        config = await px.vm_config(vm.node, vm.vmid)
        assert owner_in_description(config.text("description")) == f"VM/{vm.name}"


def journal_clean(h: EstateHarness) -> None:
    store = Store.open(h.settings.store.path, readonly=True)
    try:
        entries = store.journal.entries()
    finally:
        store.close()
    clones = [e for e in entries if e.verb == "clone" and e.state == "done"]
    assert len(clones) == len({e.name for e in clones}), "a VM was cloned twice"
    assert not [e for e in entries if e.state == "intent"]


async def test_proxmox_5xx_timeouts_and_slowness(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path, manifests=ESTATE, start_daemon=False) as h:
        faults = h.estate.pve.faults  # type: ignore[union-attr]
        errors = faults.api_error(probability=0.15, status=596, message="Connection timed out")
        slow = faults.api_slow(probability=0.1, delay=0.3)
        timeouts = faults.api_timeout(r"/status/current$", method="GET", count=3)
        await h.start_daemon()
        await h.settled(timeout=150)
        faults.clear()
        await one_vm_per_manifest(h)
        journal_clean(h)
        # Each fault fired (how often depends on how many calls convergence took).
        fired = {"error": errors.hits, "slow": slow.hits, "timeout": timeouts.hits}
        assert all(fired.values()), fired


async def test_lost_response_after_a_clone_never_clones_twice(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path, manifests=ESTATE, start_daemon=False) as h:
        faults = h.estate.pve.faults  # type: ignore[union-attr]
        dropped = faults.api_drop_response(r"/clone$", method="POST", count=2)
        await h.start_daemon()
        await h.settled(timeout=120)
        await one_vm_per_manifest(h)
        journal_clean(h)
        store = Store.open(h.settings.store.path, readonly=True)
        try:
            failed = [
                e for e in store.journal.entries() if e.verb == "clone" and e.state == "failed"
            ]
        finally:
            store.close()
        assert dropped.hits == 2
        assert failed, "the dropped responses were not seen by the controller"


async def test_ssh_drops_mid_install_leave_no_half_written_file(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path, manifests=ESTATE, start_daemon=False) as h:
        guests = h.estate.guests
        assert guests is not None
        # The VM's network drops right after it ran a step of the App's install, before
        # the answer reaches homeport: timed by the guest, so each flap provably lands
        # mid-install (a fixed sleep schedule could miss the install entirely).
        flaps = [
            guests.flap_on_exec(pattern, seconds=5.0)
            for pattern in (
                r"git -C /srv/apps/shop-a/releases/\S+\.partial checkout ",
                r"sha256sum -- /etc/homeport/apps/\.shop-a\.env\.homeport-",
                r"sha256sum -- /etc/systemd/system/\.homeport-shop-a\.service\.homeport-",
            )
        ]
        await h.start_daemon()
        await h.settled(timeout=120)
        ssh = h.clients.ssh
        address = h.object("VM", "shop-a").status.details["address"]  # type: ignore[union-attr]
        env = await ssh.stat(address, "/etc/homeport/apps/shop-a.env")
        assert env is not None
        assert env.mode == 0o600
        assert b"DATABASE_URL=" in (
            await ssh.read_file(address, "/etc/homeport/apps/shop-a.env") or b""
        )
        for folder in ("/etc/homeport/apps", "/etc/systemd/system", "/srv/apps/shop-a/releases"):
            listing = await ssh.run(address, ["ls", "-1A", folder])
            leftovers = [
                n
                for n in listing.text.split()
                if n.startswith(".") or n.endswith((".partial", ".tmp"))
            ]
            assert leftovers == [], f"half-written files in {folder}: {leftovers}"
        assert [len(flap.fired) for flap in flaps] == [1, 1, 1], "a flap never landed"


async def test_caddy_down_then_back_with_an_empty_config(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path, manifests=ESTATE) as h:
        await h.settled(timeout=120)
        caddy = h.estate.caddy
        assert caddy is not None
        await caddy.stop()  # the router VM reboots: its admin API is gone, its config too
        assert h.daemon is not None and h.daemon.engine is not None
        h.daemon.engine.queue.add(("ProxyRoute", "shop"))
        await until(
            lambda: not h.object("ProxyRoute", "shop").ready, what="the route reported unhealthy"
        )  # type: ignore[union-attr]
        message = h.object("ProxyRoute", "shop").status.conditions[0].message  # type: ignore[union-attr]
        assert "Caddy" in message or "connect" in message.lower(), message
        from homeport.simulator.caddy_process import start_caddy

        port = int(caddy.admin_url.rsplit(":", 1)[1])
        h.estate.caddy = await start_caddy(caddy.directory, admin_port=port)
        h.daemon.engine.queue.add(("ProxyRoute", "shop"))
        await until(lambda: h.object("ProxyRoute", "shop").ready, timeout=60, what="the route back")  # type: ignore[union-attr]
        response = await h.through_caddy("shop.example.com")
        assert response.status_code == 200
        assert response.json()["app"] == "homeport-shop-a"


async def test_caddy_rejecting_the_config_is_a_clear_condition_then_converges(
    tmp_path: Path,
) -> None:
    """The router's Caddy comes back empty while something else holds the port homeport's
    server listens on: Caddy rejects the server block (it cannot bind), keeps its previous
    config, and says why; the route reports that, and converges once the port is free."""
    async with EstateHarness.running(tmp_path, manifests=ESTATE) as h:
        await h.settled(timeout=120)
        caddy = h.estate.caddy
        assert caddy is not None and h.daemon is not None and h.daemon.engine is not None
        http = h.estate.endpoints()["caddy"]["http"]
        host, port = http.removeprefix("http://").rsplit(":", 1)
        await caddy.stop()
        squatter = socket.socket()
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            squatter.bind((host, int(port)))
            squatter.listen()
            from homeport.simulator.caddy_process import start_caddy

            admin_port = int(caddy.admin_url.rsplit(":", 1)[1])
            h.estate.caddy = await start_caddy(caddy.directory, admin_port=admin_port)
            h.daemon.engine.queue.add(("ProxyRoute", "shop"))

            def rejected() -> str | None:
                route = h.object("ProxyRoute", "shop")
                assert route is not None
                ready = next(c for c in route.status.conditions if c.type == "Ready")
                return ready.message if ready.status == "False" else None

            await until(lambda: rejected() is not None, timeout=30, what="the rejection reported")
            message = rejected() or ""
            assert "Caddy" in message and "address already in use" in message, message
            async with httpx.AsyncClient(trust_env=False) as client:
                config = (await client.get(f"{caddy.admin_url}/config/")).json()
            assert not (config or {}).get("apps"), "a rejected load must leave Caddy unchanged"
        finally:
            squatter.close()
        h.daemon.engine.queue.add(("ProxyRoute", "shop"))
        await until(
            lambda: h.object("ProxyRoute", "shop").ready,  # type: ignore[union-attr]
            timeout=60,
            what="the route once the port is free",
        )
        response = await h.through_caddy("shop.example.com")
        assert response.status_code == 200
