"""Health probes: one HTTP GET, one TCP connect or one command on a VM over SSH, each
bounded by its own timeout.

Used by the App reconciler (wait healthy after a deploy, roll back on failure) and the
StandbyPair reconciler (probe the primary every ``interval``). A probe never raises for
the target's failure: it returns ``ProbeResult(ok=False, error=...)``. Connections are
not kept alive between probes, so each probe exercises the server afresh; many probes may
run at once and a slow one never delays another. A command probe goes through the
caller's ``SSHPool`` (strict known_hosts, argv quoted with ``shlex.join``) and also runs
under coreutils ``timeout`` on the VM, so one the client gave up on does not linger there.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from opentelemetry.trace import Tracer

from homeport.clients.errors import CommandTimeout, SSHError
from homeport.clients.ssh import SSHPool
from homeport.clients.timing import Clock, loop_clock
from homeport.clients.tracing import Attributes, ClientTracing


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency: float
    """Seconds from start to answer (or to failure)."""
    status: int | None = None
    """HTTP status, when an answer came."""
    error: str | None = None
    """Why it failed: ``timeout``, ``refused``, ``status 503``, ..."""


class Prober:
    """Runs probes; ``verify`` is the CA bundle path (or ``True``) for HTTPS targets."""

    def __init__(
        self,
        *,
        verify: bool | str = True,
        tracer: Tracer | None = None,
        clock: Clock = loop_clock,
    ) -> None:
        self._client = httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        self._tracing = ClientTracing(tracer)
        self._clock = clock

    async def close(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Prober:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def http(
        self,
        url: str,
        *,
        timeout: float,
        host: str | None = None,
        expected_status: int | Collection[int] = 200,
    ) -> ProbeResult:
        """GET ``url`` (with ``Host: host`` and matching SNI if given)."""
        expected = {expected_status} if isinstance(expected_status, int) else set(expected_status)
        parts = urlsplit(url)
        headers = {"Host": host} if host else {}
        extensions = {"sni_hostname": host} if host and parts.scheme == "https" else {}
        attributes: Attributes = {
            "http.request.method": "GET",
            "server.address": parts.hostname,
            "server.port": parts.port,
        }
        started = self._clock()
        with self._tracing.span("probe http", attributes) as span:
            try:
                async with asyncio.timeout(timeout):
                    response = await self._client.get(
                        url, headers=headers, timeout=timeout, extensions=extensions
                    )
            except (TimeoutError, httpx.TimeoutException):
                return self._failed(started, "timeout")
            except httpx.ConnectError as exc:
                return self._failed(started, _connect_reason(exc))
            except httpx.HTTPError as exc:
                return self._failed(started, type(exc).__name__)
            span.set("http.response.status_code", response.status_code)
        latency = self._clock() - started
        if response.status_code in expected:
            return ProbeResult(True, latency, response.status_code)
        return ProbeResult(False, latency, response.status_code, f"status {response.status_code}")

    async def tcp(self, host: str, port: int, *, timeout: float) -> ProbeResult:
        """Connect to ``host:port`` and close again."""
        started = self._clock()
        attributes: Attributes = {"server.address": host, "server.port": port}
        with self._tracing.span("probe tcp", attributes):
            try:
                async with asyncio.timeout(timeout):
                    _, writer = await asyncio.open_connection(host, port)
            except TimeoutError:
                return self._failed(started, "timeout")
            except ConnectionRefusedError:
                return self._failed(started, "refused")
            except OSError as exc:
                return self._failed(started, exc.strerror or type(exc).__name__)
            writer.close()
            try:
                async with asyncio.timeout(timeout):
                    await writer.wait_closed()
            except (TimeoutError, OSError):
                pass
        return ProbeResult(True, self._clock() - started)

    async def command(
        self, ssh: SSHPool, host: str, argv: Sequence[str], *, timeout: float
    ) -> ProbeResult:
        """Run ``argv`` on ``host`` over SSH; passes when it exits 0 within ``timeout``
        (connecting included)."""
        started = self._clock()
        attributes: Attributes = {"server.address": host, "process.executable.name": argv[0]}
        with self._tracing.span("probe exec", attributes) as span:
            try:
                async with asyncio.timeout(timeout):
                    result = await ssh.run(
                        host, remote_argv(argv, timeout), timeout=timeout, check=False
                    )
            except (TimeoutError, CommandTimeout):
                return self._failed(started, "timeout")
            except SSHError as exc:
                return self._failed(started, f"ssh: {type(exc).__name__}")
            span.set("process.exit.code", result.exit_status)
        latency = self._clock() - started
        if result.ok:
            return ProbeResult(True, latency)
        if result.exit_status == TIMEOUT_EXIT:
            return ProbeResult(False, latency, None, "timeout")
        return ProbeResult(False, latency, None, _exit_reason(result.exit_status, result.stderr))

    def _failed(self, started: float, error: str) -> ProbeResult:
        return ProbeResult(False, self._clock() - started, None, error)


def _connect_reason(exc: httpx.ConnectError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "refused"
        if "certificate" in str(cause).lower():
            return "tls verification failed"
        cause = cause.__cause__ or cause.__context__
    return "connect failed"


TIMEOUT_EXIT = 124
"""coreutils ``timeout``'s exit status when the command ran out of time."""
KILL_AFTER = 1.0
"""Seconds ``timeout`` waits after its TERM before a KILL."""


def remote_argv(argv: Sequence[str], timeout: float) -> list[str]:
    """``argv`` under coreutils ``timeout`` on the VM: ended there when the probe is over."""
    return ["timeout", "-k", _seconds(KILL_AFTER), _seconds(timeout), *argv]


def _seconds(value: float) -> str:
    """A duration coreutils ``timeout`` reads: plain decimal (never ``1e-05``), never 0
    (which would mean no limit at all), to the millisecond."""
    return f"{max(value, 0.001):.3f}".rstrip("0").rstrip(".")


def _exit_reason(status: int, stderr: bytes) -> str:
    lines = stderr.decode("utf-8", errors="replace").strip().splitlines()
    last = f": {lines[-1][:120]}" if lines else ""
    return f"exit {status}{last}"
