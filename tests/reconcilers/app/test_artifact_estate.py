"""source.artifact on the simulated estate: the VM downloads the tarball (from a real HTTP
server on loopback), checks its SHA-256 before unpacking, and the release is named by it;
a converged App downloads nothing. A failed download retries and keeps the running
release; a checksum mismatch stalls with the fix, installs nothing and is not downloaded
again; a corrected checksum rolls the new release, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.controller.store import Store
from homeport.simulator.guest.guest import SimulatedGuest
from testkit.harness import EstateHarness, until
from tests.artifact_server import ArtifactServer, serve_artifacts, sha256_of, tarball
from tests.reconcilers.app.estate import deploy_app, vm_and_app

pytestmark = pytest.mark.integration

RELEASES = "/srv/apps/shop-a/releases"


def manifest(url: str, sha: str, *, build: str = "") -> str:
    source = f'  source:\n    artifact: {{url: "{url}", sha256: "{sha}", stripComponents: 1}}\n'
    rest = "  execStart: /srv/apps/shop-a/current/bin/shop\n  port: 8080\n"
    return vm_and_app("shop-a", source + rest + build)


def release_of(files: dict[str, str], server: ArtifactServer, path: str) -> str:
    body = tarball(files, top="shop")
    server.files[path] = body
    return sha256_of(body)


def condition(h: EstateHarness, kind: str) -> tuple[str, str] | None:
    app = h.object("App", "shop-a")
    found = [c for c in app.status.conditions if c.type == kind] if app else []
    return (found[0].status, found[0].reason) if found else None


def events(h: EstateHarness, reason: str) -> list[str]:
    store = Store.open(h.settings.store.path, readonly=True)
    try:
        found = store.events.for_object("App", "shop-a", limit=200)
        return [e.message for e in found if e.reason == reason]
    finally:
        store.close()


def leftovers(guest: SimulatedGuest) -> list[str]:
    """Anything in the releases directory that is not a whole release or its build marker."""
    names = [p.name for p in guest.disk.host(RELEASES).iterdir()]
    return [n for n in names if n.endswith((".partial", ".download"))]


def current(guest: SimulatedGuest) -> str:
    return guest.disk.host("/srv/apps/shop-a/current", follow_last=False).readlink().name


async def test_artifact_release_is_verified_idempotent_and_rolls_on_a_new_checksum(
    tmp_path: Path,
) -> None:
    build = "  build: {command: mkdir -p built, timeoutSeconds: 60}\n"
    async with (
        serve_artifacts() as server,
        EstateHarness.running(tmp_path, manifests=None, start_daemon=False) as h,
    ):
        first = release_of({"bin/shop": "one\n"}, server, "/shop-1.tar.gz")
        guest = await deploy_app(h, manifest(f"{server.url}/shop-1.tar.gz", first, build=build))
        assert guest.disk.host(f"{RELEASES}/{first}/bin/shop").read_text() == "one\n"
        assert guest.disk.owner(guest.disk.host(f"{RELEASES}/{first}/bin/shop")) == (0, 0)
        assert guest.disk.host(f"{RELEASES}/{first}/built").is_dir()
        assert current(guest) == first and leftovers(guest) == []
        app = h.object("App", "shop-a")
        assert app is not None and app.status.details["release"] == first
        assert guest.systemd.units["homeport-shop-a.service"].active == "active"

        # Converged: a full resync plans nothing and downloads nothing.
        assert await h.planned_changes() == []
        assert server.downloads["/shop-1.tar.gz"] == 1

        # The download fails: retried, the running release untouched, nothing half there.
        second = release_of({"bin/shop": "two\n"}, server, "/shop-2.tar.gz")
        server.errors["/shop-2.tar.gz"] = 503
        await h.push(
            {"manifests/shop.yaml": manifest(f"{server.url}/shop-2.tar.gz", second, build=build)}
        )
        await until(lambda: server.downloads["/shop-2.tar.gz"] >= 2, what="download retried")
        ready = h.object("App", "shop-a")
        assert ready is not None and any(
            c.reason == "DownloadFailed" and "returned error: 503" in c.message
            for c in ready.status.conditions
        )
        assert current(guest) == first and leftovers(guest) == []
        assert not guest.disk.host(f"{RELEASES}/{second}").exists()

        # The server serves it again: the new checksum is a new release, built once.
        del server.errors["/shop-2.tar.gz"]
        await until(lambda: current(guest) == second, timeout=60, what="second release")
        await h.converged({"App"})
        assert guest.disk.host(f"{RELEASES}/{second}.built").is_file()
        assert guest.disk.host(f"{RELEASES}/{first}").is_dir()  # kept for rollback
        assert await h.planned_changes() == []


async def test_a_checksum_mismatch_installs_nothing_and_stalls(tmp_path: Path) -> None:
    async with (
        serve_artifacts() as server,
        EstateHarness.running(tmp_path, manifests=None, start_daemon=False) as h,
    ):
        first = release_of({"bin/shop": "one\n"}, server, "/shop-1.tar.gz")
        guest = await deploy_app(h, manifest(f"{server.url}/shop-1.tar.gz", first))

        # Someone re-uploaded shop-2 after the manifest took its checksum.
        second = release_of({"bin/shop": "two\n"}, server, "/shop-2.tar.gz")
        served = release_of({"bin/shop": "tampered\n"}, server, "/shop-2.tar.gz")
        await h.push({"manifests/shop.yaml": manifest(f"{server.url}/shop-2.tar.gz", second)})
        await until(lambda: condition(h, "Stalled") == ("True", "ChecksumMismatch"), what="stalled")
        [event] = [e for e in events(h, "ChecksumMismatch") if "nothing was installed" in e]
        assert f"has sha256 {served}, not the {second}" in event
        assert current(guest) == first and leftovers(guest) == []
        assert not guest.disk.host(f"{RELEASES}/{second}").exists()
        assert guest.systemd.units["homeport-shop-a.service"].active == "active"

        # Looked at again: the same url and checksum are not downloaded again.
        downloads = server.downloads["/shop-2.tar.gz"]
        assert h.daemon is not None and h.daemon.engine is not None
        h.daemon.engine.queue.add(("App", "shop-a"))
        await until(
            lambda: condition(h, "Degraded") == ("True", "ChecksumMismatch"), what="degraded"
        )
        assert server.downloads["/shop-2.tar.gz"] == downloads

        # The manifest takes the checksum of what is published: it rolls.
        await h.push({"manifests/shop.yaml": manifest(f"{server.url}/shop-2.tar.gz", served)})
        await until(lambda: current(guest) == served, timeout=60, what="corrected release")
        await h.converged({"App"})
        assert guest.disk.host(f"{RELEASES}/{served}/bin/shop").read_text() == "tampered\n"
