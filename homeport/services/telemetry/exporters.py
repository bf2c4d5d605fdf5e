"""Providers from ``[telemetry]``: where spans and metrics go.

traces: ``none`` | ``console`` (stdout, i.e. the journal under systemd) | ``otlp``
(OTLP/HTTP to ``otlp_endpoint``/v1/traces). metrics: the same, plus ``prometheus``: a
``/metrics`` endpoint served by ``prometheus_client`` on ``prometheus_listen``, checked by
``addresses`` (loopback or tailnet only), from a registry of its own (never the global
one, so two daemons in one process, or tests, never share series). Spans are batched;
metrics for console/OTLP are pushed every ``OTEL_METRIC_EXPORT_INTERVAL`` ms (60 s by
default); the OTLP exporters also honour the standard ``OTEL_EXPORTER_OTLP_*`` variables
(e.g. headers carrying a collector's token, which therefore never sits in the config).

The OTLP exporters (with protobuf) and the Prometheus reader and server are imported only
when the config asks for them: most daemons export nothing, and those modules are about
4 MiB of its memory and 140 modules of its start.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from homeport import __version__
from homeport.controller.config import ConfigError, TelemetrySettings
from homeport.controller.listen import scrape_address
from homeport.services.telemetry.sampling import homeport_sampler

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter


def service_resource() -> Resource:
    """``service.name=homeport``, ``service.version``; plus ``OTEL_RESOURCE_ATTRIBUTES``."""
    return Resource.create({SERVICE_NAME: "homeport", SERVICE_VERSION: __version__})


@dataclass
class ScrapeEndpoint:
    """The running ``/metrics`` server."""

    server: WSGIServer
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@dataclass
class Providers:
    """What ``build_providers`` started; ``shutdown`` flushes and stops all of it."""

    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None
    scrape: ScrapeEndpoint | None = None

    def shutdown(self) -> None:
        if self.scrape is not None:
            self.scrape.stop()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()


def build_providers(settings: TelemetrySettings) -> Providers:
    """Providers for the configured exporters (``None`` for what is off)."""
    resource = service_resource()
    tracer_provider = None
    if settings.traces != "none":
        tracer_provider = TracerProvider(resource=resource, sampler=homeport_sampler())
        tracer_provider.add_span_processor(BatchSpanProcessor(_span_exporter(settings)))
    if settings.metrics == "none":
        return Providers(tracer_provider, None)
    if settings.metrics != "prometheus":
        reader: MetricReader = PeriodicExportingMetricReader(_metric_exporter(settings))
        return Providers(tracer_provider, MeterProvider(resource=resource, metric_readers=[reader]))
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.gc_collector import GCCollector
    from prometheus_client.platform_collector import PlatformCollector
    from prometheus_client.process_collector import ProcessCollector

    host, port = _listen(settings.prometheus_listen)
    registry = CollectorRegistry()
    for collector in (ProcessCollector, PlatformCollector, GCCollector):
        collector(registry=registry)
    meter_provider = MeterProvider(
        resource=resource, metric_readers=[PrometheusMetricReader(registry=registry)]
    )
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        meter_provider.shutdown()
        if tracer_provider is not None:
            tracer_provider.shutdown()
        raise ConfigError(
            f"[telemetry] prometheus_listen {settings.prometheus_listen}: cannot listen"
            f" ({exc.strerror or exc}); pick a free port on an address of this machine"
        ) from None
    return Providers(
        tracer_provider, meter_provider, ScrapeEndpoint(server, thread, host, server.server_port)
    )


def _listen(listen: str) -> tuple[str, int]:
    try:
        return scrape_address(listen)
    except ValueError as exc:
        raise ConfigError(f"[telemetry] {exc}") from None


def _otlp_url(settings: TelemetrySettings, signal: str) -> str | None:
    if settings.otlp_endpoint is None:
        return None  # the exporter's default: OTEL_EXPORTER_OTLP_* or http://localhost:4318
    return f"{settings.otlp_endpoint.rstrip('/')}/v1/{signal}"


def _span_exporter(settings: TelemetrySettings) -> SpanExporter:
    if settings.traces == "console":
        return ConsoleSpanExporter(service_name="homeport")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=_otlp_url(settings, "traces"))


def _metric_exporter(settings: TelemetrySettings) -> ConsoleMetricExporter | OTLPMetricExporter:
    if settings.metrics == "console":
        return ConsoleMetricExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter(endpoint=_otlp_url(settings, "metrics"))
