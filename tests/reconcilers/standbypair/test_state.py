"""The pair's typed state (``standbypair/state.py``): loaded from and dumped to the stored
document in one place, with real times, and stores written by an older homeport load."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter

from homeport.reconcilers import slots
from homeport.reconcilers.errors import PermanentError
from homeport.reconcilers.standbypair.state import (
    CHANNEL,
    IN_FLIGHT,
    Failover,
    PairState,
    Phase,
    Quarantine,
    Step,
    UnreadablePairState,
)

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

# A pair's memory mid-failover exactly as homeport stored it before the state was typed
# (``memory.py``'s ``PairMemory.dump``): ISO strings, lists, the failover as a dict.
OLD_FORMAT: dict[str, Any] = {
    "primary": "shop-b",
    "standby": "shop-a",
    "epoch": 3,
    "phase": "Promoting",
    "failover": {
        "epoch": 3,
        "trigger": "automatic",
        "from": "shop-a",
        "to": "shop-b",
        "reason": "primary shop-a is down: timeout",
        "started_at": "2026-01-02T03:04:05+00:00",
        "rpo_seconds": 2.5,
        "steps": [
            {"phase": "Detected", "at": "2026-01-02T03:04:04+00:00", "detail": "down"},
            {"phase": "Fencing", "at": "2026-01-02T03:04:05+00:00", "detail": "epoch 3"},
        ],
        "restarted": ["shop-b"],
    },
    "quarantine": {
        "app": "shop-a",
        "vmid": 1001,
        "node": "pve1",
        "since": "2026-01-02T03:04:06+00:00",
    },
    "last_sync": "2026-01-02T03:04:00+00:00",
    "last_sync_error": None,
    "automatic_failovers": ["2026-01-02T03:04:05+00:00"],
    "replication_keys": ["shop-a", "shop-b"],
    "replication_channel": CHANNEL,
    "self_fence_on": ["shop-a"],
    "established": True,
    "standby_reset_at": None,
}


def test_an_old_format_memory_loads_with_real_times() -> None:
    state = PairState.load(OLD_FORMAT, primary="shop-a", standby="shop-b")
    assert (state.primary, state.standby, state.epoch) == ("shop-b", "shop-a", 3)
    assert state.phase is Phase.PROMOTING and state.phase.in_flight
    assert state.last_sync == AT - timedelta(seconds=5)
    assert state.automatic_failovers == (AT,)
    assert state.failover is not None
    assert state.failover.from_app == "shop-a" and state.failover.automatic
    assert state.failover.steps[1] == Step("Fencing", AT, "epoch 3")
    assert state.failover.at("Detected") == AT - timedelta(seconds=1)
    assert state.failover.restarted == ("shop-b",)
    assert state.quarantine == Quarantine("shop-a", AT + timedelta(seconds=1), 1001, "pve1")
    assert state.quarantine.awaiting_stop and state.quarantines("shop-a")


def test_an_old_format_memory_is_written_back_unchanged() -> None:
    state = PairState.load(OLD_FORMAT, primary="shop-a", standby="shop-b")
    assert state.dump() == OLD_FORMAT


def test_the_dumped_document_is_the_registry_s_declared_payload() -> None:
    state = PairState.load(OLD_FORMAT, primary="shop-a", standby="shop-b")
    stopped = Quarantine("shop-a", AT, 1001, "pve1", stopped_at=AT)
    returned = replace(state, quarantine=stopped)
    document = returned.dump()
    adapter = TypeAdapter(slots.PairMemoryDocument)
    assert adapter.validate_python(document) == document
    assert PairState.load(document, primary="x", standby="y") == returned


def test_a_pair_never_stored_starts_healthy_at_epoch_one_as_declared() -> None:
    for stored in (None, {}):
        state = PairState.load(stored, primary="shop-a", standby="shop-b")
        assert state == PairState("shop-a", "shop-b")
        assert state.phase is Phase.HEALTHY and state.epoch == 1 and not state.established


def test_a_sparse_older_memory_loads_its_defaults_and_ignores_unknown_keys() -> None:
    stored = {"primary": "shop-b", "epoch": 2, "phase": "Degraded", "retired_key": 1}
    state = PairState.load(stored, primary="shop-a", standby="shop-b")
    assert (state.primary, state.standby, state.phase) == ("shop-b", "shop-b", Phase.DEGRADED)
    assert "retired_key" not in state.dump()


def test_phases_are_stored_by_their_names() -> None:
    assert [p.value for p in Phase] == [
        "Healthy",
        "Fencing",
        "Promoting",
        "Rerouting",
        "Degraded",
    ]
    assert {p for p in Phase if p.in_flight} == IN_FLIGHT
    assert f"{Phase.DEGRADED}" == "Degraded"  # what describe() and the events show


def test_a_failover_s_timeline_grows_without_changing_the_record_it_came_from() -> None:
    record = Failover(2, "shop-a", "shop-b", "manual", started_at=AT)
    later = record.step("Fenced", AT + timedelta(seconds=1), "VM stopped")
    assert record.steps == () and later.at("Fenced") == AT + timedelta(seconds=1)
    assert later.timeline() == [
        {"phase": "Fenced", "at": "2026-01-02T03:04:06+00:00", "detail": "VM stopped"}
    ]
    assert Failover.load(later.dump()) == later


@pytest.mark.parametrize("at", ["", "soon", "2026-13-45T00:00:00"])
def test_a_step_without_a_time_is_refused(at: str) -> None:
    with pytest.raises(ValueError, match="without a time"):
        Step.load({"phase": "Fenced", "at": at})


def test_the_channel_is_ready_only_primary_to_standby_of_the_current_kind() -> None:
    state = PairState("shop-a", "shop-b", replication_keys=("shop-a", "shop-b"))
    assert not state.channel_ready()
    assert replace(state, replication_channel=CHANNEL).channel_ready()
    swapped = replace(state, replication_channel=CHANNEL, primary="shop-b", standby="shop-a")
    assert not swapped.channel_ready()


@pytest.mark.parametrize(
    ("stored", "named"),
    [
        ({"phase": "Resyncing"}, "phase 'Resyncing' is unknown"),
        ({"epoch": "three"}, "epoch 'three' is not a whole number"),
        ({"epoch": None}, "epoch None is not a whole number"),
        ({"epoch": 2.5}, "epoch 2.5 is not a whole number"),
    ],
)
def test_a_state_this_homeport_cannot_read_stalls_the_pair(
    stored: dict[str, Any], named: str
) -> None:
    """A newer homeport's phase, or an epoch that is not one: the pair stalls with what
    to do, rather than a failover acting on a guess (it used to raise a bare ValueError)."""
    with pytest.raises(UnreadablePairState) as caught:
        PairState.load({**OLD_FORMAT, **stored}, primary="shop-a", standby="shop-b")
    assert named in str(caught.value)
    assert caught.value.reason == "UnreadablePairState"
    assert caught.value.fix is not None and "Healthy, Fencing" in caught.value.fix
    assert isinstance(caught.value, PermanentError)
    # What it always stored still loads: an epoch as a string of digits, too.
    assert PairState.load({**OLD_FORMAT, "epoch": "4"}, primary="", standby="").epoch == 4
