"""Listening sockets that the simulator can close while clients connect.

asyncio's ``Server.close()`` has a race (CPython gh-109564, open in 3.11 and later): a
connection the listening socket's reader has just accepted becomes a transport one turn of
the loop later, in a task, and that transport attaches itself to its server; if the server
was closed in between, the attach fails an assertion, asyncio drops the half-built
transport without a word, and its socket stays open until the collector finds it
("unclosed transport"). Reproduced with aiohttp: a client connecting two turns of the loop
before ``AppRunner.cleanup()`` leaks every time (``tests/simulator/test_listeners.py``).

In the simulator that is ordinary, not rare: an App stops or a VM halts while the guest's
NIC, a health probe or the traffic of a test connects to it. So every simulated server
stops accepting first (its listening socket's reader removed: nothing more is accepted),
lets the connections already accepted become transports that their server knows, and only
then closes; the server's own shutdown then closes them as it closes every connection.
"""

from __future__ import annotations

import socket
import ssl

from aiohttp import web

from homeport.listening import listening_socket, stop_accepting


async def serve_runner(
    runner: web.AppRunner,
    host: str,
    port: int = 0,
    *,
    ssl_context: ssl.SSLContext | None = None,
    backlog: int = 128,
) -> socket.socket:
    """Serve a set-up aiohttp runner on a socket bound here; returns it (its port:
    ``getsockname()[1]``). Stop with ``close_runner``."""
    sock = listening_socket(host, port, backlog=backlog)
    try:
        await web.SockSite(runner, sock, ssl_context=ssl_context, backlog=backlog).start()
    except BaseException:
        sock.close()
        raise
    return sock


async def close_runner(runner: web.AppRunner, sock: socket.socket | None) -> None:
    """Stop accepting on ``sock``, then close the runner and every connection it holds."""
    if sock is not None and sock.fileno() != -1:
        await stop_accepting([sock])
    await runner.cleanup()
