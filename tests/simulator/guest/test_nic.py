"""The guest NIC's forwarding: a connection both ends have finished is gone from the guest.

A real TCP stack frees a connection once each side has sent its FIN and the other read it;
the NIC sits in the middle (``nic.py``) and must do the same with its two sockets, or every
closed connection to a guest leaves two descriptors behind until the VM stops (a health
check every few seconds runs the simulator out of them, and a test's loop closes with the
sockets still open).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from homeport.simulator.guest.nic import GuestNic, NicMode, PublishedPort
from testkit.addresses import fresh_address

PORT = 8080

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An HTTP/1.0 server: one request, the answer, then the server closes first."""
    await reader.readuntil(b"\n")
    writer.write(b"pong\n")
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def answer_after_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads the whole request (until the client's FIN), answers, closes."""
    request = await reader.read()
    writer.write(request.upper())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


@pytest.fixture
async def published() -> AsyncIterator[Callable[[Serve], Awaitable[tuple[str, PublishedPort]]]]:
    servers: list[asyncio.Server] = []
    nics: list[GuestNic] = []

    async def publish(serve: Serve) -> tuple[str, PublishedPort]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        nic = GuestNic(fresh_address(range(200, 250), PORT))
        nics.append(nic)
        await nic.publish(PORT, server.sockets[0].getsockname()[1])
        await nic.set_mode(NicMode.UP)
        return nic.address, nic.ports[PORT]

    yield publish
    for nic in nics:
        await nic.close()
    for server in servers:
        server.close()
        await server.wait_closed()


async def links_gone(port: PublishedPort) -> None:
    """Until the NIC dropped every link (each close is a few loop turns, not time)."""
    async with asyncio.timeout(5):
        # the NIC has no event for "no link left" (nothing in it needs one): loop turns
        while port.links:  # noqa: ASYNC110
            await asyncio.sleep(0)


async def test_a_connection_the_server_closes_first_is_released(
    published: Callable[[Serve], Awaitable[tuple[str, PublishedPort]]],
) -> None:
    address, port = await published(answer_then_close)
    reader, writer = await asyncio.open_connection(address, PORT)
    writer.write(b"ping\n")
    assert await reader.read() == b"pong\n"  # the server's FIN reached the client
    writer.close()
    await writer.wait_closed()
    await links_gone(port)


async def test_a_connection_the_client_half_closes_first_is_released(
    published: Callable[[Serve], Awaitable[tuple[str, PublishedPort]]],
) -> None:
    address, port = await published(answer_after_eof)
    reader, writer = await asyncio.open_connection(address, PORT)
    writer.write(b"ping")
    writer.write_eof()  # the client's FIN first; the answer still comes back
    assert await reader.read() == b"PING"
    await links_gone(port)
    writer.close()
    await writer.wait_closed()
