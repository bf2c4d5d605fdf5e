"""One OpenTelemetry span per external call, with safe attributes only; free when disabled.

Every client (``proxmox_transport``, ``ssh``, ``caddy``, ``tailscale``, ``probes``) wraps
its wire calls in ``ClientTracing.span("{system} {verb} {object}", {...})``. The tracer
comes from the controller's ``TracerProvider``; ``None`` turns tracing off. Attributes
follow the semantic conventions (``http.request.method``, ``server.address``, ...) plus
``proxmox.node``, ``proxmox.vmid``, ``ssh.command`` (argv[0..1]), ``caddy.route_id``.
Secrets never reach a span: ``Secret`` values are refused, exception messages are not
recorded (only ``error.type``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from homeport.clients.secret import Secret

AttributeValue = str | bool | int | float
Attributes = dict[str, AttributeValue | None]


class SpanRecorder(Protocol):
    def set(self, key: str, value: AttributeValue | None) -> None: ...


class _NoSpan:
    def set(self, key: str, value: AttributeValue | None) -> None:
        return None


_NO_SPAN = _NoSpan()


class _Span:
    def __init__(self, span: object) -> None:
        self._span = span

    def set(self, key: str, value: AttributeValue | None) -> None:
        if value is None:
            return
        _refuse_secret(key, value)
        self._span.set_attribute(key, value)  # type: ignore[attr-defined]


def _refuse_secret(key: str, value: object) -> None:
    if isinstance(value, Secret):
        raise TypeError(f"span attribute {key!r} must not be a Secret")


class ClientTracing:
    """Opens client spans on ``tracer``, or does nothing when there is none."""

    def __init__(self, tracer: Tracer | None = None) -> None:
        self._tracer = tracer

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    @contextmanager
    def span(
        self, name: str, attributes: Mapping[str, AttributeValue | None] | None = None
    ) -> Iterator[SpanRecorder]:
        if self._tracer is None:
            yield _NO_SPAN
            return
        clean = {k: v for k, v in (attributes or {}).items() if v is not None}
        for key, value in clean.items():
            _refuse_secret(key, value)
        with self._tracer.start_as_current_span(
            name,
            kind=SpanKind.CLIENT,
            attributes=clean,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield _Span(span)
            except BaseException as exc:
                # The type only: messages may quote server output.
                span.set_attribute("error.type", type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
