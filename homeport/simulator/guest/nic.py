"""A guest's network interface: what the outside world can reach on ``127.0.x.y``.

Services inside a guest (``sshd.py``'s asyncssh server, ``simapp.py``'s app servers) listen
on ephemeral ports of 127.0.0.1; :class:`GuestNic` publishes them on the guest's own address
and port and forwards bytes. Owning the socket the client dials is what lets the guest-level
faults (``faults.py``) look like the real thing:

- ``UP``: forward.
- ``BLACKHOLE`` (VM hung or crashed while Proxmox says running): no byte moves on an
  established connection, and a new connection is never accepted: a frozen kernel
  completes no TCP handshake, so a client's connect times out (a TCP health probe fails
  as it would against the real VM). The listening socket stays open and homeport-sim
  stops accepting on it and fills its accept queue, so Linux drops further SYNs; the
  client's SYN retransmits get through once the VM resumes.
- ``DOWN`` (VM halted or partitioned away): listeners closed (``Connection refused``) and
  established connections reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import socket
from dataclasses import dataclass, field

BACKLOG = 128
FILL_TIMEOUT = 0.2
"""Seconds to wait for the filler's handshake (the queue may already be full)."""


class NicMode(enum.Enum):
    UP = "up"
    BLACKHOLE = "blackhole"
    DOWN = "down"


