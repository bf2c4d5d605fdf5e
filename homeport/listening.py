"""Closing an asyncio server while clients connect, without leaking what it just accepted.

asyncio's ``Server.close()`` has a race (CPython gh-109564, open in 3.11 and later): a
connection the listening socket's reader has just accepted becomes a transport one turn of
the loop later, in a task, and that transport attaches itself to its server; if the server
was closed in between, the attach fails an assertion, asyncio drops the half-built
transport without a word, and its socket stays open until the collector finds it
("unclosed transport"). ``stop_accepting`` before ``close`` removes the window: nothing
more is accepted, and what was accepted becomes a transport the server knows, which its
shutdown then closes with the others. The simulator's servers (``simulator/listeners.py``)
and the daemon's status page use it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from typing import Protocol


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


async def stop_accepting(sockets: Iterable[_HasFileno]) -> None:
    """Accept nothing more on ``sockets`` (a server's listening sockets), and let what was
    accepted become transports known to their protocols, before the server is closed."""
    loop = asyncio.get_running_loop()
    for sock in sockets:
        loop.remove_reader(sock.fileno())
    # An accepted connection becomes a transport in its task's first step (one turn), and
    # its protocol's connection_made runs one callback after that (a second turn).
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def listening_socket(host: str, port: int = 0, *, backlog: int = 128) -> socket.socket:
    """A TCP socket listening on ``host:port`` (``port`` 0: an ephemeral one), bound here so
    that its server can be given it and ``stop_accepting`` can reach it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=backlog)
