"""The "sim app": the real HTTP server a started unit runs.

``systemd.py`` starts one per active unit with the unit's environment and release
directory; ``nic.py`` publishes it on the guest's address and ``PORT``. It answers every GET
with who it is (app, VM, release, environment *names*, epoch) and keeps a tiny key/value
store on the guest disk (``rootfs.py``) so replication and data loss can be observed.

Behaviour comes from an optional ``SIMULATE`` file in the release directory, read at start
(one ``key=value`` per line, ``#`` comments):

- ``health=ok|hang|<status>``: answer normally, never answer, or answer ``<status>``;
- ``start=ok|fail``: ``fail`` makes the process exit with status 1 at start;
- ``startup_delay=<seconds>``: the port opens only after this long;
- ``crash_after=<seconds>``: the process exits with status 1 after this long;
- ``protocol=http|line``: HTTP (the default) or the line protocol of ``lineapp.py``, for
  an App that does not speak HTTP (a database, a broker).

A write is acknowledged only if its ``X-Homeport-Epoch`` (when sent) is the App's own
``HOMEPORT_EPOCH`` and, on a self-fenced pair member, its lease (``lease.py``) holds.

Live faults from ``faults.py`` (app hang, app error) override ``health``.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from homeport.simulator.listeners import close_runner, serve_runner

from . import lease
from .faults import AppFault
from .lineapp import LineServer
from .rootfs import GuestDisk

KV_KEY = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
EPOCH_HEADER = "X-Homeport-Epoch"


@dataclass(frozen=True)
class Simulate:
    health: str = "ok"
    start: str = "ok"
    startup_delay: float = 0.0
    crash_after: float | None = None
    protocol: str = "http"

    @classmethod
    def parse(cls, text: str) -> Simulate:
        values: dict[str, str] = {}
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip()
        crash = values.get("crash_after")
        return cls(
            health=values.get("health", "ok"),
            start=values.get("start", "ok"),
            startup_delay=float(values.get("startup_delay", "0") or 0),
            crash_after=float(crash) if crash else None,
            protocol=values.get("protocol", "http"),
        )

    def fault(self) -> AppFault | None:
        if self.health == "hang":
            return AppFault("hang")
        if self.health.isdigit():
            return AppFault("error", int(self.health))
        return None


@dataclass(frozen=True)
class AppIdentity:
    """What the app reports about itself; never environment values."""

    app: str
    unit: str
    vm: str
    release: str
    env_names: tuple[str, ...]
    epoch: str | None

    def document(self) -> dict[str, object]:
        epoch: object = self.epoch
        if self.epoch is not None and self.epoch.lstrip("-").isdigit():
            epoch = int(self.epoch)
        return {
            "app": self.app,
            "unit": self.unit,
            "vm": self.vm,
            "release": self.release,
            "env": list(self.env_names),
            "epoch": epoch,
        }


@dataclass
class SimApp:
    identity: AppIdentity
    disk: GuestDisk
    data_dir: str
    simulate: Simulate
    live_fault: Callable[[], AppFault | None]
    log: Callable[[str], None]
    # The process's environment, as /proc/<pid>/environ holds it: read by tests that check
    # what systemd handed the app; never served, logged or printed.
    environment: dict[str, str] = field(default_factory=dict, repr=False)
    backend_port: int = 0
    """Where it listens on 127.0.0.1 (``nic.py`` publishes it on the guest's address)."""
    _runner: web.AppRunner | None = None
    _sock: socket.socket | None = None
    _lines: LineServer | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _last_status: int | None = None

    async def start(self) -> int:
        """Serve on an ephemeral port of 127.0.0.1; returns it (``nic.py`` publishes it)."""
        if self.simulate.protocol == "line":
            self._lines = LineServer(self)
            self.backend_port = await self._lines.start()
            return self.backend_port
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.05)
        await self._runner.setup()
        self._sock = await serve_runner(self._runner, "127.0.0.1")
        self.backend_port = int(self._sock.getsockname()[1])
        return self.backend_port

    async def stop(self) -> None:
        self._stopping.set()
        if self._lines is not None:
            await self._lines.stop()
            self._lines = None
        if self._runner is not None:
            await close_runner(self._runner, self._sock)
            self._runner, self._sock = None, None

    def current_fault(self) -> AppFault | None:
        return self.live_fault() or self.simulate.fault()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        fault = self.current_fault()
        if fault is not None and fault.mode == "hang":
            self.note_status(0)
            await self._stopping.wait()
            raise web.HTTPServiceUnavailable()
        if fault is not None:
            self.note_status(fault.status)
            return web.json_response({"error": "simulated failure"}, status=fault.status)
        response = await self._answer(request)
        self.note_status(response.status)
        return response

    def note_status(self, status: int) -> None:
        if status != self._last_status:
            word = "hanging" if status == 0 else f"answering {status}"
            self.log(f"health: {word}")
            self._last_status = status

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == "/kv" and request.method == "GET":
            return web.json_response({"keys": self._kv_keys()})
        if path.startswith("/kv/"):
            return await self._kv(request, path[len("/kv/") :])
        if request.method in ("GET", "HEAD"):
            return web.json_response(self.identity.document())
        return web.json_response({"error": "method not allowed"}, status=405)

    def _stale_epoch(self, request: web.Request) -> bool:
        claimed = request.headers.get(EPOCH_HEADER)
        own = self.identity.epoch
        return claimed is not None and own is not None and claimed.strip() != own.strip()

    async def _kv(self, request: web.Request, key: str) -> web.StreamResponse:
        if not KV_KEY.match(key):
            return web.json_response({"error": "invalid key"}, status=400)
        if request.method in ("GET", "HEAD"):
            value = self.kv_read(key)
            if value is None:
                return web.json_response({"error": "not found"}, status=404)
            return web.Response(body=value, content_type="application/octet-stream")
        if request.method not in ("PUT", "POST", "DELETE"):
            return web.json_response({"error": "method not allowed"}, status=405)
        if self._stale_epoch(request):
            self.log(f"refused write of {key}: stale epoch {request.headers[EPOCH_HEADER]}")
            return web.json_response({"error": "stale epoch"}, status=409)
        if lease.lapsed(self.disk, self.identity.unit):
            # The header and HOMEPORT_EPOCH are this App's past; the lease is the pair's
            # present: once it lapsed, a standby may already serve a newer epoch.
            self.log(f"refused write of {key}: the self-fence lease lapsed")
            return web.json_response({"error": "lease lapsed"}, status=503)
        body = await request.read()
        try:
            stored = self._kv_write(key, None if request.method == "DELETE" else body)
        except OSError as exc:
            self.log(f"write of {key} failed: {exc.strerror}")
            return web.json_response({"error": exc.strerror or str(exc)}, status=500)
        document = self.identity.document()  # who acknowledged the write, and at which epoch
        return web.json_response(
            {"key": key, "stored": stored, "app": document["app"], "epoch": document["epoch"]}
        )

    def kv_read(self, key: str) -> bytes | None:
        host = self.disk.host(self.data_dir) / key
        return host.read_bytes() if KV_KEY.match(key) and host.is_file() else None

    def kv_store(self, key: str, value: bytes) -> int:
        """Store ``value`` under ``key`` (``ValueError`` for a bad key, ``OSError`` when the
        disk refuses)."""
        if not KV_KEY.match(key):
            raise ValueError(f"invalid key {key!r}")
        return self._kv_write(key, value)

    def _kv_write(self, key: str, value: bytes | None) -> int:
        directory = self.disk.host(self.data_dir)
        if value is None:
            (directory / key).unlink(missing_ok=True)
            return 0
        self.disk.require_space()
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{key}.tmp"
        with tmp.open("wb") as handle:
            handle.write(value)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(directory / key)
        return len(value)

    def _kv_keys(self) -> list[str]:
        directory = self.disk.host(self.data_dir)
        if not directory.is_dir():
            return []
        return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


def read_release(work_dir_host: os.PathLike[str] | str) -> str | None:
    """The commit checked out in a git work tree (HEAD), without running git."""
    git = os.path.join(work_dir_host, ".git")
    try:
        with open(os.path.join(git, "HEAD")) as handle:
            head = handle.read().strip()
    except OSError:
        return None
    if not head.startswith("ref: "):
        return head
    ref = head[5:]
    try:
        with open(os.path.join(git, ref)) as handle:
            return handle.read().strip()
    except OSError:
        pass
    try:
        with open(os.path.join(git, "packed-refs")) as handle:
            for line in handle:
                sha, _, name = line.strip().partition(" ")
                if name == ref:
                    return sha
    except OSError:
        pass
    return None
