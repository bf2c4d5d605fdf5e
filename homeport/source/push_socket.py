"""The pre-receive hook asking the running daemon to judge a push: the wire, and the asking.

The hook (``hook_entry.py``) connects to ``homeport-validate.sock`` in the bare repository,
a unix stream socket the daemon serves (``push_validation.py``), sends one JSON request
and shuts its side down; the daemon answers one JSON object and closes::

    {"lines": ["OLD NEW REF", ...], "branch": "main", "subdir": ".",
     "quarantine": {"GIT_OBJECT_DIRECTORY": "...", ...}}
    {"code": 0, "messages": ["homeport: 1000 objects valid at 5f4f0b131594"]}

``quarantine`` is git's environment naming where the pushed objects are during the hook
(only in the quarantine directory until the hook accepts): the daemon cannot read them
without it. Anything but a whole answer with ``code`` exactly 0 or 1 is no answer, and
the hook then validates by itself: the daemon may make a push faster, never let one
through unjudged.

Standard library only, and no asyncio: this is on the hook's path, whose point is to
start in a few hundredths of a second.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from homeport.datagrams import unix_address

VALIDATE_SOCKET = "homeport-validate.sock"
QUARANTINE_VARIABLES = (
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_QUARANTINE_PATH",
)
MAX_REQUEST_BYTES = 1 << 20
MAX_ANSWER_BYTES = 16 << 20  # every problem of a 5000-object estate, with room
TIMEOUT_VARIABLE = "HOMEPORT_HOOK_DAEMON_TIMEOUT"
DEFAULT_TIMEOUT = 20.0  # a busy machine's daemon validating 1000 objects from cold
_CONNECT_TIMEOUT = 2.0  # a listening socket accepts at once unless its backlog is full


class PushRequest(NamedTuple):
    lines: list[str]
    branch: str
    subdir: str
    quarantine: dict[str, str]


class NoAnswer(Exception):
    """The daemon did not judge the push; ``listening`` says whether one was reached (the
    hook then tells the pusher why it validates itself)."""

    def __init__(self, why: str, *, listening: bool) -> None:
        super().__init__(why)
        self.listening = listening


def encode_request(request: PushRequest) -> bytes:
    return json.dumps(request._asdict()).encode()


def decode_request(raw: bytes) -> PushRequest:
    """The request in ``raw``; ValueError for anything not exactly of its shape."""
    data = json.loads(raw)
    if not isinstance(data, dict) or set(data) != set(PushRequest._fields):
        raise ValueError("not a push request")
    lines, branch, subdir, quarantine = (data[field] for field in PushRequest._fields)
    if not _strings(lines) or not isinstance(branch, str) or not isinstance(subdir, str):
        raise ValueError("lines, branch and subdir must be strings")
    if not isinstance(quarantine, dict) or not _strings(list(quarantine.values())):
        raise ValueError("quarantine must map names to strings")
    if not set(quarantine) <= set(QUARANTINE_VARIABLES):
        raise ValueError(f"quarantine names only {', '.join(QUARANTINE_VARIABLES)}")
    return PushRequest(lines, branch, subdir, quarantine)


def encode_answer(code: int, messages: Sequence[str]) -> bytes:
    return json.dumps({"code": code, "messages": list(messages)}).encode()


def decode_answer(raw: bytes) -> tuple[int, list[str]]:
    """(exit code, lines for the pusher); ValueError unless ``raw`` is a whole answer
    whose code is exactly 0 or 1 (never a bool, a float or a string)."""
    data = json.loads(raw)
    if not isinstance(data, dict) or set(data) != {"code", "messages"}:
        raise ValueError("not an answer")
    code, messages = data["code"], data["messages"]
    if type(code) is not int or code not in (0, 1) or not _strings(messages):
        raise ValueError("an answer's code is 0 or 1 and its messages strings")
    return code, messages


def _strings(values: object) -> bool:
    return isinstance(values, list) and all(isinstance(value, str) for value in values)


def quarantine_of(environ: Mapping[str, str]) -> dict[str, str]:
    """git's quarantine variables in the hook's environment (absolute paths: the daemon
    refuses any other)."""
    return {name: environ[name] for name in QUARANTINE_VARIABLES if name in environ}


def timeout_of(environ: Mapping[str, str]) -> float:
    """How long the hook waits for the daemon: ``HOMEPORT_HOOK_DAEMON_TIMEOUT`` seconds,
    else ``DEFAULT_TIMEOUT``."""
    try:
        seconds = float(environ.get(TIMEOUT_VARIABLE, DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT
    return seconds if seconds > 0 else DEFAULT_TIMEOUT


def ask_daemon(
    repo: Path,
    request: PushRequest,
    *,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[int, list[str]]:
    """The daemon's verdict on ``request``; raises ``NoAnswer`` when none came whole within
    ``timeout`` seconds."""
    deadline = clock() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.settimeout(min(timeout, _CONNECT_TIMEOUT))
            with unix_address(repo / VALIDATE_SOCKET) as address:
                sock.connect(address)
        except OSError as exc:
            # No daemon (no socket, or a stale one): the usual case without a daemon.
            raise NoAnswer(f"connecting: {exc}", listening=False) from None
        try:
            sock.settimeout(max(deadline - clock(), 0.001))
            sock.sendall(encode_request(request))
            sock.shutdown(socket.SHUT_WR)
            raw = _read_to_end(sock, deadline, clock)
            return decode_answer(raw)
        except (OSError, ValueError) as exc:
            raise NoAnswer(str(exc) or type(exc).__name__, listening=True) from None


def _read_to_end(sock: socket.socket, deadline: float, clock: Callable[[], float]) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        left = deadline - clock()
        if left <= 0:
            raise TimeoutError(f"no whole answer in time ({size} bytes)")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise TimeoutError(f"no whole answer in time ({size} bytes)") from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise ValueError(f"an answer over {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
