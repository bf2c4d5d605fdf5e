"""The status page in a real browser (headless Chromium) against a simulated estate with
its daemon: everything is on the page, no secret is, it works with JavaScript off, and a
primary's crash shows up as a failover on the page that was loaded before it — no reload.

``HOMEPORT_SCREENSHOT=path.png`` keeps the screenshot (docs/status-page.png is one).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from testkit.harness import EstateHarness
from tests.browser import Browser, Tab

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.browser]

SHOP = "document.querySelector('[data-pair=\"shop\"]')"
DEPLOYED = {"Machine", "VM", "App", "ProxyRoute", "StandbyPair"}


async def until_page(tab: Tab, expression: str, *, timeout: float = 60.0, what: str) -> None:
    """Wait for ``expression`` to be true in the page (the page changes by itself)."""
    await wait_for(lambda: tab.eval(f"Boolean({expression})"), timeout=timeout, what=what)


async def wait_for(check: Callable[[], Awaitable[object]], *, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.1)


def secret_values(h: EstateHarness) -> list[str]:
    """Every value in the control plane's secrets directory (dotenv values and whole files)."""
    values = []
    for path in h.settings.secrets.directory.rglob("*"):
        if path.is_file():
            text = path.read_text().strip()
            values.append(text)
            values += [line.split("=", 1)[1] for line in text.splitlines() if "=" in line]
    return [v for v in values if len(v) >= 8]


async def test_the_page_in_a_browser_shows_the_estate_and_follows_a_failover(
    tmp_path: Path,
) -> None:
    async with EstateHarness.running(tmp_path) as h:
        await h.converged(DEPLOYED, timeout=180)
        assert h.daemon is not None and h.daemon.web_url is not None
        url = h.daemon.web_url
        secrets = secret_values(h)
        assert any(
            "SESSION_SECRET" in p.read_text() for p in h.settings.secrets.directory.rglob("*.env")
        )

        async with Browser.launch(tmp_path / "chromium") as browser, browser.tab() as tab:
            await tab.navigate(url)
            await tab.eval("window.loadedOnce = 'before the crash'")
            await until_page(
                tab,
                "document.getElementById('connection').textContent === 'live'",
                what="the live stream",
            )
            assert await tab.eval(f"{SHOP}.dataset.primary") == "shop-a"
            text = await tab.eval("document.body.innerText")
            for kind in ("Machine", "VM", "App", "ProxyRoute", "StandbyPair", "BackupPolicy"):
                assert await tab.eval(f"!!document.querySelector('[data-kind=\"{kind}\"]')"), kind
            for shown in (
                "shop-a serves",
                "standby shop-b",
                "replication lag",
                "leads (heartbeat",
                "Backups",
                "Control planes",
            ):
                assert shown in text, shown
            html = await tab.eval("document.documentElement.outerHTML")
            assert not [s for s in secrets if s in html]

            vm = h.object("VM", "shop-a")
            assert vm is not None
            await h.estate.guests.crash_vm(int(vm.status.details["vmid"]))  # type: ignore[union-attr]
            await until_page(
                tab, f"{SHOP}.dataset.primary === 'shop-b'", what="shop-b serving on the page"
            )
            await until_page(
                tab, f"{SHOP}.innerText.includes('Rerouted')", what="the failover's timeline"
            )
            # The same document all along: the stream changed it, nothing reloaded it.
            assert await tab.eval("window.loadedOnce") == "before the crash"
            assert await tab.eval("performance.getEntriesByType('navigation').length") == 1
            pair = await tab.eval(f"{SHOP}.innerText")
            assert "shop-a → shop-b" in pair and "data-loss window" in pair
            assert "Detected" in pair and "Fenced" in pair and "Promoted" in pair

            shot = await tab.screenshot(tmp_path / "page.png")
            assert shot.startswith(b"\x89PNG\r\n\x1a\n") and len(shot) > 20_000
            if os.environ.get("HOMEPORT_SCREENSHOT"):
                Path(os.environ["HOMEPORT_SCREENSHOT"]).write_bytes(shot)
            html = await tab.eval("document.documentElement.outerHTML")
            assert not [s for s in secrets if s in html]

        async with (
            Browser.launch(tmp_path / "chromium-nojs") as browser,
            browser.tab(javascript=False) as tab,
        ):
            await tab.navigate(url)
            assert (
                await tab.eval("document.getElementById('connection').textContent") == "static page"
            )
            assert "shop-b serves" in await tab.eval("document.body.innerText")

        async with httpx.AsyncClient(trust_env=False) as client:
            document = (await client.get(url + "status.json")).text
        assert "shop-b" in document and not [s for s in secrets if s in document]
