"""A release-artifact HTTP server on loopback for tests: serves tarballs built in the test
(whose SHA-256 the test computes), answers an error status or redirects on demand, and
counts the downloads so a test can prove a converged App downloads nothing."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from homeport.simulator.listeners import close_runner, serve_runner


def tarball(files: Mapping[str, bytes | str], *, top: str = "", mode: int = 0o644) -> bytes:
    """A gzipped tar archive of ``files`` (path → content), under ``top/`` when given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size, info.mode, info.uid, info.gid = len(data), mode, 1234, 1234
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class ArtifactServer:
    """``files``: path → body; ``errors``: path → status; ``redirects``: path → Location."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    downloads: Counter[str] = field(default_factory=Counter)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.downloads[path] += 1
        if path in self.redirects:
            raise web.HTTPFound(self.redirects[path])
        if path in self.errors:
            return web.Response(status=self.errors[path], text="simulated failure\n")
        if path not in self.files:
            return web.Response(status=404, text="not found\n")
        return web.Response(body=self.files[path], content_type="application/gzip")


@asynccontextmanager
async def serve_artifacts(host: str = "127.0.0.1") -> AsyncIterator[ArtifactServer]:
    server = ArtifactServer()
    app = web.Application()
    app.router.add_get("/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = await serve_runner(runner, host)
    server.url = f"http://{host}:{sock.getsockname()[1]}"
    try:
        yield server
    finally:
        await close_runner(runner, sock)
