"""A real headless Chromium (Debian's ``chromium``) driven through the DevTools protocol.

The protocol is JSON over a websocket; aiohttp (already a dependency, for the simulator)
is the websocket client. ``Browser.launch`` starts Chromium on a free DevTools port (read
from its ``DevToolsActivePort`` file) with a profile of its own; ``Tab`` navigates,
evaluates JavaScript in the page and takes screenshots.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH = 1280


class BrowserError(Exception):
    """Chromium missing, not starting, or a DevTools command failing."""


@dataclass
class Tab:
    socket: aiohttp.ClientWebSocketResponse
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    events: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        await self.socket.send_json({"id": ident, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.socket.receive_json(), 30)
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return dict(message.get("result") or {})
            self.events.append(message)

    async def navigate(self, url: str) -> None:
        await self.send("Page.enable")
        self.events.clear()
        await self.send("Page.navigate", url=url)
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            message = await asyncio.wait_for(self.socket.receive_json(), 30)
            self.events.append(message)

    async def eval(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def screenshot(self, path: Path) -> bytes:
        height = int(await self.eval("document.documentElement.scrollHeight"))
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        shot = await self.send("Page.captureScreenshot", format="png")
        data = base64.b64decode(shot["data"])
        path.write_bytes(data)
        return data


@dataclass
class Browser:
    port: int
    session: aiohttp.ClientSession

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, profile: Path) -> AsyncIterator[Browser]:
        if CHROMIUM is None:
            raise BrowserError("chromium is not installed (scripts/bootstrap.sh installs it)")
        process = await asyncio.create_subprocess_exec(
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # tests may run as root (CI containers)
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            f"--window-size={WIDTH},900",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            port = await _devtools_port(profile / "DevToolsActivePort", process)
            async with aiohttp.ClientSession() as session:
                yield cls(port, session)
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 10)
                except TimeoutError:
                    process.kill()
                    await process.wait()

    @contextlib.asynccontextmanager
    async def tab(self, *, javascript: bool = True) -> AsyncIterator[Tab]:
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await client.put(f"http://127.0.0.1:{self.port}/json/new?about:blank")
            response.raise_for_status()
            target = response.json()
        async with self.session.ws_connect(
            target["webSocketDebuggerUrl"], max_msg_size=0
        ) as socket:
            tab = Tab(socket)
            if not javascript:
                await tab.send("Emulation.setScriptExecutionDisabled", value=True)
            yield tab


async def _devtools_port(path: Path, process: asyncio.subprocess.Process) -> int:
    """Chromium writes its DevTools port to the profile once it listens."""
    for _ in range(300):
        if process.returncode is not None:
            raise BrowserError(f"chromium exited with {process.returncode}")
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            return int(path.read_text().splitlines()[0])
        await asyncio.sleep(0.1)
    raise BrowserError(f"chromium wrote no {path.name} within 30 s")
