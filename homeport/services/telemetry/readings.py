"""Figures the instruments derive from what other parts record: the phase durations of a
failover's timeline (written by the StandbyPair reconciler through
``ObjectContext.record_failover``), each VM's backup age (from the ``vms`` details a
BackupPolicy publishes in its status) and the estate's alertable state (objects by kind and
state, the adopted revision, each pair's replication lag). Pure, apart from the ``read_*``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from homeport.controller.source_keys import ADOPTED
from homeport.controller.store import Store
from homeport.services.views.objects import state_of


@dataclass(frozen=True)
class PhaseDuration:
    phase: str
    """The phase reached, e.g. ``Fenced``."""
    seconds: float
    """Time since the previous step of the timeline."""


def phase_durations(
    timeline: Sequence[Mapping[str, Any]], *, last_only: bool
) -> list[PhaseDuration]:
    """How long each step of a timeline took to reach from the one before it.

    The first step (``FailureStarted``, or ``Fencing`` for a switchover) has no duration.
    ``last_only``: only the newest step (the timeline is re-recorded whole at every step).
    """
    times = [(str(s.get("phase")), _parse_time(s.get("at"))) for s in timeline]
    pairs = list(pairwise(times))
    if last_only:
        pairs = pairs[-1:]
    return [
        PhaseDuration(phase, max((at - before).total_seconds(), 0.0))
        for (_, before), (phase, at) in pairs
        if before is not None and at is not None
    ]


@dataclass(frozen=True)
class BackupAge:
    vm: str
    policy: str
    seconds: float
    """Age of the VM's newest archive under this policy."""


def backup_ages(
    policies: Iterable[tuple[str, Mapping[str, Any]]], now: datetime
) -> list[BackupAge]:
    """From (policy name, status details) pairs: one age per VM that has a backup.

    A policy publishes ``details["vms"][vm]["newestBackupAt"]`` (ISO 8601); VMs without a
    backup yet, and policies that published nothing yet, yield nothing.
    """
    ages = []
    for policy, details in policies:
        vms = details.get("vms")
        if not isinstance(vms, Mapping):
            continue
        for vm, info in vms.items():
            newest = _parse_time(info.get("newestBackupAt")) if isinstance(info, Mapping) else None
            if newest is not None:
                ages.append(BackupAge(str(vm), policy, max((now - newest).total_seconds(), 0.0)))
    return ages


def read_backup_ages(store_path: Path, now: datetime) -> list[BackupAge]:
    """``backup_ages`` of the policies in the store (its own read-only connection, so any
    thread may call it: the Prometheus server and the periodic exporters run their own)."""
    if not store_path.exists():
        return []
    store = Store.open(store_path, readonly=True)
    try:
        policies = [
            (o.name, o.status.details)
            for o in store.objects.of_kind("BackupPolicy")
            if not o.deleting
        ]
    finally:
        store.close()
    return backup_ages(policies, now)


@dataclass(frozen=True)
class EstateReading:
    """What the alertable gauges report, read from the store at once."""

    objects: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """(kind, state) → how many objects (state as ``homeport status`` words it)."""
    revision: str | None = None
    """The adopted revision's sha."""
    lags: Mapping[str, float] = field(default_factory=dict)
    """StandbyPair → replication lag in seconds (pairs that report one)."""


def read_estate(store_path: Path) -> EstateReading:
    """``EstateReading`` from a read-only connection of its own (any thread may call it)."""
    if not store_path.exists():
        return EstateReading()
    store = Store.open(store_path, readonly=True)
    try:
        objects = store.objects.all()
        adopted = store.source_state.get(ADOPTED) or {}
    finally:
        store.close()
    lags = {
        o.name: float(o.status.details["lagSeconds"])
        for o in objects
        if o.kind == "StandbyPair" and isinstance(o.status.details.get("lagSeconds"), int | float)
    }
    return EstateReading(
        objects=dict(Counter((o.kind, state_of(o)) for o in objects)),
        revision=adopted.get("sha"),
        lags=lags,
    )


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
