"""The controller's spans: ``reconcile {kind}`` per reconcile, with ``observe {kind}`` and
one ``act {verb}`` per action beneath it; the clients' spans (``homeport.clients.tracing``)
nest under those because the engine awaits them inside the span's context.

Attributes are safe by construction: the object's kind, name and generation, the outcome,
the action's verb and its ``describe()`` (which masks secrets, as the journal needs too).
Exception messages are never recorded (they may quote remote output): only their type, as
``error.type``, like the clients do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from homeport.reconcilers.base import Action

KIND = "homeport.kind"
NAME = "homeport.name"
GENERATION = "homeport.generation"
RESULT = "homeport.result"
VERB = "homeport.verb"
ACTION = "homeport.action"
DRIFT = "homeport.drift"
ERROR_TYPE = "error.type"
FAILED_RESULTS = frozenset({"error", "stalled"})


class ReconcileSpan:
    """The open ``reconcile`` span; ``finish`` records the outcome."""

    def __init__(self, span: Span) -> None:
        self._span = span

    def finish(self, result: str, reason: str) -> None:
        self._span.set_attribute(RESULT, result)
        if result in FAILED_RESULTS:
            self._span.set_attribute(ERROR_TYPE, reason or result)
            self._span.set_status(Status(StatusCode.ERROR, reason or result))


class ReconcileTracing:
    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    @contextmanager
    def reconcile(self, kind: str, name: str) -> Iterator[ReconcileSpan]:
        with self._span(f"reconcile {kind}", {KIND: kind, NAME: name}) as span:
            yield ReconcileSpan(span)

    @contextmanager
    def observe(self, kind: str, name: str) -> Iterator[None]:
        with self._span(f"observe {kind}", {KIND: kind, NAME: name}):
            yield

    @contextmanager
    def act(self, kind: str, name: str, action: Action) -> Iterator[None]:
        attributes: dict[str, str | bool] = {
            KIND: kind,
            NAME: name,
            VERB: action.verb,
            ACTION: action.describe(),
        }
        if action.corrects_drift:
            attributes[DRIFT] = True
        with self._span(f"act {action.verb}", attributes):
            yield

    @staticmethod
    def note_generation(generation: int) -> None:
        """Tag the current reconcile span once the engine has read the object."""
        trace.get_current_span().set_attribute(GENERATION, generation)

    @contextmanager
    def _span(self, name: str, attributes: dict[str, str | bool]) -> Iterator[Span]:
        with self._tracer.start_as_current_span(
            name,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as exc:
                span.set_attribute(ERROR_TYPE, type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
