"""``Prober.command``: a StandbyPair ``exec`` probe. Unit cases on a fake SSH pool (what
each outcome is called, the whole probe bounded by its timeout), then the real thing: a
line-protocol app on a simulated guest checked with ``redis-cli ping`` over SSH."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import Tracer

from homeport.clients.errors import CommandTimeout, SSHError, SSHUnreachable
from homeport.clients.probes import Prober
from homeport.clients.ssh import CommandResult, SSHPool
from homeport.clients.systemd import Systemd
from homeport.services.telemetry.sampling import homeport_sampler
from homeport.simulator.guest import LoopbackGuestRuntime

from .conftest import BootedVm

ARGV = ("/usr/bin/redis-cli", "ping")


@dataclass
class FakeSSH:
    exit_status: int = 0
    stderr: bytes = b""
    error: SSHError | None = None
    hang: bool = False
    calls: list[tuple[str, tuple[str, ...], float | None]] = field(default_factory=list)

    async def run(
        self, host: str, argv: Sequence[str], *, timeout: float | None = None, check: bool = True
    ) -> CommandResult:
        self.calls.append((host, tuple(argv), timeout))
        if self.hang:
            await asyncio.Event().wait()
        if self.error is not None:
            raise self.error
        return CommandResult(tuple(argv), self.exit_status, b"PONG\n", self.stderr)


async def probe(ssh: FakeSSH, timeout: float = 0.5) -> tuple[bool, str | None]:
    async with Prober() as prober:
        result = await prober.command(cast(SSHPool, ssh), "10.0.0.7", ARGV, timeout=timeout)
    return result.ok, result.error


async def test_exit_zero_passes_and_the_command_runs_under_timeout_on_the_vm() -> None:
    ssh = FakeSSH()
    assert await probe(ssh, 0.4) == (True, None)
    assert ssh.calls == [("10.0.0.7", ("timeout", "-k", "1", "0.4", *ARGV), 0.4)]


@pytest.mark.parametrize(
    ("fake", "error"),
    [
        (
            FakeSSH(exit_status=1, stderr=b"Could not connect to Redis\n"),
            "exit 1: Could not connect to Redis",
        ),
        (FakeSSH(exit_status=1), "exit 1"),
        (FakeSSH(exit_status=124), "timeout"),
        (FakeSSH(error=CommandTimeout("10.0.0.7", ARGV, 0.5)), "timeout"),
        (FakeSSH(error=SSHUnreachable("10.0.0.7", "refused")), "ssh: SSHUnreachable"),
        (FakeSSH(hang=True), "timeout"),
    ],
)
async def test_every_failure_is_a_miss_with_its_reason(fake: FakeSSH, error: str) -> None:
    assert await probe(fake, 0.2) == (False, error)


@dataclass
class TracedSSH(FakeSSH):
    tracer: Tracer | None = None

    async def run(
        self, host: str, argv: Sequence[str], *, timeout: float | None = None, check: bool = True
    ) -> CommandResult:
        assert self.tracer is not None
        with self.tracer.start_as_current_span("ssh exec"):  # as SSHPool.run does
            return await super().run(host, argv, timeout=timeout, check=check)


@pytest.mark.parametrize("sampled", [True, False])
async def test_a_background_exec_probe_is_not_traced_with_its_ssh_exec(sampled: bool) -> None:
    """The probe loop's exec probes are not traced (one span pair per member per second),
    as its HTTP and TCP probes are not: the ``ssh exec`` span follows its ``probe exec``."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON if sampled else homeport_sampler())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    async with Prober(tracer=tracer) as prober:
        ssh = cast(SSHPool, TracedSSH(tracer=tracer))
        assert (await prober.command(ssh, "10.0.0.7", ARGV, timeout=0.5)).ok
    spans = {s.name: s for s in exporter.get_finished_spans()}
    if sampled:
        assert spans["ssh exec"].parent is not None
        assert spans["ssh exec"].parent.span_id == spans["probe exec"].context.span_id
    else:
        assert spans == {}
    provider.shutdown()


@pytest.mark.integration
async def test_redis_cli_over_ssh_on_a_simulated_guest(
    ssh_pool: SSHPool, trusted_vm: BootedVm, guest_runtime: LoopbackGuestRuntime
) -> None:
    host, address = trusted_vm.host, trusted_vm.address
    release = "/srv/apps/cache/current"
    await ssh_pool.run(host, ["mkdir", "-p", release])
    await ssh_pool.install_file(host, f"{release}/SIMULATE", b"protocol=line\n", mode=0o644)
    await ssh_pool.install_file(host, "/etc/systemd/system/cache.service", UNIT, mode=0o644)
    systemd = Systemd(ssh_pool)
    await systemd.daemon_reload(host)
    await systemd.start(host, "cache.service")
    await ssh_pool.run(host, ["apt-get", "-q", "update"])
    await ssh_pool.run(host, ["apt-get", "install", "-y", "-q", "redis-tools"])
    argv = ["/usr/bin/redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping"]

    async with Prober() as prober:

        async def check(timeout: float = 2.0) -> Any:
            return await prober.command(ssh_pool, host, argv, timeout=timeout)

        assert (await check()).ok
        guest_runtime.hang_app(trusted_vm.vmid, "cache")
        assert (await prober.tcp(address, 6379, timeout=1)).ok  # the kernel still accepts
        hung = await check(timeout=0.5)
        assert (hung.ok, hung.error) == (False, "timeout")
        guest_runtime.fail_app(trusted_vm.vmid, "cache")
        failing = await check()
        assert (failing.ok, failing.error) == (False, "exit 1")
        guest_runtime.heal_app(trusted_vm.vmid, "cache")
        await systemd.stop(host, "cache.service")
        stopped = await check()
        assert not stopped.ok
        assert (
            stopped.error
            == "exit 1: Could not connect to Redis at 127.0.0.1:6379: Connection refused"
        )


UNIT = b"""[Unit]
Description=Session store

[Service]
Type=simple
WorkingDirectory=/srv/apps/cache/current
ExecStart=/usr/bin/cache
Environment=PORT=6379
Environment=HOST=0.0.0.0

[Install]
WantedBy=multi-user.target
"""
