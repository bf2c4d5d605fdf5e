"""``redis-cli`` inside a guest (package ``redis-tools``, which ``redis-server`` pulls in):
``redis-cli [-h HOST] [-p PORT] COMMAND [ARG...]`` sends one inline command to a line
protocol app (``lineapp.py``) listening on the guest and prints the answer as redis-cli
does when its output is not a terminal. The exit status is 1 when it cannot connect or
the answer is an error, 0 otherwise, so ``redis-cli ping`` serves as a StandbyPair
``exec`` probe. It waits as long as the server takes: run it under ``timeout``.
"""

from __future__ import annotations

import getopt

from homeport.simulator.guest.dpkg import read_status
from homeport.simulator.guest.lineapp import request

from .base import Completed, ExecContext

PACKAGES = ("redis-tools", "redis-server")
ANY_ADDRESS = ("0.0.0.0", "::")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _installed(ctx: ExecContext) -> bool:
    installed = read_status(ctx.guest.disk)
    return any(p in installed and installed[p].status.endswith(" installed") for p in PACKAGES)


def _backend(ctx: ExecContext, host: str, port: int) -> int | None:
    """The port on 127.0.0.1 of the app that a connect to ``host:port`` on the guest
    reaches (the guest's own address or a loopback one, as the app binds)."""
    for unit in ctx.guest.systemd.units.values():
        if unit.listen is None or unit.app is None or unit.listen[1] != port:
            continue
        bind = unit.listen[0]
        local = bind in LOOPBACK and host in LOOPBACK
        if bind == host or bind in ANY_ADDRESS or local:
            return unit.app.backend_port
    return None


async def redis_cli(ctx: ExecContext, args: list[str]) -> Completed:
    if not _installed(ctx):
        return Completed.err(127, "sh: 1: redis-cli: not found\n")
    try:
        options, words = getopt.getopt(args, "h:p:")
    except getopt.GetoptError as exc:
        return Completed.err(1, f"Unrecognized option or bad number of args for: '-{exc.opt}'\n")
    given = dict(options)
    host, port_text = given.get("-h", "127.0.0.1"), given.get("-p", "6379")
    if not port_text.isdigit() or not words:
        return Completed.err(1, "homeport-sim: redis-cli [-h HOST] [-p PORT] COMMAND [ARG...]\n")
    backend = _backend(ctx, host, int(port_text))
    if backend is None:
        return Completed.err(
            1, f"Could not connect to Redis at {host}:{port_text}: Connection refused\n"
        )
    return await _exchange(backend, " ".join(words))


async def _exchange(backend: int, line: str) -> Completed:
    try:
        answer = await request("127.0.0.1", backend, line)
    except ConnectionError:
        answer = ""
    if not answer:
        return Completed.err(1, "Error: Server closed the connection\n")
    if answer.startswith("-"):
        return Completed.out(f"(error) {answer[1:]}\n", rc=1)
    if answer == "$-1":
        return Completed.out("\n")
    return Completed.out(answer[1:] + "\n")
