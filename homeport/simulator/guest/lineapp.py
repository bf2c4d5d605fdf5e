"""The line-protocol face of a sim app (``SIMULATE`` ``protocol=line``): an App that does
not speak HTTP, as a database or a broker does, for StandbyPairs probed with ``tcp`` or
``exec``.

The protocol is Redis's inline one (a command per line, answers ``+...`` or ``-ERR ...``,
``\\r\\n``-terminated), so a real ``redis-cli`` would talk to it:

- ``PING`` → ``+PONG``; ``INFO`` → ``+`` and the app's identity document as JSON (app,
  release, epoch: who serves);
- ``SET key value`` → ``+OK`` (stored in the app's data directory like the HTTP app's
  ``/kv``, so replication and loss can be observed), ``GET key`` → ``+value`` or ``$-1``;
- anything else → ``-ERR unknown command``.

Live faults apply as to the HTTP face: an app hang reads and never answers (the kernel
still accepts the connection: a TCP connect probe passes, a protocol-level ``exec`` check
times out); an app error answers ``-ERR`` to everything.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from homeport.listening import stop_accepting

if TYPE_CHECKING:
    from .simapp import SimApp

MAX_LINE = 64 * 1024


class LineServer:
    """One listening socket on 127.0.0.1 and its client connections."""

    def __init__(self, app: SimApp) -> None:
        self.app = app
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}
        self._stopped = False
        self._stopping = asyncio.Event()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=MAX_LINE)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self._stopped = True
        self._stopping.set()
        if self._server is not None:
            await stop_accepting(self._server.sockets)
            self._server.close()
            self._server = None
        clients, self._clients = self._clients, {}
        for writer in clients:  # the process is gone: its connections reset
            writer.transport.abort()
        # Not cancelled: each handler sees its connection gone (or the hang end) and returns
        # (asyncio 3.11's start_server reports a cancelled handler as an error).
        await asyncio.gather(*clients.values(), return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._stopped:  # accepted just before the process stopped: reset
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._clients[writer] = task
        try:
            while line := await reader.readline():
                answer = await self._answer(line.decode("utf-8", errors="replace").strip())
                writer.write(answer.encode() + b"\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self._clients.pop(writer, None)
            writer.close()

    async def _answer(self, line: str) -> str:
        fault = self.app.current_fault()
        if fault is not None and fault.mode == "hang":
            self.app.note_status(0)
            await self._stopping.wait()  # until the process stops
            raise ConnectionResetError("the app stopped")
        if fault is not None:
            self.app.note_status(fault.status)
            return "-ERR simulated failure"
        words = line.split(" ", 2)
        command = words[0].upper()
        self.app.note_status(200)
        if command == "PING" and len(words) == 1:
            return "+PONG"
        if command == "INFO" and len(words) == 1:
            return "+" + json.dumps(self.app.identity.document(), separators=(",", ":"))
        if command == "GET" and len(words) == 2:
            value = self.app.kv_read(words[1])
            return "$-1" if value is None else "+" + value.decode("utf-8", errors="replace")
        if command == "SET" and len(words) == 3:
            return self._set(words[1], words[2])
        return f"-ERR unknown command '{words[0]}'"

    def _set(self, key: str, value: str) -> str:
        try:
            self.app.kv_store(key, value.encode())
        except ValueError:
            return "-ERR invalid key"
        except OSError as exc:
            return f"-ERR {exc.strerror or exc}"
        return "+OK"


async def request(host: str, port: int, line: str) -> str:
    """One command to a line-protocol app and its answer line, without its ``\\r\\n``
    (empty when the app closed the connection): ``redis-cli`` on a guest, and tests."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(line.encode() + b"\r\n")
        await writer.drain()
        return (await reader.readline()).decode("utf-8", errors="replace").rstrip("\r\n")
    finally:
        writer.close()
