"""Which spans are kept: everything, except the StandbyPair probe loop's own traces.

The loop probes every member every ``interval`` (one second in the example estate): as
root spans that would be most of the traffic to a trace backend and say nothing the
``homeport.probe.duration`` metric does not. Probes made inside a reconcile (a promotion
waiting for health) have a parent and stay in their trace. ``exporters`` gives this
sampler to the daemon's ``TracerProvider``; tests may use it too.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

PROBE_SPAN_PREFIX = "probe "
"""``homeport.clients.probes`` names its spans ``probe http``, ``probe tcp`` and ``probe exec``
(whose ``ssh exec`` span is its child, so it is dropped with it)."""


class _DropBackgroundProbes(Sampler):
    """For root spans only (``ParentBased`` asks it nothing else)."""

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if name.startswith(PROBE_SPAN_PREFIX):
            return SamplingResult(Decision.DROP)
        return ALWAYS_ON.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return "DropBackgroundProbes"


def homeport_sampler() -> Sampler:
    """Children follow their parent; roots are kept unless they are background probes."""
    return ParentBased(root=_DropBackgroundProbes())
