"""The page's server stops cleanly while a client connects (``homeport/listening.py``):
a connection accepted a loop turn or two before the daemon stops is closed, not left to
the collector (CPython gh-109564)."""

from __future__ import annotations

import asyncio
import gc
import socket
import warnings

import uvicorn
from starlette.applications import Starlette

from homeport.services.web.server import _EmbeddedServer, bind


class _ConnectedAtShutdown(_EmbeddedServer):
    """Has a client connect just as the daemon stops the page, ``turns`` loop turns before
    the page's own shutdown runs."""

    def __init__(self, turns: int) -> None:
        super().__init__(uvicorn.Config(Starlette(), lifespan="off", log_level="warning"))
        self.turns = turns

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.should_exit = True  # the daemon stops the page as soon as it serves

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        assert sockets
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(sockets[0].getsockname())
        for _ in range(self.turns):
            await asyncio.sleep(0)
        await super().shutdown(sockets)
        client.close()


async def test_a_connection_taken_as_the_page_stops_is_closed() -> None:
    leaked: dict[int, list[str]] = {}
    for turns in range(6):
        server = _ConnectedAtShutdown(turns)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sock = bind("127.0.0.1:0")
            async with asyncio.timeout(20):  # a connection it never saw, it waits for forever
                await server.serve(sockets=[sock])
            sock.close()
            gc.collect()
        unclosed = [str(w.message) for w in caught if "unclosed" in str(w.message)]
        if unclosed:
            leaked[turns] = unclosed
    assert leaked == {}
