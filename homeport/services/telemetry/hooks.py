"""``Telemetry``: the one object the daemon's parts report to.

Built from the settings (``from_settings``: providers from ``exporters``, shut down by
``shutdown``), from providers a test owns (``Telemetry(tracer_provider=...,
meter_provider=...)``), or ``disabled()`` (the API's no-op tracer and meter: nearly free).
Never the global providers: the daemon, the CLI and tests each pass theirs explicitly.

Who calls what: ``homeport run`` hands ``client_tracer`` to ``wiring.build_clients`` and
``observe_probe`` to ``wiring.build_reconcilers`` (the StandbyPair probe loop); the
``Daemon`` gives the engine ``reconcile``/``observe``/``act``/``note_generation`` and
``observe_outcome`` (an engine ``Observer``), the controller context ``observe_failover``,
and ``watch``es its queue and store for the gauges.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.trace import NoOpTracer, Tracer, TracerProvider

from homeport import __version__
from homeport.clients.probes import ProbeResult
from homeport.controller.clock import Clock
from homeport.controller.config import TelemetrySettings
from homeport.controller.queue import WorkQueue
from homeport.controller.store import Key
from homeport.reconcilers.base import Action
from homeport.services.telemetry.exporters import Providers, build_providers
from homeport.services.telemetry.instruments import Instruments
from homeport.services.telemetry.readings import (
    EstateReading,
    phase_durations,
    read_backup_ages,
    read_estate,
)
from homeport.services.telemetry.spans import ReconcileSpan, ReconcileTracing

if TYPE_CHECKING:
    from homeport.controller.engine import Outcome
    from homeport.controller.liveness import DaemonHealth

log = logging.getLogger(__name__)
SCOPE = "homeport"


class Telemetry:
    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        providers: Providers | None = None,
    ) -> None:
        self.client_tracer: Tracer | None = None
        """For ``build_clients``; None when tracing is off, so clients skip spans entirely."""
        tracer: Tracer = NoOpTracer()
        if tracer_provider is not None:
            tracer = tracer_provider.get_tracer(f"{SCOPE}.controller", __version__)
            self.client_tracer = tracer_provider.get_tracer(f"{SCOPE}.clients", __version__)
        meter = (meter_provider or NoOpMeterProvider()).get_meter(SCOPE, __version__)
        self.spans = ReconcileTracing(tracer)
        self.instruments = Instruments(meter)
        self._providers = providers

    @classmethod
    def from_settings(cls, settings: TelemetrySettings) -> Telemetry:
        """Start the configured exporters (raises ``ConfigError`` for a bad scrape address)."""
        providers = build_providers(settings)
        return cls(
            tracer_provider=providers.tracer_provider,
            meter_provider=providers.meter_provider,
            providers=providers,
        )

    @classmethod
    def disabled(cls) -> Telemetry:
        return cls()

    @property
    def scrape_url(self) -> str | None:
        """``http://host:port/metrics`` when serving Prometheus."""
        scrape = self._providers.scrape if self._providers else None
        return scrape.url if scrape else None

    def shutdown(self) -> None:
        """Flush and stop the exporters this object started (not providers passed in)."""
        if self._providers is not None:
            self._providers.shutdown()

    # -- the engine -----------------------------------------------------------------------
    def reconcile(self, key: Key) -> AbstractContextManager[ReconcileSpan]:
        return self.spans.reconcile(*key)

    def observe(self, key: Key) -> AbstractContextManager[None]:
        return self.spans.observe(*key)

    @contextmanager
    def act(self, key: Key, action: Action) -> Iterator[None]:
        """The action's span; counts it (and a drift correction) when it ends."""
        with self.spans.act(key[0], key[1], action):
            try:
                yield
            except BaseException as exc:
                self.instruments.acted(
                    key[0], action.verb, drift=action.corrects_drift, error=type(exc).__name__
                )
                raise
        self.instruments.acted(key[0], action.verb, drift=action.corrects_drift, error=None)

    def note_generation(self, generation: int) -> None:
        self.spans.note_generation(generation)

    def observe_outcome(self, outcome: Outcome, seconds: float) -> None:
        self.instruments.reconciled(outcome.key[0], outcome.result, seconds)

    # -- the controller context and the StandbyPair runtime -------------------------------
    def observe_failover(self, pair: str, epoch: int, fields: Mapping[str, Any]) -> None:
        """A failover record was written: count a start; time the steps it added."""
        try:
            self._failover(pair, fields)
        except Exception:  # metrics must never fail a failover step
            log.exception("failover metrics of %s epoch %d", pair, epoch)

    def _failover(self, pair: str, fields: Mapping[str, Any]) -> None:
        starting = "trigger" in fields
        if starting:
            self.instruments.failover_started(pair, str(fields["trigger"]))
        timeline = fields.get("timeline")
        if isinstance(timeline, list):
            durations = phase_durations(timeline, last_only=not starting)
            self.instruments.failover_phases(pair, durations)

    def observe_probe(self, pair: str, role: str, result: ProbeResult) -> None:
        error = None if result.ok else (result.error or "failed")
        try:
            self.instruments.probed(pair, role, result.latency, error)
        except Exception:  # metrics must never cost a probe (failover detection)
            log.exception("probe metrics of %s", pair)

    # -- gauges ---------------------------------------------------------------------------
    def watch(
        self,
        *,
        queue: WorkQueue[Key],
        store_path: Path,
        clock: Clock,
        health: DaemonHealth | None = None,
    ) -> None:
        """Serve the gauges from this daemon's queue, store and health."""
        self.instruments.queue_depth = queue.depth
        self.instruments.backup_ages = lambda: read_backup_ages(store_path, clock.now())
        self.instruments.estate = _once_per_collection(lambda: read_estate(store_path), clock)
        self.instruments.health = health

    def unwatch(self) -> None:
        self.instruments.queue_depth = None
        self.instruments.backup_ages = None
        self.instruments.estate = None
        self.instruments.health = None


def _once_per_collection(
    read: Callable[[], EstateReading], clock: Clock, *, within: float = 1.0
) -> Callable[[], EstateReading]:
    """One store read serves the several gauges a single scrape collects."""
    cached: list[tuple[float, EstateReading]] = []

    def reading() -> EstateReading:
        now = clock.monotonic()
        if not cached or now - cached[0][0] > within:
            cached[:] = [(now, read())]
        return cached[0][1]

    return reading
