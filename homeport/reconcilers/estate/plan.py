"""The estate power plan: pure. The next step of ``homeport estate shutdown|start``.

The request (``slots.PowerRequest``) records its progress per layer; the plan takes the
first layer not finished and decides, from what the world shows:

- a shutdown (user-facing first, down to the request's target layer): hold the layer's VMs
  and Apps; wait for each StandbyPair whose primary is there to answer the hold with its
  final sync (``PairView.answered``; the pair plans the sync itself), then hold the pairs;
  shut every VM down (one task each, followed, never issued twice); the layer is done when
  all are stopped;
- a start (infrastructure first, only VMs declared running): start every VM, wait until
  all run and pass their health checks (guest agent, each App's check), then release the
  layer's holds and the pairs none of whose VMs is held any more;
- each layer within the request's timeout, or the request fails with the reason.

A crash anywhere resumes here: every step is recorded in the request (durable memory) and
every VM is looked at first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from homeport.reconcilers.base import Action, Plan
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
from homeport.reconcilers.estate.holds import held_keys
from homeport.reconcilers.estate.layers import (
    PowerVM,
    layer_name,
    pairs_to_release,
    shutdown_layers,
    start_layers,
)
from homeport.reconcilers.pairview import PairView
from homeport.reconcilers.powerhold import hold_key
from homeport.reconcilers.slots import EstateHold, PowerLayerProgress, PowerRequest

OPEN = ("requested", "running")
POLL = 1.0
"""Look again this soon while tasks run or a layer comes up."""
SHUTDOWN_TIMEOUT = 120
"""Seconds a VM gets to shut down gracefully (ACPI) before it is stopped hard."""
DEFAULT_TIMEOUT = 600.0


@dataclass(frozen=True)
class TaskSeen:
    """A VM's shutdown or start task as Proxmox reports it."""

    upid: str
    running: bool
    ok: bool = False
    exitstatus: str = ""


@dataclass(frozen=True)
class VMSeen:
    """A VM of the current layer as the cluster shows it."""

    name: str
    vmid: int | None = None
    node: str | None = None
    status: str | None = None
    """``running``, ``stopped``, ...; None: not in the cluster (absent)."""
    task: TaskSeen | None = None
    """Its recorded task, or one found running that the request does not record."""


@dataclass(frozen=True)
class PowerObserved:
    request: PowerRequest | None
    holds: EstateHold = field(default_factory=lambda: EstateHold())
    vms: tuple[PowerVM, ...] = ()
    pairs: Mapping[str, PairView] = field(default_factory=dict)
    """The live StandbyPairs as they report themselves."""
    app_vm: Mapping[str, str] = field(default_factory=dict)
    """App → the VM it runs on."""
    world: Mapping[str, VMSeen] = field(default_factory=dict)
    """The current layer's VMs."""
    problems: tuple[str, ...] | None = None
    """A start's current layer, once all its VMs run: what fails its health checks (None:
    not checked)."""


def is_open(request: Mapping[str, object] | None) -> bool:
    return request is not None and request.get("state") in OPEN


def layers_of(
    request: PowerRequest, vms: tuple[PowerVM, ...]
) -> list[tuple[int, tuple[PowerVM, ...]]]:
    if request["op"] == "shutdown":
        return shutdown_layers(vms, request["target"])
    return start_layers(vms)


def current_layer(
    request: PowerRequest | None, vms: tuple[PowerVM, ...]
) -> tuple[int, tuple[PowerVM, ...]] | None:
    """The first layer the request has not finished (None: all finished, or no request)."""
    if request is None or not is_open(request) or request["state"] != "running":
        return None
    progress = request.get("layers") or {}
    for layer, members in layers_of(request, vms):
        if not (progress.get(str(layer)) or {}).get("finishedAt"):
            return layer, members
    return None


def why_held(request: PowerRequest, layer: int) -> str:
    return (
        f"stopped by `homeport estate shutdown` #{request['id']} "
        f"(layer {layer}, {layer_name(layer)})"
    )


