"""A tap on the simulated API: every `/api2/json` request with its answer, for listeners.

`server` publishes one `Exchange` per request that got past authentication; nothing
listens in production. The test suite's vendor-schema referee (`referee`, wired in
`tests/conftest.py`) listens to check what homeport sends and what the simulator answers
against PVE's own API schema. Listeners run on the server's thread and must not raise.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Exchange:
    """One request and its answer, as they crossed the wire."""

    method: str
    path: str  # below `/api2/json`, percent-decoded: `/nodes/pve1/qemu/100/config`
    params: Mapping[str, Any]  # query + body as sent (strings, lists for repeats, JSON values)
    status: int
    data: Any  # the answer's `data` (None for an error)


Listener = Callable[[Exchange], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Call `listener` with every exchange of every simulator in this process meanwhile."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def publish(exchange: Exchange) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(exchange)
