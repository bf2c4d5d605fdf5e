"""Loopback addresses for tests that boot simulated guests outside an estate."""

from __future__ import annotations

import random
import socket

_given: set[str] = set()
_pick = random.SystemRandom()


def fresh_address(second: range, port: int) -> str:
    """A loopback address (127.0.0.0/8 is all loopback) with its second octet in ``second``
    that no test of this run was given and nobody listens on (``port``) now. Random, so two
    suites side by side do not walk the same sequence (a pid-derived offset collided one
    time in fifty), and never ``.1``: the last octet of every simulated estate's addresses.
    """
    while True:
        address = f"127.{_pick.choice(second)}.{_pick.randrange(256)}.{_pick.randrange(2, 255)}"
        if address not in _given and _free(address, port):
            _given.add(address)
            return address


def _free(address: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True