def plan_power(seen: PowerObserved, *, now: datetime) -> Plan:
    request = seen.request
    if request is None or not is_open(request):
        return Plan(ready=True, reason=_idle(request))
    if request["state"] == "requested":
        return Plan(actions=(BeginPower(request["id"], request["op"]),))
    found = current_layer(request, seen.vms)
    if found is None:
        release = tuple(held_keys(seen.holds)) if request["op"] == "start" else ()
        return _act(FinishPower(request["id"], request["op"], True, _summary(request), release))
    layer, members = found
    entry: PowerLayerProgress = (request.get("layers") or {}).get(str(layer)) or {}
    started = entry.get("startedAt")
    if not started:
        return _act(_begin(request, layer, members, seen))
    deadline = datetime.fromisoformat(started) + timedelta(
        seconds=request.get("timeout", DEFAULT_TIMEOUT)
    )
    if request["op"] == "shutdown":
        plan = _shutdown_layer(request, layer, members, entry, seen, now, deadline)
    else:
        plan = _start_layer(request, layer, members, seen)
    if plan.actions or now <= deadline:
        return plan
    message = (
        f"layer {layer} ({layer_name(layer)}) is not {_goal(request)} after "
        f"{request.get('timeout', DEFAULT_TIMEOUT):.0f}s: {plan.waiting}"
    )
    return _act(FinishPower(request["id"], request["op"], False, message))


def _act(*actions: Action) -> Plan:
    return Plan(actions=actions)


def _goal(request: PowerRequest) -> str:
    return "stopped" if request["op"] == "shutdown" else "healthy"


def _idle(request: PowerRequest | None) -> str:
    if request is None:
        return "no estate power operation requested"
    return f"{request['op']} #{request['id']} {request['state']}"


def _summary(request: PowerRequest) -> str:
    layers = request.get("layers") or {}
    return ", ".join(
        f"layer {n} ({entry.get('name')}) {entry.get('seconds', 0):.1f}s"
        for n, entry in layers.items()
    )


def _pairs_led_from(members: tuple[PowerVM, ...], seen: PowerObserved) -> list[str]:
    """The layer's pairs whose primary (as the pair reports it) runs on one of its VMs."""
    names = {vm.name for vm in members}
    return sorted(
        p
        for p in {p for vm in members for p in vm.pairs}
        if p in seen.pairs and seen.app_vm.get(seen.pairs[p].primary) in names
    )


def _begin(
    request: PowerRequest, layer: int, members: tuple[PowerVM, ...], seen: PowerObserved
) -> BeginLayer:
    names = tuple(vm.name for vm in members)
    if request["op"] != "shutdown":
        return BeginLayer(request["id"], layer, layer_name(layer), names)
    wake = tuple(hold_key("StandbyPair", p) for p in _pairs_led_from(members, seen))
    return BeginLayer(
        request["id"],
        layer,
        layer_name(layer),
        names,
        hold=tuple(k for vm in members for k in vm.hold_keys()),
        why=why_held(request, layer),
        wake=wake,
    )


def _shutdown_layer(
    request: PowerRequest,
    layer: int,
    members: tuple[PowerVM, ...],
    entry: PowerLayerProgress,
    seen: PowerObserved,
    now: datetime,
    deadline: datetime,
) -> Plan:
    pairs = sorted({p for vm in members for p in vm.pairs})
    if pairs and not entry.get("pairsHeld"):
        held = held_keys(seen.holds)
        # A pair held already (an earlier layer stopped its standby) is not reconciled and
        # has nothing to sync to: no answer to wait for.
        waiting = [
            p
            for p in _pairs_led_from(members, seen)
            if hold_key("StandbyPair", p) not in held
            and not seen.pairs[p].answered(held.get(hold_key("App", seen.pairs[p].primary), ""))
        ]
        # The final syncs get half the layer's time: the VMs must still stop in the rest.
        syncs_until = deadline - (deadline - datetime.fromisoformat(entry["startedAt"])) / 2
        if waiting and now <= syncs_until:
            return _wait(f"the final sync of StandbyPair {', '.join(waiting)}")
        hold = HoldPairs(
            request["id"], layer, tuple(pairs), why_held(request, layer), tuple(waiting)
        )
        return _act(hold)
    stepped = _vm_steps(request, "shutdown", layer, members, entry, seen)
    return stepped or _act(_finish(request, layer, members, seen))


