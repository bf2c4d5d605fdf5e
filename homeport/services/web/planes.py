"""The etcd members and control planes for the page, re-read every few seconds in a
worker thread (``ha.status.coordination_document`` is a blocking client with short
timeouts), so rendering the page never waits on etcd."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from homeport.controller.config import Settings
from homeport.services.ha.status import coordination_document

log = logging.getLogger(__name__)
REFRESH_SECONDS = 5.0


class PlanesView:
    def __init__(self, settings: Settings, *, refresh: float = REFRESH_SECONDS) -> None:
        self.settings = settings
        self.refresh = refresh
        self.latest: dict[str, Any] | None = None

    def __call__(self) -> dict[str, Any] | None:
        return self.latest

    async def run(self, stop: asyncio.Event) -> None:
        if self.settings.coordination.backend != "etcd":
            return
        while not stop.is_set():
            try:
                self.latest = await asyncio.to_thread(
                    coordination_document, self.settings.coordination
                )
            except Exception:  # the page shows the last answer; the daemon carries on
                log.exception("reading etcd's members for the status page failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.refresh)
