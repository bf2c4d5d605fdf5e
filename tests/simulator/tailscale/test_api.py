"""The Tailscale API v2 of the simulated tailnet, driven with httpx, and guests joining it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import httpx
import pytest

from homeport.simulator.guest import GuestBoot, LoopbackGuestRuntime
from homeport.simulator.tailscale import Tailnet
from homeport.simulator.tailscale import tailnet as tailnet_module
from tests.simulator.guest.conftest import SimTime, describe, fresh_address, run


@pytest.fixture
async def tailnet(tmp_path: Path) -> AsyncIterator[Tailnet]:
    net = Tailnet(state_dir=tmp_path, seed=3, clock=SimTime(), api_token="tskey-api-test")
    await net.start()
    yield net
    await net.stop()


@pytest.fixture
async def api(tailnet: Tailnet) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": "Bearer tskey-api-test"}
    async with httpx.AsyncClient(base_url=tailnet.url, headers=headers, timeout=5) as client:
        yield client


async def create_key(api: httpx.AsyncClient, **create: object) -> dict[str, object]:
    body = {"capabilities": {"devices": {"create": create}}, "expirySeconds": 3600}
    response = await api.post("/api/v2/tailnet/-/keys", json=body)
    assert response.status_code == 200, response.text
    document: dict[str, object] = response.json()
    return document


async def test_auth_required(tailnet: Tailnet) -> None:
    async with httpx.AsyncClient(base_url=tailnet.url) as anonymous:
        response = await anonymous.get("/api/v2/tailnet/-/devices")
        assert response.status_code == 401
        assert "message" in response.json()
        basic = await anonymous.get("/api/v2/tailnet/-/devices", auth=("tskey-api-test", ""))
        assert basic.status_code == 200
        wrong = await anonymous.get(
            "/api/v2/tailnet/-/devices", headers={"Authorization": "Bearer tskey-api-nope"}
        )
        assert wrong.status_code == 401


async def test_keys_secret_returned_once(api: httpx.AsyncClient) -> None:
    created = await create_key(api, reusable=False, ephemeral=True, preauthorized=True,
                               tags=["tag:web"])  # fmt: skip
    assert str(created["key"]).startswith(f"tskey-auth-{created['id']}-")
    fetched = (await api.get(f"/api/v2/tailnet/-/keys/{created['id']}")).json()
    assert "key" not in fetched
    assert fetched["capabilities"]["devices"]["create"]["tags"] == ["tag:web"]
    listed = (await api.get("/api/v2/tailnet/-/keys")).json()["keys"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert (await api.delete(f"/api/v2/tailnet/-/keys/{created['id']}")).status_code == 200
    assert (await api.get(f"/api/v2/tailnet/-/keys/{created['id']}")).status_code == 404
    bad = await api.post(
        "/api/v2/tailnet/-/keys",
        json={"capabilities": {"devices": {"create": {"tags": ["web"]}}}},
    )
    assert bad.status_code == 400
    assert bad.json() == {"message": "requested tags [web] are invalid or not permitted"}
    other = await api.get("/api/v2/tailnet/someone-else.example/devices")
    assert other.status_code == 403


async def test_nodes_and_device_mutations(api: httpx.AsyncClient, tailnet: Tailnet) -> None:
    node_id = tailnet.register_node("pve1", "127.0.9.1")
    devices = (await api.get("/api/v2/tailnet/-/devices")).json()["devices"]
    assert [d["nodeId"] for d in devices] == [node_id]
    device = devices[0]
    assert device["name"] == "pve1.tail5e1f.ts.net"
    assert device["addresses"][0] == "127.0.9.1"
    assert device["addresses"][1].startswith("fd7a:115c:a1e0:")
    assert device["connectedToControl"] is True
    assert "lastSeen" not in device
    assert "clientConnectivity" not in device
    full = (await api.get(f"/api/v2/device/{node_id}", params={"fields": "all"})).json()
    assert full["distro"]["codeName"] == "noble"
    assert "clientConnectivity" in full
    by_legacy = await api.get(f"/api/v2/device/{device['id']}")
    assert by_legacy.json()["nodeId"] == node_id
    tags = await api.post(f"/api/v2/device/{node_id}/tags", json={"tags": ["tag:proxmox"]})
    assert tags.status_code == 200
    assert (await api.get(f"/api/v2/device/{node_id}")).json()["tags"] == ["tag:proxmox"]
    auth = await api.post(f"/api/v2/device/{node_id}/authorized", json={"authorized": False})
    assert auth.status_code == 200
    tailnet.set_connected(node_id, False)
    offline = (await api.get(f"/api/v2/device/{node_id}")).json()
    assert offline["connectedToControl"] is False
    assert offline["lastSeen"].endswith("Z")
    assert offline["authorized"] is False
    assert (await api.delete(f"/api/v2/device/{node_id}")).status_code == 200
    assert (await api.get(f"/api/v2/device/{node_id}")).status_code == 404


async def test_rate_limiting(api: httpx.AsyncClient, tailnet: Tailnet) -> None:
    tailnet.throttle(retry_after=7)
    limited = await api.get("/api/v2/tailnet/-/devices")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert "message" in limited.json()
    tailnet.throttle(None)
    assert (await api.get("/api/v2/tailnet/-/devices")).status_code == 200


async def test_configured_rate_limit(tmp_path: Path) -> None:
    net = Tailnet(state_dir=tmp_path, seed=1, clock=SimTime(), api_token="t", rate_limit=(2, 60))
    await net.start()
    try:
        async with httpx.AsyncClient(base_url=net.url, headers={"Authorization": "Bearer t"}) as c:
            codes = [(await c.get("/api/v2/tailnet/-/devices")).status_code for _ in range(3)]
            assert codes == [200, 200, 429]
    finally:
        await net.stop()


async def test_guest_joins_with_auth_key_and_reuse_is_refused(
    api: httpx.AsyncClient, tailnet: Tailnet, tmp_path: Path
) -> None:
    runtime = LoopbackGuestRuntime(
        state_dir=tmp_path / "guests", seed=5, clock=SimTime(), tailnet=tailnet
    )
    await runtime.start()
    key = asyncssh.generate_private_key("ssh-ed25519")
    addresses = [fresh_address(), fresh_address()]
    try:
        for vmid, address in zip((301, 302), addresses, strict=True):
            await runtime.clone_disk(9000, vmid)
            public = key.export_public_key().decode()
            boot = GuestBoot(vmid, f"app-{vmid}", "pve1", address, "ops", public, None, True)
            await runtime.boot(boot)
        auth = await create_key(api, reusable=False, preauthorized=True, tags=["tag:app"])
        first = await describe(runtime, 301, "app-301", addresses[0])
        async with await first.connect(key) as conn:
            await conn.run("install -d -m 0700 /etc/homeport", check=True, stdin=asyncssh.DEVNULL)
            async with conn.start_sftp_client() as sftp:
                async with sftp.open("/etc/homeport/ts.key", "w") as handle:
                    await handle.write(str(auth["key"]))
            up = await run(conn, "tailscale", "up", "--auth-key=file:/etc/homeport/ts.key")
            assert up.exit_status == 0, up.stderr
            assert (await run(conn, "tailscale", "ip", "-4")).stdout == f"{addresses[0]}\n"
            status = await run(conn, "tailscale", "status", "--json")
            assert '"BackendState": "Running"' in status.stdout
        devices = (await api.get("/api/v2/tailnet/-/devices")).json()["devices"]
        assert len(devices) == 1
        assert devices[0]["hostname"] == "app-301"
        assert devices[0]["addresses"][0] == addresses[0]
        assert devices[0]["tags"] == ["tag:app"]
        assert devices[0]["connectedToControl"] is True
        second = await describe(runtime, 302, "app-302", addresses[1])
        async with await second.connect(key) as conn:
            reused = await run(conn, "tailscale", "up", f"--auth-key={auth['key']}")
            assert reused.exit_status == 1
            assert reused.stderr.startswith("backend error: invalid key")
        await runtime.halt(301)
        offline = (await api.get(f"/api/v2/device/{devices[0]['nodeId']}")).json()
        assert offline["connectedToControl"] is False
    finally:
        await runtime.stop()


async def test_state_survives_restart(tmp_path: Path) -> None:
    clock = SimTime()
    first = Tailnet(state_dir=tmp_path, seed=2, clock=clock, api_token="tok")
    await first.start()
    key, secret = first.create_key(
        reusable=False, ephemeral=False, preauthorized=True, tags=["tag:a"],
        expiry_seconds=None, description="",
    )  # fmt: skip
    first.join(auth_key=secret, hostname="app", address="127.0.7.7", advertise_tags=())
    await first.stop()
    second = Tailnet(state_dir=tmp_path, seed=2, clock=clock)
    await second.start()
    try:
        async with httpx.AsyncClient(base_url=second.url, auth=("tok", "")) as client:
            devices = (await client.get("/api/v2/tailnet/-/devices")).json()["devices"]
            assert [d["hostname"] for d in devices] == ["app"]
            assert (await client.get(f"/api/v2/tailnet/-/keys/{key.id}")).json()["invalid"]
    finally:
        await second.stop()


async def test_changes_close_together_share_one_write(tmp_path: Path) -> None:
    """The file holds every device: a write per change made N joins cost N² writes' worth."""
    net = Tailnet(state_dir=tmp_path, seed=4, clock=SimTime(), api_token="tok")
    await net.start()
    writes = 0
    save = net._save

    def counted() -> None:
        nonlocal writes
        writes += 1
        save()

    net._save = counted  # type: ignore[method-assign]
    try:
        for i in range(50):
            net.register_node(f"node-{i}", f"127.0.9.{i + 1}")
        assert writes == 0  # none yet: they wait for each other
        await asyncio.sleep(tailnet_module.SAVE_DELAY * 2)
        assert writes == 1
    finally:
        await net.stop()
    reloaded = Tailnet(state_dir=tmp_path, seed=4, clock=SimTime())
    assert len(reloaded.devices) == 50