def _vm_steps(
    request: PowerRequest,
    op: str,
    layer: int,
    members: tuple[PowerVM, ...],
    entry: PowerLayerProgress,
    seen: PowerObserved,
) -> Plan | None:
    """The layer's VMs stopped (``shutdown``) or started: their next actions, a wait while
    any is in flight, the request failed with the first VM that failed; None once all are
    done."""
    actions: list[Action] = []
    pending: list[str] = []
    for vm in members:
        state, action = _vm_step(request, op, layer, vm, entry, seen.world.get(vm.name))
        if action is not None:
            actions.append(action)
        elif state is None:
            pending.append(vm.name)
        elif state.startswith("failed"):
            return _act(FinishPower(request["id"], op, False, f"VM {vm.name}: {state}"))
    if actions:
        return Plan(actions=tuple(actions))
    if pending:
        return _wait(f"VM {', '.join(pending)} to {'stop' if op == 'shutdown' else 'run'}")
    return None


def _vm_step(
    request: PowerRequest,
    op: str,
    layer: int,
    vm: PowerVM,
    entry: PowerLayerProgress,
    seen: VMSeen | None,
) -> tuple[str | None, Action | None]:
    """(the VM's state once its step is done — None while it is not —, the action)."""
    if seen is None or seen.vmid is None or seen.node is None or seen.status is None:
        return "absent", None
    done = "stopped" if op == "shutdown" else "running"
    if seen.status == done:
        return done, None
    issue: StopVM | StartVM = (
        StopVM(request["id"], layer, vm.name, seen.vmid, seen.node, SHUTDOWN_TIMEOUT)
        if op == "shutdown"
        else StartVM(request["id"], layer, vm.name, seen.vmid, seen.node)
    )
    return _task_step(entry, seen, issue)


def _task_step(
    entry: PowerLayerProgress, seen: VMSeen, issue: StopVM | StartVM
) -> tuple[str | None, Action | None]:
    task = seen.task
    if task is None:
        return None, issue
    if (entry.get("tasks") or {}).get(seen.name) != task.upid:
        return None, FollowTask(issue.layer, seen.name, task.upid)
    if task.running or task.ok:
        return None, None  # running, or done and the status not caught up yet
    return f"failed: task {task.upid} ended {task.exitstatus}", None


def _start_layer(
    request: PowerRequest, layer: int, members: tuple[PowerVM, ...], seen: PowerObserved
) -> Plan:
    entry: PowerLayerProgress = (request.get("layers") or {}).get(str(layer)) or {}
    stepped = _vm_steps(request, "start", layer, members, entry, seen)
    if stepped is not None:
        return stepped
    if seen.problems is None:
        return _wait("the layer's health checks")
    if seen.problems:
        return _wait("; ".join(seen.problems))
    return _act(_finish(request, layer, members, seen))


def _finish(
    request: PowerRequest, layer: int, members: tuple[PowerVM, ...], seen: PowerObserved
) -> FinishLayer:
    states = tuple((vm.name, _final_state(request, seen.world.get(vm.name))) for vm in members)
    if request["op"] == "shutdown":
        return FinishLayer(request["id"], layer, layer_name(layer), states)
    held = held_keys(seen.holds)
    keys = [k for vm in members for k in vm.hold_keys() if k in held]
    still = {k.split("/", 1)[1] for k in held if k.startswith("VM/") and k not in keys}
    members_of: dict[str, set[str]] = {}
    for vm in seen.vms:
        for pair in vm.pairs:
            members_of.setdefault(pair, set()).add(vm.name)
    pairs = [
        hold_key("StandbyPair", p)
        for p in pairs_to_release(members_of, still)
        if hold_key("StandbyPair", p) in held
    ]
    return FinishLayer(request["id"], layer, layer_name(layer), states, (*keys, *pairs))


def _final_state(request: PowerRequest, seen: VMSeen | None) -> str:
    if seen is None or seen.status is None:
        return "absent"
    return "stopped" if request["op"] == "shutdown" else "running"


def _wait(what: str) -> Plan:
    return Plan(waiting=f"waiting for {what}", requeue_after=POLL, in_progress=True)
