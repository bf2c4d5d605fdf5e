"""What one probe of a pair member is, decided without I/O, and running it.

``probe_target`` turns the pair's ``spec.probe`` and a member (``plan.Member``, as
``observe.py`` reads it) into one of three targets: an HTTP GET of the member's App port,
a TCP connect to the declared port, or a command on the member's VM. ``run_probe`` runs
it through the ``Prober`` (``clients/probes.py``); ``runtime.py`` feeds the result to the
probe window, the same for every kind, so interval, threshold, K-of-N window, fencing and
timeline do not depend on how a member is probed.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeport.clients.probes import ProbeResult
from homeport.kinds.app import HealthCheck
from homeport.kinds.standbypair import Probe
from homeport.reconcilers.apphealth import check_health
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.standbypair.plan import Member


@dataclass(frozen=True)
class HttpTarget:
    """The App's health check at the pair's path (``type: tcp`` connects instead, as the
    older probe form did for such Apps)."""

    host: str
    port: int
    path: str
    check: HealthCheck
    timeout: float


@dataclass(frozen=True)
class TcpTarget:
    host: str
    port: int
    timeout: float


@dataclass(frozen=True)
class ExecTarget:
    host: str
    argv: tuple[str, ...]
    timeout: float


ProbeTarget = HttpTarget | TcpTarget | ExecTarget


def probe_target(probe: Probe, target: Member) -> ProbeTarget | None:
    """How ``target`` is probed; None while its VM has no known address."""
    if target.host is None:
        return None
    timeout = probe.timeout_seconds
    if probe.tcp is not None:
        return TcpTarget(target.host, probe.tcp.port, timeout)
    if probe.exec_ is not None:
        return ExecTarget(target.host, tuple(probe.exec_.command), timeout)
    check = target.health
    if probe.http is not None and check.type != "http":
        # Declared as HTTP: a GET, whatever the App's own check does.
        check = check.model_copy(update={"type": "http"})
    return HttpTarget(target.host, target.port, probe.http_path, check, timeout)


async def run_probe(target: ProbeTarget, ctx: ReconcileContext) -> ProbeResult:
    prober = ctx.clients.prober
    if isinstance(target, TcpTarget):
        return await prober.tcp(target.host, target.port, timeout=target.timeout)
    if isinstance(target, ExecTarget):
        ssh = ctx.clients.ssh
        return await prober.command(ssh, target.host, target.argv, timeout=target.timeout)
    return await check_health(
        prober, target.check, target.host, target.port, path=target.path, timeout=target.timeout
    )
