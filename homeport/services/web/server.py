"""Serving the status page inside the daemon: uvicorn on a socket bound here.

The socket is bound before serving so that ``[web] listen = "127.0.0.1:0"`` yields its
real port for the heartbeat (``homeport status`` prints the URL), and so that a port in
use is one clear log line instead of uvicorn's ``sys.exit``. A page that cannot listen
never stops the daemon: reconciling and failover matter more than the page about them.
uvicorn's own signal capture is switched off: the daemon owns SIGTERM and stops the page
through ``stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator

import uvicorn
from starlette.applications import Starlette

from homeport.controller.listen import scrape_address
from homeport.listening import listening_socket, stop_accepting

log = logging.getLogger(__name__)
GRACE_SECONDS = 1
"""How long open page streams get to finish when the daemon stops."""


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the daemon's signal handlers stay in place

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # A page polled while the daemon stops: what was just accepted is closed with the
        # rest, not left to the collector (``homeport/listening.py``).
        await stop_accepting(sock for server in self.servers for sock in server.sockets)
        await super().shutdown(sockets)


def bind(listen: str) -> socket.socket:
    """A listening socket for ``[web] listen`` (raises ``OSError`` when it cannot)."""
    host, port = scrape_address(listen, setting="[web] listen", any_port=True)
    return listening_socket(host, port)


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


async def serve(app: Starlette, sock: socket.socket, stop: asyncio.Event) -> None:
    """Serve ``app`` on ``sock`` until ``stop``; then close the streams and the socket."""
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )
    server = _EmbeddedServer(config)

    async def stop_when_asked() -> None:
        await stop.wait()
        server.should_exit = True

    stopper = asyncio.create_task(stop_when_asked())
    try:
        await server.serve(sockets=[sock])
    finally:
        stopper.cancel()
        sock.close()
