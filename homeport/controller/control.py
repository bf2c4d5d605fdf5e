"""The daemon's control socket: the CLI asks for immediate work through it.

A unix datagram socket next to the store. Messages are small JSON objects, e.g.
``{"op": "reconcile", "kind": "VM", "name": "web"}`` or ``{"op": "sync"}``. Best effort:
the daemon's periodic resync catches up anyway when nobody listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from homeport.datagrams import receive_datagrams, send_datagram


def control_socket_path(store_path: Path) -> Path:
    return store_path.with_name("homeport.ctl")


def send_request(store_path: Path, message: dict[str, Any]) -> bool:
    """Send one request to the daemon; False when it is not listening."""
    return send_datagram(control_socket_path(store_path), json.dumps(message).encode())


async def serve_requests(
    store_path: Path, handle: Callable[[dict[str, Any]], None], stop: asyncio.Event
) -> None:
    def receive(data: bytes) -> None:
        with contextlib.suppress(ValueError):
            message = json.loads(data)
            if isinstance(message, dict):
                handle(message)

    await receive_datagrams(control_socket_path(store_path), receive, stop)
