"""The daemon serves its page, beats and answers ``/readyz`` truthfully; a taken port
never stops it; ``[web] enabled = false`` opens no listener; it says ``stopped`` on exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeport.controller.config import Settings, WebSettings
from homeport.controller.daemon import Daemon
from homeport.controller.store import Store
from homeport.source.hooks import init_repository
from testkit.gitwork import WorkClone, machine
from testkit.harness import until
from tests.controller.fakes import FakeReconciler, FakeWorld

pytestmark = pytest.mark.integration


def settings_for(tmp: Path, web: dict[str, Any]) -> Settings:
    repo = init_repository(tmp / "estate.git")
    work = WorkClone(repo, tmp / "work")
    work.write("m.yaml", machine("a"))
    work.commit()
    assert work.push().returncode == 0
    return Settings.model_validate(
        {
            "store": {"path": str(tmp / "state.db")},
            "source": {"repo": str(repo), "poll_interval": 30.0},
            "controller": {"resync_interval": 60, "concurrency": 2, "drain_timeout": 5},
            "coordination": {"lease_duration": 3, "renew_interval": 0.2},
            "web": web,
        }
    )


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Daemon]:
    daemon = Daemon(
        settings=settings, reconcilers={"Machine": FakeReconciler("Machine", FakeWorld())}
    )
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    try:
        yield daemon
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def heartbeats(settings: Settings) -> list[tuple[str, str | None]]:
    store = Store.open(settings.store.path, readonly=True)
    try:
        return [(h.role, h.web_url) for h in store.heartbeats.all()]
    finally:
        store.close()


async def test_the_daemon_serves_its_page_and_is_ready_once_leading_and_synced(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, {"listen": "127.0.0.1:0"})
    async with running(settings) as daemon, httpx.AsyncClient(trust_env=False) as client:
        await until(lambda: daemon.web_url is not None, timeout=10, what="the page listening")
        url = daemon.web_url
        assert url is not None and url.startswith("http://127.0.0.1:")
        assert (await client.get(url + "healthz")).status_code == 200

        assert daemon.health is not None
        await until(
            lambda: daemon.health is not None and daemon.health.not_ready() is None,
            timeout=10,
            what="leading with a synced source",
        )
        ready = await client.get(url + "readyz")
        assert (ready.status_code, ready.text) == (200, "ready\n")
        await until(lambda: heartbeats(settings) == [("leader", url)], timeout=10, what="a beat")
        page = await client.get(url)
        assert 'data-object="Machine/a"' in page.text
        assert "leads (heartbeat" in page.text
    assert heartbeats(settings) == [("stopped", url)]
    with socket.socket() as probe:  # the listener is gone with the daemon
        host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        assert probe.connect_ex((host, int(port))) != 0


async def test_a_taken_port_leaves_the_daemon_running_without_a_page(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = settings_for(tmp_path, {"listen": f"127.0.0.1:{port}"})
        with caplog.at_level(logging.ERROR, logger="homeport.controller.daemon"):
            async with running(settings) as daemon:
                await until(
                    lambda: (
                        ("leader", None) in heartbeats(settings)
                        if settings.store.path.exists()
                        else False
                    ),
                    timeout=10,
                    what="the daemon leading without a page",
                )
                assert daemon.web_url is None
    assert f"the status page cannot listen on 127.0.0.1:{port}" in caplog.text


async def test_a_disabled_page_opens_no_listener(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, {"enabled": False})
    async with running(settings) as daemon:
        await until(
            lambda: settings.store.path.exists() and ("leader", None) in heartbeats(settings),
            timeout=10,
            what="a beat",
        )
        assert daemon.web_url is None


@pytest.mark.parametrize(
    ("listen", "error"),
    [
        ("0.0.0.0:8765", "0.0.0.0 is neither loopback nor a tailnet address"),
        ("192.168.1.5:8765", "192.168.1.5 is neither loopback nor a tailnet address"),
        ("example.com:8765", "example.com is not an IP address"),
        ("127.0.0.1", "expected host:port"),
    ],
)
def test_the_page_never_listens_on_a_public_interface(listen: str, error: str) -> None:
    with pytest.raises(
        ValueError, match=f"\\[web\\] listen '{re.escape(listen)}': {re.escape(error)}"
    ):
        WebSettings(listen=listen)


@pytest.mark.parametrize(
    "listen", ["127.0.0.1:0", "localhost:8765", "[::1]:8765", "100.101.102.103:8765"]
)
def test_loopback_and_tailnet_addresses_are_accepted(listen: str) -> None:
    assert WebSettings(listen=listen).listen == listen
