"""A client that goes away mid-request (a daemon killed with ``kill -9``) is no simulator
bug: the request is dropped, nothing is recorded as an internal error, the API serves on.
"""

from __future__ import annotations

import socket
import ssl
import time

from tests.simulator.proxmox.target import Target


def send_half_a_request(sim: Target) -> None:
    host, port = str(sim.kwargs["host"]), int(sim.kwargs["port"])
    context = ssl.create_default_context(cafile=str(sim.verify))
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(
            b"POST /api2/json/nodes/pve2/qemu/9001/clone HTTP/1.1\r\n"
            + f"Host: {host}:{port}\r\n".encode()
            + f"Authorization: {sim.auth_header}\r\n".encode()
            + b"Content-Type: application/x-www-form-urlencoded\r\n"
            + b"Content-Length: 400\r\n\r\nnewid=1"
        )
        time.sleep(0.2)  # let the handler start reading the body before the client vanishes
        tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def test_a_client_gone_mid_request_is_not_an_internal_error(sim: Target) -> None:
    send_half_a_request(sim)
    assert sim.api.version.get()["version"]  # the server answers the next client
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:  # the reset is handled on the simulator's loop
        assert sim.check() == []
        time.sleep(0.05)
    assert sim.check() == []
