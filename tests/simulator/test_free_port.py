"""Ports picked for listeners bound a moment later stay clear of outgoing connections."""

from __future__ import annotations

import socket

from homeport.simulator.caddy_process import LOWEST, ephemeral_low, free_port


def test_a_picked_port_is_free_and_below_the_ephemeral_range() -> None:
    """``bind(0)`` gave ports from the ephemeral range, which another process's outgoing
    connection could take before Caddy bound them ("address already in use", two test
    workers side by side)."""
    low = ephemeral_low()
    ports = {free_port() for _ in range(20)}
    assert all(LOWEST <= port < low for port in ports)
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free: nobody took it
