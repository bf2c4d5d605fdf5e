"""Performing an estate power request's steps (``actions.py``): Proxmox's shutdowns and
starts, and the request's progress, the holds and the history in this object's memory.
Each step is recorded before the reconcile returns, so a crash resumes at the next one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from homeport.clients.errors import ProxmoxError
from homeport.reconcilers.base import Action, ReconcileContext
from homeport.reconcilers.errors import TemporaryError
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
from homeport.reconcilers.estate.holds import with_held, with_released
from homeport.reconcilers.estate.layers import layer_name
from homeport.reconcilers.slots import (
    ESTATE_HOLD,
    ESTATE_POWER_HISTORY,
    ESTATE_POWER_REQUEST,
    PowerLayerProgress,
    PowerRequest,
)

HISTORY = 10
"""Answered requests ``homeport estate status`` shows."""


async def act_power(action: Action, ctx: ReconcileContext) -> None:
    request = ESTATE_POWER_REQUEST.recall(ctx)
    if request is None:
        raise TemporaryError("the estate power request was withdrawn", delay=1.0)
    if request["id"] != getattr(action, "id", request["id"]):
        raise TemporaryError("the estate power request was replaced", delay=0.0)
    if isinstance(action, BeginPower):
        _save(ctx, {**request, "state": "running", "layers": request.get("layers") or {}})
        ctx.event(f"Estate{action.op.capitalize()}Started", action.describe())
    elif isinstance(action, BeginLayer):
        _begin_layer(action, request, ctx)
    elif isinstance(action, HoldPairs):
        _hold(ctx, [f"StandbyPair/{p}" for p in action.pairs], action.why)
        _layer(ctx, request, action.layer, pairsHeld=True)
        for pair in action.unanswered:
            ctx.event(
                "FinalSyncMissing",
                f"StandbyPair {pair} did not answer with its final sync in time; "
                "its standby keeps its last sync",
                warning=True,
            )
    elif isinstance(action, StopVM | StartVM):
        await _power(action, request, ctx)
    elif isinstance(action, FollowTask):
        _record_task(ctx, request, action.layer, action.vm, action.upid)
        ctx.event("EstatePowerResumed", action.describe())
    elif isinstance(action, FinishLayer):
        _finish_layer(action, request, ctx)
    elif isinstance(action, FinishPower):
        _finish(action, request, ctx)


def _begin_layer(action: BeginLayer, request: PowerRequest, ctx: ReconcileContext) -> None:
    if action.hold:
        _hold(ctx, action.hold, action.why)
    entry: PowerLayerProgress = {
        "name": action.name,
        "startedAt": ctx.now().isoformat(),
        "vms": dict.fromkeys(action.members, "pending"),
        "tasks": {},
    }
    _save(ctx, {**request, "layers": {**(request.get("layers") or {}), str(action.layer): entry}})
    ctx.event("EstateLayerStarted", action.describe())
    _wake(ctx, action.wake)


async def _power(action: StopVM | StartVM, request: PowerRequest, ctx: ReconcileContext) -> None:
    px = ctx.clients.proxmox
    where = f"layer {action.layer} ({layer_name(action.layer)})"
    stopping = isinstance(action, StopVM)
    doing = (
        f"shutting VM {action.vmid} on {action.node} down"
        if stopping
        else (f"starting VM {action.vmid} on {action.node}")
    )
    ctx.event(
        "EstateStop" if stopping else "EstateStart", f"{where}: {doing}", about=("VM", action.vm)
    )
    try:
        if isinstance(action, StopVM):
            task = await px.shutdown_vm(
                action.node, action.vmid, timeout=action.timeout, force_stop=True
            )
        else:
            task = await px.start_vm(action.node, action.vmid)
    except ProxmoxError as exc:
        if exc.transient:
            raise  # the engine's error policy retries; the next pass looks at the VM first
        # Refused outright (a permission, a lock): the request is answered, not left open
        # for the operator's command to wait on until its timeout.
        message = f"VM {action.vm}: Proxmox refused {doing}: {exc}"
        _finish(FinishPower(action.id, request["op"], False, message), request, ctx)
        return
    if task is not None:
        _record_task(ctx, request, action.layer, action.vm, task.upid)


def _record_task(
    ctx: ReconcileContext, request: PowerRequest, layer: int, vm: str, upid: str
) -> None:
    entry = (request.get("layers") or {}).get(str(layer)) or {}
    _layer(ctx, request, layer, tasks={**(entry.get("tasks") or {}), vm: upid})


def _finish_layer(action: FinishLayer, request: PowerRequest, ctx: ReconcileContext) -> None:
    now = ctx.now()
    entry = (request.get("layers") or {}).get(str(action.layer)) or {}
    seconds = _seconds(entry.get("startedAt"), now)
    # Released first: a crash in between finishes the layer again, releasing nothing more.
    _release(ctx, action.release)
    _layer(
        ctx,
        request,
        action.layer,
        vms=dict(action.vms),
        finishedAt=now.isoformat(),
        seconds=seconds,
    )
    ctx.event("EstateLayerDone", f"layer {action.layer} ({action.name}): done in {seconds:.1f}s")


def _finish(action: FinishPower, request: PowerRequest, ctx: ReconcileContext) -> None:
    _release(ctx, action.release)
    answered: PowerRequest = {
        **request,
        "state": "done" if action.ok else "failed",
        "finishedAt": ctx.now().isoformat(),
        "message": action.message,
    }
    _save(ctx, answered)
    remember_history(ctx, answered)
    if action.ok:
        ctx.event(f"Estate{action.op.capitalize()}Finished", action.describe())
    else:
        ctx.event("EstatePowerFailed", action.describe(), warning=True)


def remember_history(ctx: ReconcileContext, request: PowerRequest) -> None:
    history = ESTATE_POWER_HISTORY.recall(ctx) or {"operations": []}
    kept = [o for o in history["operations"] if o["id"] != request["id"]][-(HISTORY - 1) :]
    ESTATE_POWER_HISTORY.remember(ctx, {"operations": [*kept, request]})


def _seconds(started: str | None, now: datetime) -> float:
    if not started:
        return 0.0
    return round(max(0.0, (now - datetime.fromisoformat(started)).total_seconds()), 2)


def _layer(ctx: ReconcileContext, request: PowerRequest, layer: int, **changes: object) -> None:
    layers = dict(request.get("layers") or {})
    entry: PowerLayerProgress = {**(layers.get(str(layer)) or {}), **changes}  # type: ignore[typeddict-item]
    layers[str(layer)] = entry
    _save(ctx, {**request, "layers": layers})


def _save(ctx: ReconcileContext, request: PowerRequest) -> None:
    ESTATE_POWER_REQUEST.remember(ctx, request)


def _hold(ctx: ReconcileContext, keys: Iterable[str], why: str) -> None:
    keys = list(keys)
    ESTATE_HOLD.remember(ctx, with_held(ESTATE_HOLD.recall(ctx) or {}, keys, why))
    _wake(ctx, keys)


def _release(ctx: ReconcileContext, keys: Iterable[str]) -> None:
    keys = list(keys)
    if keys:
        ESTATE_HOLD.remember(ctx, with_released(ESTATE_HOLD.recall(ctx) or {}, keys, ctx.now()))
        _wake(ctx, keys)


def _wake(ctx: ReconcileContext, keys: Iterable[str]) -> None:
    """Reconcile these now (held: they report it; released: they converge again)."""
    for key in keys:
        kind, name = key.split("/", 1)
        ctx.wake(kind, name)
