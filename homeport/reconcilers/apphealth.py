"""One check of an App's declared health check (HTTP status or TCP connect), shared by the
App's deployment check, a StandbyPair's probes and promotion, so they judge alike."""

from __future__ import annotations

from homeport.clients.probes import Prober, ProbeResult
from homeport.kinds.app import HealthCheck


async def check_health(
    prober: Prober,
    check: HealthCheck,
    address: str,
    port: int,
    *,
    path: str | None = None,
    timeout: float | None = None,
) -> ProbeResult:
    """``path`` and ``timeout`` override the App's (a pair probes its own path and timeout)."""
    limit = check.timeout_seconds if timeout is None else timeout
    if check.type == "tcp":
        return await prober.tcp(address, port, timeout=limit)
    host = f"[{address}]" if ":" in address else address
    url = f"http://{host}:{port}{path or check.path}"
    return await prober.http(url, timeout=limit, expected_status=check.expect_status)
