"""The daemon's metrics: names, units, attributes and second-based histogram buckets.

Fed by ``hooks.Telemetry`` (from the engine, the controller context and the StandbyPair
probe loop); the two observable gauges read their sources when a reader collects (the
Prometheus scrape thread or a periodic exporter's thread), so their sources must be safe
to read from any thread: the queue's ``depth()``, the daemon's ``DaemonHealth`` (plain
attributes) and read-only store connections.

The gauges to alert on (docs/alerts.yaml): ``homeport.objects`` (by kind and state: is
everything Ready), ``homeport.leader`` (is a daemon leading), ``homeport.sync.age``
(is the source still read), ``homeport.pair.replication.lag`` and ``homeport.backup.age``;
``homeport.revision.info`` names the adopted revision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from homeport.services.telemetry.readings import BackupAge, EstateReading, PhaseDuration

if TYPE_CHECKING:
    from homeport.controller.liveness import DaemonHealth

Callback = Callable[[CallbackOptions], Iterable[Observation]]

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
STATE = "homeport.state"
PLANE = "homeport.plane"
REVISION = "homeport.revision"
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
        self.estate: Callable[[], EstateReading] | None = None
        self.health: DaemonHealth | None = None
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
        gauges: tuple[tuple[str, Callback, str, str], ...] = (
            ("homeport.queue.depth", self._observe_queue, "{key}",
             "Objects waiting in the work queue (ready or delayed)."),
            ("homeport.backup.age", self._observe_backups, "s",
             "Age of each VM's newest backup, per BackupPolicy."),
            ("homeport.objects", self._observe_objects, "{object}",
             "Objects by kind and state (Ready, Progressing, Stalled, Suspended...)."),
            ("homeport.leader", self._observe_leader, "{leader}",
             "1 while this daemon (homeport.plane) leads and may act, else 0."),
            ("homeport.revision.info", self._observe_revision, "{revision}",
             "1, labelled with the adopted revision's sha."),
            ("homeport.sync.age", self._observe_sync, "s",
             "Seconds since this daemon last read its source successfully."),
            ("homeport.pair.replication.lag", self._observe_lags, "s",
             "Replication lag of each StandbyPair's standby (its data-loss window)."),
        )  # fmt: skip
        for name, callback, unit, description in gauges:
            meter.create_observable_gauge(
                name, callbacks=[callback], unit=unit, description=description
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

    def _observe_objects(self, options: CallbackOptions) -> Iterable[Observation]:
        if self.estate is None:
            return []
        return [
            Observation(n, {KIND: kind, STATE: state})
            for (kind, state), n in sorted(self.estate().objects.items())
        ]

    def _observe_leader(self, options: CallbackOptions) -> Iterable[Observation]:
        if self.health is None:
            return []
        leadership = self.health.leadership
        return [Observation(1 if leadership.is_leader() else 0, {PLANE: leadership.holder})]

    def _observe_revision(self, options: CallbackOptions) -> Iterable[Observation]:
        sha = self.estate().revision if self.estate is not None else None
        return [] if sha is None else [Observation(1, {REVISION: sha})]

    def _observe_sync(self, options: CallbackOptions) -> Iterable[Observation]:
        # Only the leader reads the source: a former leader's age would only grow.
        if self.health is None or not self.health.leadership.is_leader():
            return []
        since = self.health.seconds_since_sync()
        return [] if since is None else [Observation(since)]

    def _observe_lags(self, options: CallbackOptions) -> Iterable[Observation]:
        if self.estate is None:
            return []
        return [Observation(lag, {PAIR: pair}) for pair, lag in sorted(self.estate().lags.items())]