class _Half(asyncio.Protocol):
    """One side of a forwarded connection; writes what it reads to its peer."""

    def __init__(self, link: _Link) -> None:
        self.link = link
        self.transport: asyncio.Transport | None = None
        self.peer: _Half | None = None
        self._early: list[bytes] = []
        self._early_eof = False
        self.got_eof = False
        """Its socket read the other end's FIN (then forwarded it as ours to the peer)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self is self.link.client:
            self.link.connect_backend()

    def data_received(self, data: bytes) -> None:
        if self.peer is None or self.peer.transport is None:
            self._early.append(data)
        else:
            self.peer.transport.write(data)

    def eof_received(self) -> bool:
        self.got_eof = True
        if self.peer is None or self.peer.transport is None:
            self._early_eof = True
        else:
            self.forward_eof()
        return True  # half-closed: the answer may still flow the other way

    def forward_eof(self) -> None:
        assert self.peer is not None and self.peer.transport is not None
        if self.peer.transport.can_write_eof():
            self.peer.transport.write_eof()
        if self.peer.got_eof:
            # FIN both ways: the kernel frees such a connection; so must we, or its two
            # sockets stay open until the VM stops.
            self.link.finish()

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.closed(self)

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None and self.link.flowing:
            self.peer.transport.resume_reading()

    def flush_early(self) -> None:
        assert self.peer is not None and self.peer.transport is not None
        for chunk in self._early:
            self.peer.transport.write(chunk)
        self._early.clear()
        if self._early_eof:
            self.forward_eof()


@dataclass(eq=False)
class _Link:
    """A client connection to a published port and its backend connection."""

    port: PublishedPort
    client: _Half | None = None
    backend: _Half | None = None
    flowing: bool = False
    task: asyncio.Task[None] | None = None

    def connect_backend(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.port.connect_backend(self))

    def halves(self) -> list[_Half]:
        return [h for h in (self.client, self.backend) if h is not None]

    def pause(self) -> None:
        self.flowing = False
        for half in self.halves():
            if half.transport is not None and not half.transport.is_closing():
                half.transport.pause_reading()

    def resume(self) -> None:
        self.flowing = True
        for half in self.halves():
            if half.transport is not None and not half.transport.is_closing():
                half.transport.resume_reading()

    def finish(self) -> None:
        """Close both sockets once each side has sent all it will (what is buffered still goes)."""
        for half in self.halves():
            if half.transport is not None:
                half.transport.close()

    def reset(self) -> None:
        if self.task is not None:
            self.task.cancel()
        for half in self.halves():
            if half.transport is not None:
                half.transport.abort()

    def closed(self, half: _Half) -> None:
        other = self.backend if half is self.client else self.client
        if other is not None and other.transport is not None:
            other.transport.close()
        if half is self.client and self.task is not None:
            self.task.cancel()
        self.port.links.discard(self)


@dataclass(eq=False)
class PublishedPort:
    """``address:port`` on the guest, forwarded to ``127.0.0.1:backend_port``."""

    nic: GuestNic
    port: int
    backend_port: int
    sock: socket.socket | None = None
    accepting: bool = False
    adopting: set[asyncio.Task[None]] = field(default_factory=set)
    """Accepted connections on their way to becoming links."""
    filler: socket.socket | None = None
    """While frozen: a connection of our own that fills the accept queue."""
    links: set[_Link] = field(default_factory=set)

    async def listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setblocking(False)
            sock.bind((self.nic.address, self.port))
            sock.listen(BACKLOG)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self._serve()

    def _accept(self) -> _Half:
        link = _Link(self)
        link.client = _Half(link)
        self.links.add(link)
        return link.client

    def _serve(self) -> None:
        """Accept in a reader callback (never a cancelled ``sock_accept``, which can lose
        a connection it already took); stopped by ``_stop_accepting``."""
        if self.sock is not None and not self.accepting:
            asyncio.get_running_loop().add_reader(self.sock.fileno(), self._accept_ready)
            self.accepting = True

    def _accept_ready(self) -> None:
        assert self.sock is not None
        try:
            conn, peer = self.sock.accept()
        except OSError:  # nothing to accept after all, or the client gave up already
            return
        if self.filler is not None and peer == self.filler.getsockname():
            conn.close()  # our own filler, reached once the VM resumed
            self._drop_filler()
            return
        conn.setblocking(False)
        task = asyncio.get_running_loop().create_task(self._adopt(conn))
        self.adopting.add(task)
        task.add_done_callback(self.adopting.discard)

    async def _adopt(self, conn: socket.socket) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(self._accept, conn)
        except OSError:
            conn.close()

    async def _stop_accepting(self) -> None:
        if self.sock is not None and self.accepting:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.accepting = False
        # Let the connections already taken become links (a loop turn each), never cancel.
        await asyncio.gather(*self.adopting, return_exceptions=True)

    async def freeze(self) -> None:
        """Accept nothing more and make the kernel drop new SYNs (a full accept queue)."""
        await self._stop_accepting()
        self._drop_filler()
        if self.sock is None:
            return
        self.sock.listen(0)  # the queue is full with one connection waiting
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        self.filler = filler
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(FILL_TIMEOUT):
                await asyncio.get_running_loop().sock_connect(filler, (self.nic.address, self.port))

    def thaw(self) -> None:
        if self.sock is not None:
            self.sock.listen(BACKLOG)
            self._serve()  # it drops the filler's other end when it reaches it

    def _drop_filler(self) -> None:
        if self.filler is not None:
            self.filler.close()
            self.filler = None

    async def connect_backend(self, link: _Link) -> None:
        assert link.client is not None and link.client.transport is not None
        await self.nic.wait_up()
        loop = asyncio.get_running_loop()
        backend = link.backend = _Half(link)
        try:
            await loop.create_connection(lambda: backend, "127.0.0.1", self.backend_port)
        except OSError:
            link.client.transport.abort()
            return
        backend.peer, link.client.peer = link.client, backend
        link.client.flush_early()
        backend.flush_early()
        if self.nic.mode is NicMode.UP:
            link.resume()
        else:
            link.pause()

    async def close(self) -> None:
        await self._stop_accepting()
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self._drop_filler()
        for link in list(self.links):
            link.reset()
        self.links.clear()


class GuestNic:
    """The published ports of one guest and the mode its network is in."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.mode = NicMode.DOWN
        self.ports: dict[int, PublishedPort] = {}
        self._up = asyncio.Event()

    async def wait_up(self) -> None:
        await self._up.wait()

    async def publish(self, port: int, backend_port: int) -> None:
        """Expose a backend; raises ``OSError(EADDRINUSE)`` if the guest already uses it."""
        if port in self.ports:
            raise OSError(errno.EADDRINUSE, "Address already in use")
        published = PublishedPort(self, port, backend_port)
        if self.mode is not NicMode.DOWN:
            await published.listen()
        if self.mode is NicMode.BLACKHOLE:
            await published.freeze()
        self.ports[port] = published

    async def unpublish(self, port: int) -> None:
        published = self.ports.pop(port, None)
        if published is not None:
            await published.close()

    async def set_mode(self, mode: NicMode) -> None:
        previous, self.mode = self.mode, mode
        if mode is NicMode.DOWN:
            self._up.clear()
            for published in self.ports.values():
                await published.close()
            return
        if previous is NicMode.DOWN:
            for published in self.ports.values():
                await published.listen()
        for published in self.ports.values():
            if mode is NicMode.BLACKHOLE:
                await published.freeze()
            elif previous is NicMode.BLACKHOLE:
                published.thaw()
            for link in published.links:
                if mode is NicMode.UP:
                    link.resume()
                else:
                    link.pause()
        if mode is NicMode.UP:
            self._up.set()
        else:
            self._up.clear()

    async def close(self) -> None:
        await self.set_mode(NicMode.DOWN)
        self.ports.clear()
