"""Unix datagram sockets beside a file: the daemon's control socket and the git hook's poke.

A socket's path must fit in ``sun_path`` (108 bytes on Linux, the terminating NUL
included); a store or repository in a deep directory does not. Such a path is reached
through an open descriptor of its directory instead (``/proc/self/fd/N/name``), so the
socket stays where it belongs, with that directory's permissions, rather than moving to a
shared directory where another local user could take its name first.

Standard library only: the pre-receive and post-receive hooks import this, and only the
daemon, which listens, loads asyncio for it (a third of a hook's start-up).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

SUN_PATH_MAX = 107  # bytes before the terminating NUL


@contextlib.contextmanager
def unix_address(path: Path) -> Iterator[str]:
    """An address for ``path`` that ``bind``/``sendto`` accept, whatever its length."""
    if len(os.fsencode(path)) <= SUN_PATH_MAX:
        yield str(path)
        return
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{directory}/{path.name}"
    finally:
        os.close(directory)


def send_datagram(path: Path, payload: bytes) -> bool:
    """One datagram to whoever listens at ``path``; False when nobody does."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.setblocking(False)
            with unix_address(path) as address:
                sock.sendto(payload, address)
        except OSError:
            return False
    return True


async def receive_datagrams(
    path: Path, on_message: Callable[[bytes], None], stop: asyncio.Event, *, size: int = 65536
) -> None:
    """Listen at ``path`` until ``stop``, handing every datagram to ``on_message``; the
    socket file is replaced when stale and removed on the way out."""
    import asyncio  # here, not for the hooks: the listener runs in the daemon's loop

    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        with unix_address(path) as address:
            sock.bind(address)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            receive = asyncio.ensure_future(loop.sock_recv(sock, size))
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({receive, stopped}, return_when=asyncio.FIRST_COMPLETED)
            for future in (receive, stopped):
                future.cancel()
            if receive.done() and not receive.cancelled():
                on_message(receive.result())
    finally:
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
