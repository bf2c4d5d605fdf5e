"""The daemon's metrics: names, units, attributes and second-based histogram buckets.

Fed by ``hooks.Telemetry`` (from the engine, the controller context and the StandbyPair
probe loop); the two observable gauges read their sources when a reader collects (the
Prometheus scrape thread or a periodic exporter's thread), so their sources must be safe
to read from any thread: the queue's ``depth()`` and a read-only store connection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from homeport.controller.telemetry.readings import BackupAge, PhaseDuration

# Attribute keys shared with the spans where they mean the same thing.
KIND = "homeport.kind"
RESULT = "homeport.result"
VERB = "homeport.verb"
PAIR = "homeport.pair"
TRIGGER = "homeport.trigger"
PHASE = "homeport.phase"
ROLE = "homeport.role"
VM = "homeport.vm"
POLICY = "homeport.policy"
ERROR_TYPE = "error.type"

# The SDK's default buckets (0, 5, 10, ... 10000) suit milliseconds; these are seconds.
# Floats, so Prometheus renders le="5.0" as its own clients do.
RECONCILE_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
PHASE_BUCKETS = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
PROBE_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class Instruments:
    def __init__(self, meter: Meter) -> None:
        self.queue_depth: Callable[[], int] | None = None
        self.backup_ages: Callable[[], Sequence[BackupAge]] | None = None
        self.reconcile_duration = meter.create_histogram(
            "homeport.reconcile.duration",
            unit="s",
            description="Time of one reconcile, by kind and result.",
            explicit_bucket_boundaries_advisory=RECONCILE_BUCKETS,
        )
        self.actions = meter.create_counter(
            "homeport.actions",
            unit="{action}",
            description="Actions performed, by kind and verb (error.type on failures).",
        )
        self.drift_corrections = meter.create_counter(
            "homeport.drift.corrections",
            unit="{action}",
            description="Completed actions that undid a change made outside homeport.",
        )
        self.failovers = meter.create_counter(
            "homeport.failovers",
            unit="{failover}",
            description="Failovers started, by pair and trigger.",
        )
        self.failover_phase_duration = meter.create_histogram(
            "homeport.failover.phase.duration",
            unit="s",
            description="Time to reach each failover phase from the step before it.",
            explicit_bucket_boundaries_advisory=PHASE_BUCKETS,
        )
        self.probe_duration = meter.create_histogram(
            "homeport.probe.duration",
            unit="s",
            description="Health probe latency of StandbyPair members, by pair and role.",
            explicit_bucket_boundaries_advisory=PROBE_BUCKETS,
        )
        meter.create_observable_gauge(
            "homeport.queue.depth",
            callbacks=[self._observe_queue],
            unit="{key}",
            description="Objects waiting in the work queue (ready or delayed).",
        )
        meter.create_observable_gauge(
            "homeport.backup.age",
            callbacks=[self._observe_backups],
            unit="s",
            description="Age of each VM's newest backup, per BackupPolicy.",
        )

    # -- recording ----------------------------------------------------------------------
    def reconciled(self, kind: str, result: str, seconds: float) -> None:
        self.reconcile_duration.record(seconds, {KIND: kind, RESULT: result})

    def acted(self, kind: str, verb: str, *, drift: bool, error: str | None) -> None:
        attributes = {KIND: kind, VERB: verb}
        self.actions.add(1, attributes if error is None else {**attributes, ERROR_TYPE: error})
        if drift and error is None:
            self.drift_corrections.add(1, attributes)

    def failover_started(self, pair: str, trigger: str) -> None:
        self.failovers.add(1, {PAIR: pair, TRIGGER: trigger})

    def failover_phases(self, pair: str, durations: Iterable[PhaseDuration]) -> None:
        for duration in durations:
            self.failover_phase_duration.record(
                duration.seconds, {PAIR: pair, PHASE: duration.phase}
            )

    def probed(self, pair: str, role: str, seconds: float, error: str | None) -> None:
        attributes = {PAIR: pair, ROLE: role}
        if error is not None:
            attributes[ERROR_TYPE] = error
        self.probe_duration.record(seconds, attributes)

    # -- observing ----------------------------------------------------------------------
    def _observe_queue(self, options: CallbackOptions) -> Iterable[Observation]:
        if self.queue_depth is None:
            return []
        return [Observation(self.queue_depth())]

    def _observe_backups(self, options: CallbackOptions) -> Iterable[Observation]:
        if self.backup_ages is None:
            return []
        return [
            Observation(age.seconds, {VM: age.vm, POLICY: age.policy}) for age in self.backup_ages()
        ]
