"""The daemon's control socket: the CLI asks for immediate work through it.

A unix datagram socket next to the store. Messages are small JSON objects, e.g.
``{"op": "reconcile", "kind": "VM", "name": "web"}`` or ``{"op": "sync"}``. Best effort:
the daemon's periodic resync catches up anyway when nobody listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any


def control_socket_path(store_path: Path) -> Path:
    return store_path.with_name("homeport.ctl")


def send_request(store_path: Path, message: dict[str, Any]) -> bool:
    """Send one request to the daemon; False when it is not listening."""
    address = control_socket_path(store_path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(json.dumps(message).encode(), str(address))
        except OSError:
            return False
    return True


async def serve_requests(
    store_path: Path, handle: Callable[[dict[str, Any]], None], stop: asyncio.Event
) -> None:
    address = control_socket_path(store_path)
    with contextlib.suppress(FileNotFoundError):
        address.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(address))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        while not stop.is_set():
            receive = asyncio.ensure_future(loop.sock_recv(sock, 65536))
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({receive, stopped}, return_when=asyncio.FIRST_COMPLETED)
            for future in (receive, stopped):
                future.cancel()
            if receive.done() and not receive.cancelled():
                with contextlib.suppress(ValueError):
                    message = json.loads(receive.result())
                    if isinstance(message, dict):
                        handle(message)
    finally:
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            address.unlink()
