"""Simulated servers close cleanly while clients connect (``homeport/simulator/listeners.py``).

asyncio's ``Server.close()`` races with a connection accepted one turn of the loop before
(CPython gh-109564): the half-built transport is dropped and its socket left to the
collector, which warns "unclosed transport". An App that stops while the guest's NIC or a
probe connects to it hit exactly that (the scenario suites' rare ResourceWarning). Each test
connects a plain socket, lets the loop turn 0 to 5 times, stops the server, and requires
that nothing is left for the collector to close: two turns leaked every time before.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from homeport.listening import stop_accepting
from homeport.simulator.guest.rootfs import GuestDisk
from homeport.simulator.guest.simapp import AppIdentity, SimApp, Simulate
from homeport.simulator.listeners import close_runner, serve_runner

TURNS = range(6)


def _app(tmp_path: Path, protocol: str) -> SimApp:
    identity = AppIdentity("shop", "homeport-shop.service", "vm", "r1", (), None)
    return SimApp(
        identity=identity,
        disk=GuestDisk(tmp_path),
        data_dir="/srv/apps/shop/data",
        simulate=Simulate(protocol=protocol),
        live_fault=lambda: None,
        log=lambda line: None,
    )


async def _connect_then_stop(port: int, turns: int, stop: Callable[[], Awaitable[None]]) -> None:
    client = socket.socket()
    client.setblocking(False)
    try:
        client.connect_ex(("127.0.0.1", port))
        for _ in range(turns):
            await asyncio.sleep(0)
        await stop()
    finally:
        client.close()


def _unclosed(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "unclosed" in str(w.message)]


async def _leaks(
    start: Callable[[], Awaitable[tuple[int, Callable[[], Awaitable[None]]]]],
) -> dict[int, list[str]]:
    leaked: dict[int, list[str]] = {}
    for turns in TURNS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            port, stop = await start()
            await _connect_then_stop(port, turns, stop)
            gc.collect()
        if _unclosed(caught):
            leaked[turns] = _unclosed(caught)
    return leaked


@pytest.mark.parametrize("protocol", ["http", "line"])
async def test_an_app_stopping_while_a_client_connects_leaves_nothing_open(
    tmp_path: Path, protocol: str
) -> None:
    async def start() -> tuple[int, Callable[[], Awaitable[None]]]:
        app = _app(tmp_path, protocol)
        return await app.start(), app.stop

    assert await _leaks(start) == {}


async def test_an_aiohttp_runner_on_its_own_socket_closes_cleanly() -> None:
    async def start() -> tuple[int, Callable[[], Awaitable[None]]]:
        runner = web.AppRunner(web.Application(), access_log=None, shutdown_timeout=0.05)
        await runner.setup()
        sock = await serve_runner(runner, "127.0.0.1")
        return sock.getsockname()[1], lambda: close_runner(runner, sock)

    assert await _leaks(start) == {}


async def test_an_asyncio_server_that_stops_accepting_first_closes_cleanly() -> None:
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    async def start() -> tuple[int, Callable[[], Awaitable[None]]]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)

        async def stop() -> None:
            await stop_accepting(server.sockets)
            server.close()
            await asyncio.sleep(0)  # the handler task of a connection taken just before
            for writer in writers:
                writer.close()

        return server.sockets[0].getsockname()[1], stop

    assert await _leaks(start) == {}
