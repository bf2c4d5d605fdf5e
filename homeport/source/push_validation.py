"""The daemon judging pushes for the pre-receive hook, its models built and its per-file
results warm: the hook's own import of them is most of a push's time.

``serve_pushes`` listens on ``homeport-validate.sock`` in the bare repository while the
daemon runs (``sources.GitSource.serve_push_validation``, started by
``controller/daemon.py``); the wire is ``push_socket.py``. Each request is judged off the
event loop, one at a time, by ``hooks.judge_push`` — the function the hook runs itself when
no daemon answers — with git pointed at the push's quarantined objects (only for that
judgement's git processes) and the per-file results of the revision the daemon adopted,
read and never changed (``file_results.BorrowedFiles``): a push judged here changes
nothing the daemon applies. A request this side refuses (malformed, oversized, a
quarantine outside the repository's ``objects``) or cannot judge gets no answer, and the
hook then validates by itself: fail closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from homeport.datagrams import unix_address
from homeport.source.file_results import BorrowedFiles, FileResults
from homeport.source.hooks import judge_push
from homeport.source.push_socket import (
    MAX_REQUEST_BYTES,
    QUARANTINE_VARIABLES,
    decode_request,
    encode_answer,
)

log = logging.getLogger(__name__)
AT_ONCE = 4  # connections handled at once; more are closed (those hooks validate themselves)
READ_TIMEOUT = 10.0  # for a request, a few hundred bytes the hook sends at once


class QuarantineRefused(ValueError):
    """The request names objects outside the repository's ``objects`` directory."""


class PushValidator:
    """Answers the hook's requests for one bare repository."""

    def __init__(self, repo: Path, *, adopted: FileResults) -> None:
        self.repo = repo
        self.objects = Path(os.path.realpath(repo / "objects"))
        self.reuse = BorrowedFiles(adopted)

    def answer(self, raw: bytes) -> bytes | None:
        """The encoded verdict on the request in ``raw``; None for a request refused."""
        try:
            request = decode_request(raw)
            env = self.git_env(request.quarantine)
        except ValueError as exc:
            log.warning("push validation: request refused (%s); the hook validates itself", exc)
            return None
        code, messages = judge_push(
            self.repo,
            request.lines,
            branch=request.branch,
            subdir=request.subdir,
            reuse=self.reuse,
            env=env,
        )
        return encode_answer(code, messages)

    def git_env(self, quarantine: Mapping[str, str]) -> dict[str, str]:
        """This process's environment with the push's quarantine variables, each path
        checked to lie in the repository's ``objects`` once resolved."""
        env = {k: v for k, v in os.environ.items() if k not in QUARANTINE_VARIABLES}
        for name, value in quarantine.items():
            # Alternates are a colon-separated list (git quotes one holding a colon: such a
            # path is refused here, as not absolute).
            paths = value.split(":") if name == "GIT_ALTERNATE_OBJECT_DIRECTORIES" else [value]
            for path in paths:
                self._check_inside(name, path)
            env[name] = value
        return env

    def _check_inside(self, name: str, path: str) -> None:
        if not os.path.isabs(path):
            raise QuarantineRefused(f"{name} {path!r} is not an absolute path")
        if not Path(os.path.realpath(path)).is_relative_to(self.objects):
            raise QuarantineRefused(f"{name} {path!r} is outside {self.objects}")


async def serve_pushes(
    path: Path,
    answer: Callable[[bytes], bytes | None],
    stop: asyncio.Event,
    *,
    at_once: int = AT_ONCE,
    read_timeout: float = READ_TIMEOUT,
) -> None:
    """Answer requests at ``path`` (a stream socket, mode 0600) with ``answer``, run in a
    thread one at a time, until ``stop``; a stale socket is replaced, ours removed on the
    way out."""
    sock, inode = _bind_private(path)
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    validating = asyncio.Lock()
    running: set[asyncio.Task[None]] = set()
    try:
        sock.listen(at_once)
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), ready.set)
        async with asyncio.TaskGroup() as group:
            while await _woken(ready, stop):
                ready.clear()
                for conn in _accept_waiting(sock):
                    if len(running) >= at_once:
                        conn.close()  # busy: that hook validates itself
                        continue
                    task = group.create_task(_answer_one(conn, answer, validating, read_timeout))
                    running.add(task)
                    task.add_done_callback(running.discard)
            for task in running:
                task.cancel()  # their hooks see the connection close and validate themselves
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == inode:  # not a socket a newer daemon put there
                path.unlink()


async def _woken(ready: asyncio.Event, stop: asyncio.Event) -> bool:
    """Wait for a connection or ``stop``; False once stopped."""
    if not ready.is_set() and not stop.is_set():
        waits = {asyncio.ensure_future(ready.wait()), asyncio.ensure_future(stop.wait())}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
    return not stop.is_set()


def _accept_waiting(sock: socket.socket) -> list[socket.socket]:
    accepted: list[socket.socket] = []
    while True:
        try:
            conn, _ = sock.accept()
        except (BlockingIOError, InterruptedError):
            return accepted
        except OSError as exc:  # out of descriptors: those hooks validate themselves
            log.warning("push validation: cannot accept (%s)", exc)
            return accepted
        accepted.append(conn)


async def _answer_one(
    conn: socket.socket,
    answer: Callable[[bytes], bytes | None],
    validating: asyncio.Lock,
    read_timeout: float,
) -> None:
    loop = asyncio.get_running_loop()
    with conn:
        conn.setblocking(False)
        try:
            async with asyncio.timeout(read_timeout):
                raw = await _read_request(loop, conn)
            async with validating:
                reply = await asyncio.to_thread(answer, raw)
            if reply is not None:
                await loop.sock_sendall(conn, reply)
        except (OSError, ValueError) as exc:  # TimeoutError included
            log.info("push validation: no answer (%s); the hook validates itself", exc)
        except Exception:
            log.exception("push validation failed; the hook validates itself")


async def _read_request(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await loop.sock_recv(conn, 65536):
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise ValueError(f"a request over {MAX_REQUEST_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _bind_private(path: Path) -> tuple[socket.socket, int]:
    """A stream socket bound at ``path`` with mode 0600 from the start: bound in a new
    private directory beside it, then renamed over whatever stale socket was there (never
    a moment where another user could connect). (socket, its file's inode)."""
    staging = Path(tempfile.mkdtemp(prefix=".homeport-validate-", dir=path.parent))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with unix_address(staging / path.name) as address:
            sock.bind(address)
        os.chmod(staging / path.name, 0o600)
        os.rename(staging / path.name, path)
        return sock, os.stat(path).st_ino
    except BaseException:
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            (staging / path.name).unlink()
        raise
    finally:
        staging.rmdir()
