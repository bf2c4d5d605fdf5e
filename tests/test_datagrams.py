"""Unix datagram sockets beside a store or repository, however deep its directory."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from homeport.controller.control import send_request, serve_requests
from homeport.datagrams import SUN_PATH_MAX, receive_datagrams, send_datagram
from testkit.harness import until


def deep(tmp_path: Path) -> Path:
    directory = tmp_path / ("d" * 60) / ("e" * 60)
    directory.mkdir(parents=True)
    return directory


@pytest.mark.parametrize("depth", ["short", "deep"])
async def test_a_socket_anywhere_receives_and_is_removed_after(tmp_path: Path, depth: str) -> None:
    directory = deep(tmp_path) if depth == "deep" else tmp_path
    path = directory / "homeport.sock"
    assert (len(os.fsencode(path)) > SUN_PATH_MAX) == (depth == "deep")
    got: list[bytes] = []
    stop = asyncio.Event()

    def on_message(data: bytes) -> None:
        got.append(data)
        stop.set()

    listening = asyncio.create_task(receive_datagrams(path, on_message, stop))
    await until(path.exists, what="the socket bound")
    assert stat.S_ISSOCK(path.stat().st_mode)  # in its own directory, not elsewhere
    assert send_datagram(path, b"poke")
    await asyncio.wait_for(listening, 5)
    assert got == [b"poke"]
    assert not path.exists()
    assert not send_datagram(path, b"poke")  # nobody listens: False, no exception


async def test_the_control_socket_of_a_deep_store_carries_requests(tmp_path: Path) -> None:
    """A store deep enough that its control socket's path exceeds sun_path: the daemon
    crashed binding it and the CLI's requests were silently lost."""
    store = deep(tmp_path) / "state.db"
    seen: list[dict[str, object]] = []
    stop = asyncio.Event()

    def handle(message: dict[str, object]) -> None:
        seen.append(message)
        stop.set()

    serving = asyncio.create_task(serve_requests(store, handle, stop))
    await until(store.with_name("homeport.ctl").exists, what="the control socket bound")
    assert send_request(store, {"op": "reconcile", "kind": "VM", "name": "web"})
    await asyncio.wait_for(serving, 5)
    assert seen == [{"op": "reconcile", "kind": "VM", "name": "web"}]
