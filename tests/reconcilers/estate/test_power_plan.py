"""The estate power plan (``reconcilers/estate/plan.py``), pure: each step of a shutdown
and a start from a request and what the world shows; no sockets, no store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from homeport.kinds import Resource
from homeport.reconcilers.estate.actions import (
    BeginLayer,
    BeginPower,
    FinishLayer,
    FinishPower,
    FollowTask,
    HoldPairs,
    StartVM,
    StopVM,
)
from homeport.reconcilers.estate.layers import estate_vms
from homeport.reconcilers.estate.plan import (
    PowerObserved,
    TaskSeen,
    VMSeen,
    plan_power,
    why_held,
)
from homeport.reconcilers.pairview import PairView
from homeport.reconcilers.slots import EstateHold, PowerRequest
from homeport.source.validate import validate_sources
from tests.reconcilers.estate.test_layers_and_holds import ESTATE

NOW = datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
STARTED = (NOW - timedelta(seconds=10)).isoformat()
HOLD3 = "stopped by `homeport estate shutdown` #2 (layer 3, apps)"


def resources() -> list[Resource]:
    result = validate_sources([("estate.yaml", ESTATE.encode())])
    assert result.ok
    return [o.resource for o in result.objects]


def request(op: str = "shutdown", target: int = 3, **extra: Any) -> PowerRequest:
    base: PowerRequest = {
        "id": 2,
        "op": op,
        "target": target,
        "at": NOW.isoformat(),
        "by": "alice",
        "state": "running",
        "timeout": 600.0,
        "layers": {},
    }
    return {**base, **extra}  # type: ignore[typeddict-item]


def pair(final_sync_hold: str | None = None, primary: str = "web-a") -> PairView:
    return PairView("web", primary, "web-b", 1, False, None, final_sync_hold, "synced")


def seen(req: PowerRequest | None, holds: EstateHold | None = None, **extra: Any) -> PowerObserved:
    items = resources()
    return PowerObserved(
        request=req,
        holds=holds or {},
        vms=tuple(estate_vms(items)),
        pairs=extra.pop("pairs", {"web": pair()}),
        app_vm={"web-a": "web-a", "web-b": "web-b"},
        **extra,
    )


def layer(**entry: Any) -> dict[str, Any]:
    return {"name": "apps", "startedAt": STARTED, "vms": {}, "tasks": {}, **entry}


def at3(**entry: Any) -> dict[str, Any]:
    """Layer 4 done, layer 3 as given."""
    return {"4": layer(name="user-facing", finishedAt=STARTED, seconds=1.0), "3": layer(**entry)}


def actions(observed: PowerObserved, now: datetime = NOW) -> list[Any]:
    return list(plan_power(observed, now=now).actions)


def test_nothing_to_do_without_an_open_request() -> None:
    assert plan_power(seen(None), now=NOW).ready
    done = request(state="done")
    plan = plan_power(seen(done), now=NOW)
    assert plan.ready and not plan.actions and plan.reason == "shutdown #2 done"


def test_a_request_is_taken_up_then_the_top_layer_is_held_first() -> None:
    assert actions(seen(request(state="requested"))) == [BeginPower(2, "shutdown")]
    # Layer 4 (scratch) first: it holds its VM; no pair has a member there.
    [begin] = actions(seen(request()))
    assert begin == BeginLayer(
        2, 4, "user-facing", ("scratch",), ("VM/scratch",), why_held(request(), 4)
    )


def test_a_layer_with_a_pair_s_primary_wakes_the_pair_and_waits_for_its_final_sync() -> None:
    req = request(layers={"4": layer(name="user-facing", finishedAt=STARTED, seconds=1.0)})
    [begin] = actions(seen(req))
    assert isinstance(begin, BeginLayer) and begin.layer == 3
    assert begin.hold == ("VM/web-a", "App/web-a") and begin.wake == ("StandbyPair/web",)
    assert begin.why == HOLD3
    # Held, the pair has not answered yet: nothing stops.
    req = request(layers=at3())
    holds: EstateHold = {"held": {"VM/web-a": HOLD3, "App/web-a": HOLD3}}
    plan = plan_power(seen(req, holds), now=NOW)
    assert not plan.actions and "final sync of StandbyPair web" in (plan.waiting or "")
    # It answered this hold (synced, skipped or failed alike): the pair is held next.
    answered = seen(req, holds, pairs={"web": pair(HOLD3)})
    assert actions(answered) == [HoldPairs(2, 3, ("web",), HOLD3)]
    # An answer to an older hold does not count.
    older = seen(req, holds, pairs={"web": pair("stopped by ... #1 (layer 3, apps)")})
    assert not actions(older)


def test_a_pair_that_never_answers_is_held_after_half_the_layer_s_time_with_a_warning() -> None:
    req = request(layers=at3(startedAt=(NOW - timedelta(seconds=301)).isoformat()))
    holds: EstateHold = {"held": {"App/web-a": HOLD3}}
    assert actions(seen(req, holds)) == [HoldPairs(2, 3, ("web",), HOLD3, ("web",))]


def test_a_pair_whose_primary_is_elsewhere_is_held_without_waiting() -> None:
    # After a failover web-b (layer 2) serves: layer 3 only holds its standby.
    req = request(layers=at3())
    first = request(layers={"4": layer(finishedAt=STARTED)})
    [begin] = actions(seen(first, pairs={"web": pair(primary="web-b")}))
    assert isinstance(begin, BeginLayer) and begin.wake == ()
    assert actions(seen(req, pairs={"web": pair(primary="web-b")})) == [
        HoldPairs(2, 3, ("web",), HOLD3)
    ]


def test_each_vm_is_shut_down_once_and_its_task_followed() -> None:
    entry = at3(pairsHeld=True)
    running = VMSeen("web-a", 103, "pve1", "running")
    [stop] = actions(seen(request(layers=entry), world={"web-a": running}))
    assert stop == StopVM(2, 3, "web-a", 103, "pve1", 120)
    # Its task recorded and still running: wait, issue nothing.
    task = TaskSeen("UPID:a", running=True)
    recorded = request(layers=at3(pairsHeld=True, tasks={"web-a": "UPID:a"}))
    world = {"web-a": VMSeen("web-a", 103, "pve1", "running", task)}
    plan = plan_power(seen(recorded, world=world), now=NOW)
    assert not plan.actions and plan.requeue_after and plan.in_progress
    # A shutdown running that the request does not record (the last pass died between
    # issuing and recording it): followed, never issued twice.
    unrecorded = seen(request(layers=entry), world=world)
    assert actions(unrecorded) == [FollowTask(3, "web-a", "UPID:a")]
    # Stopped: the layer is done.
    stopped = {"web-a": VMSeen("web-a", 103, "pve1", "stopped")}
    assert actions(seen(recorded, world=stopped)) == [
        FinishLayer(2, 3, "apps", (("web-a", "stopped"),))
    ]


def test_a_failed_task_or_a_layer_past_its_time_fails_the_request() -> None:
    entry = at3(pairsHeld=True, tasks={"web-a": "UPID:a"})
    failed = TaskSeen("UPID:a", running=False, ok=False, exitstatus="VM quit/powerdown failed")
    world = {"web-a": VMSeen("web-a", 103, "pve1", "running", failed)}
    [answer] = actions(seen(request(layers=entry), world=world))
    assert isinstance(answer, FinishPower) and not answer.ok
    assert "VM web-a" in answer.message and "powerdown failed" in answer.message
    late = NOW + timedelta(seconds=600)
    running = {"web-a": VMSeen("web-a", 103, "pve1", "running", TaskSeen("UPID:a", True))}
    [answer] = actions(seen(request(layers=entry), world=running), late)
    assert isinstance(answer, FinishPower) and not answer.ok
    assert "layer 3 (apps) is not stopped after 600s" in answer.message


def test_all_layers_done_answers_the_request() -> None:
    done = {n: layer(finishedAt=STARTED, seconds=2.0) for n in ("4", "3")}
    [answer] = actions(seen(request(layers=done)))
    assert answer == FinishPower(2, "shutdown", True, "layer 4 (apps) 2.0s, layer 3 (apps) 2.0s")


def test_a_start_brings_a_layer_up_healthy_before_releasing_it() -> None:
    req = request("start", 1, layers={"1": layer(name="infrastructure")})
    holds: EstateHold = {"held": {"VM/router": "x", "VM/web-a": "x", "StandbyPair/web": "x"}}
    stopped = {"router": VMSeen("router", 101, "pve1", "stopped")}
    assert actions(seen(req, holds, world=stopped)) == [StartVM(2, 1, "router", 101, "pve1")]
    running = {"router": VMSeen("router", 101, "pve1", "running")}
    plan = plan_power(seen(req, holds, world=running, problems=("VM router: agent",)), now=NOW)
    assert not plan.actions and plan.waiting == "waiting for VM router: agent"
    [finish] = actions(seen(req, holds, world=running, problems=()))
    assert finish == FinishLayer(2, 1, "infrastructure", (("router", "running"),), ("VM/router",))


def test_a_start_releases_a_pair_once_none_of_its_vms_is_held() -> None:
    done = {"1": layer(finishedAt=STARTED), "2": layer(finishedAt=STARTED)}
    req = request("start", 1, layers={**done, "3": layer()})
    holds: EstateHold = {"held": {"VM/web-a": "x", "App/web-a": "x", "StandbyPair/web": "x"}}
    running = {"web-a": VMSeen("web-a", 103, "pve1", "running")}
    [finish] = actions(seen(req, holds, world=running, problems=()))
    assert isinstance(finish, FinishLayer)
    assert finish.release == ("VM/web-a", "App/web-a", "StandbyPair/web")
    # Everything up: the start answers and lets go of whatever is still held.
    req = request("start", 1, layers={**done, "3": layer(finishedAt=STARTED)})
    [answer] = actions(seen(req, {"held": {"VM/scratch": "x"}}))
    assert isinstance(answer, FinishPower) and answer.ok and answer.release == ("VM/scratch",)


def test_a_layer_without_pairs_stops_its_vms_at_once() -> None:
    req = request(layers={"4": layer(name="user-facing")})
    world = {"scratch": VMSeen("scratch", 105, "pve1", "running")}
    assert actions(seen(req, world=world)) == [StopVM(2, 4, "scratch", 105, "pve1", 120)]


def test_a_pair_held_by_an_earlier_layer_is_not_waited_for() -> None:
    # Its standby's layer went down first: the engine leaves the held pair alone, so it
    # could not answer, and there is nothing to sync to anyway.
    earlier = "stopped by `homeport estate shutdown` #2 (layer 4, user-facing)"
    holds: EstateHold = {
        "held": {"VM/web-a": HOLD3, "App/web-a": HOLD3, "StandbyPair/web": earlier}
    }
    assert actions(seen(request(layers=at3()), holds)) == [HoldPairs(2, 3, ("web",), HOLD3)]
