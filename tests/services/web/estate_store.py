"""A store holding the example estate (``manifests/``) with statuses as a daemon writes
them: a Degraded pair with a failover timeline, backups with 3-2-1, a held revision and
a live heartbeat — what the status page and ``homeport status`` are tested against."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from homeport.controller.source_keys import ADOPTED, HELD
from homeport.controller.store import DesiredObject, Heartbeat, Store
from homeport.kinds import ObjectStatus
from homeport.source.validate import validate_sources

ROOT = Path(__file__).parents[3]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
HOSTILE = "<script>alert('owned')</script>"


def condition(type_: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": NOW.isoformat(),
    }


READY = [condition("Ready", "True", "Converged")]


def manifests(extra: dict[str, str] | None = None) -> list[tuple[str, bytes]]:
    files = [
        (str(p.relative_to(ROOT)), p.read_bytes())
        for p in sorted((ROOT / "manifests").rglob("*.yaml"))
    ]
    return files + [(name, text.encode()) for name, text in (extra or {}).items()]


def estate_store(path: Path, *, extra: dict[str, str] | None = None) -> Store:
    """The writable store (the caller closes it); every object Ready unless changed below."""
    result = validate_sources(manifests(extra))
    assert result.ok, [e.render() for e in result.errors]
    store = Store.open(path)
    store.objects.apply_revision(
        SHA, [DesiredObject(o.resource, o.file, o.line) for o in result.objects], NOW
    )
    store.revisions.record(sha=SHA, ref="refs/heads/main", outcome="adopted", now=NOW)
    store.source_state.set(ADOPTED, {"sha": SHA})
    for obj in store.objects.all():
        store.objects.set_status(obj.key, ObjectStatus.model_validate({"conditions": READY}), NOW)
    return store


def degrade_pair(store: Store, *, primary: str = "shop-b", standby: str = "shop-a") -> None:
    """``shop`` failed over (epoch 2): Degraded while its standby is rebuilt."""
    details = {
        "primary": primary,
        "standby": standby,
        "epoch": 2,
        "phase": "Healthy",  # the phase can say Healthy while the conditions say Degraded
        "lagSeconds": 3.5,
    }
    conditions = [
        condition("Ready", "True", "Serving"),
        condition("Degraded", "True", "StandbyRebuilding", f"standby {standby} is rebuilt"),
    ]
    store.objects.set_status(
        ("StandbyPair", "shop"),
        ObjectStatus.model_validate({"conditions": conditions, "details": details}),
        NOW,
    )
    start = NOW - timedelta(minutes=5)
    steps = ["FailureStarted", "Detected", "Fencing", "Fenced", "Promoted", "Rerouted"]
    timeline = [
        {"phase": p, "at": (start + timedelta(seconds=i * 0.5)).isoformat(), "detail": p.lower()}
        for i, p in enumerate(steps)
    ]
    store.failovers.upsert(
        "shop",
        2,
        {
            "trigger": "automatic",
            "from_app": standby,
            "to_app": primary,
            "phase": "Rerouted",
            "started_at": start.isoformat(),
            "timeline": timeline,
            "rpo_seconds": 4.25,
            "outcome": "completed",
        },
    )


def stall(store: Store, kind: str, name: str, message: str = HOSTILE) -> None:
    status = {"conditions": [condition("Stalled", "True", "Failed", message)]}
    store.objects.set_status((kind, name), ObjectStatus.model_validate(status), NOW)


def back_up(store: Store, vm: str = "shop-a", *, newest: datetime = NOW) -> None:
    """The ``daily`` policy's details for ``vm``: a backup ``newest``, 3-2-1 held."""
    details = {
        "vms": {
            vm: {
                "newestBackupAt": newest.isoformat(),
                "ageHours": round((NOW - newest).total_seconds() / 3600, 2),
                "stale": False,
                "threeTwoOne": {"holds": True},
                "lastRestoreTest": {"result": "passed"},
            }
        }
    }
    policy = next(o for o in store.objects.all() if o.kind == "BackupPolicy")
    store.objects.set_status(
        policy.key, ObjectStatus.model_validate({"conditions": READY, "details": details}), NOW
    )


def hold(store: Store) -> None:
    store.source_state.set(
        HELD, {"sha": "ffee" * 10, "reason": "prune", "message": "would delete 6 objects"}
    )


def beat(store: Store, *, at: datetime = NOW, role: str = "leader", url: str | None = None) -> None:
    store.heartbeats.beat(
        Heartbeat(
            holder="cp1:4242:abcdef",
            role=role,
            beat_at=at.isoformat(),
            started_at=(at - timedelta(hours=1)).isoformat(),
            web_url=url,
        )
    )
