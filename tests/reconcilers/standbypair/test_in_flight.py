"""What a failover waits out before the new primary serves: requests Caddy forwarded to an
old primary that was not confirmed stopped (``standbypair/inflight.py``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from homeport.kinds.standbypair import Probe
from homeport.reconcilers.pairroutes import MemberTimeouts
from homeport.reconcilers.standbypair.inflight import DRAINED_STEP, in_flight_wait
from homeport.reconcilers.standbypair.reconciler import _summary
from homeport.reconcilers.standbypair.state import Failover, PairState

CUT = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def _memory(*, quarantined: bool, steps: list[dict[str, Any]] | None = None) -> PairState:
    """A pair rerouting, as a store holds it."""
    document: dict[str, Any] = {"primary": "shop-a", "standby": "shop-b", "epoch": 2}
    document["phase"] = "Rerouting"
    document["failover"] = {
        "epoch": 2,
        "from": "shop-a",
        "to": "shop-b",
        "steps": steps
        if steps is not None
        else [
            {"phase": "Fencing", "at": (CUT - timedelta(seconds=1)).isoformat()},
            {"phase": "IngressCut", "at": CUT.isoformat()},
            {"phase": "Fenced", "at": (CUT + timedelta(seconds=1)).isoformat()},
        ],
    }
    document["quarantine"] = {"app": "shop-a", "since": CUT.isoformat()} if quarantined else None
    return PairState.load(document, primary="shop-a", standby="shop-b")


def test_the_bound_is_every_timeout_a_forwarded_request_can_still_run_into() -> None:
    timeouts = MemberTimeouts.of(Probe(interval_seconds=2, timeout_seconds=1, failure_threshold=3))
    # try_duration 1 + try_interval 0.25 + dial 1 + response headers 7 (the detection time)
    assert timeouts.in_flight() == pytest.approx(9.25)


def test_a_quarantined_old_primary_is_waited_out_from_the_cut() -> None:
    wait = in_flight_wait(_memory(quarantined=True), 9.25, CUT + timedelta(seconds=4))
    assert wait is not None
    assert wait.seconds == pytest.approx(5.25)
    assert "shop-a was not confirmed stopped" in wait.detail


def test_past_the_bound_there_is_nothing_left_to_wait_but_the_step_is_recorded() -> None:
    wait = in_flight_wait(_memory(quarantined=True), 9.25, CUT + timedelta(seconds=30))
    assert wait is not None and wait.seconds == 0


def test_a_confirmed_stop_or_a_pair_without_routes_waits_for_nothing() -> None:
    assert in_flight_wait(_memory(quarantined=False), 9.25, CUT) is None
    assert in_flight_wait(_memory(quarantined=True), 0.0, CUT) is None


def test_a_resumed_failover_does_not_wait_twice() -> None:
    memory = _memory(quarantined=True)
    assert memory.failover is not None
    drained = replace(memory, failover=memory.failover.step(DRAINED_STEP, CUT, ""))
    assert in_flight_wait(drained, 9.25, CUT) is None


def test_without_a_recorded_cut_the_whole_bound_is_waited() -> None:
    wait = in_flight_wait(_memory(quarantined=True, steps=[]), 9.25, CUT)
    assert wait is not None and wait.seconds == pytest.approx(9.25)


def test_the_failover_summary_tells_the_wait_from_the_reroute() -> None:
    steps = [
        {"phase": "Fenced", "at": CUT.isoformat()},
        {"phase": "Promoted", "at": (CUT + timedelta(seconds=1)).isoformat()},
        {"phase": DRAINED_STEP, "at": (CUT + timedelta(seconds=3)).isoformat()},
        {"phase": "Rerouted", "at": (CUT + timedelta(seconds=3.5)).isoformat()},
    ]
    record = Failover.load({"epoch": 2, "rpo_seconds": 0.5, "steps": steps})
    assert _summary(record) == (
        "promotion 1.00s, in-flight wait 2.00s, reroute 0.50s, data-loss window 0.5s"
    )
