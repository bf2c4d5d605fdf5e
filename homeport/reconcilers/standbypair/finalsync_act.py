"""The I/O of the estate shutdown's final sync (``finalsync.py`` plans it): stop the
primary's App, run the sync on its VM, and answer the hold in the pair's memory. A sync
that fails is answered too (the shutdown goes on: the standby keeps its last sync)."""

from __future__ import annotations

from dataclasses import replace

from homeport.clients.errors import ClientError
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.slots import FinalSyncDocument
from homeport.reconcilers.standbypair.finalsync import (
    FAILED,
    SKIPPED,
    SYNCED,
    AnswerFinalSync,
    EstateFinalSync,
)
from homeport.reconcilers.standbypair.state import PairState


async def final_sync(
    action: EstateFinalSync, memory: PairState, ctx: ReconcileContext
) -> PairState:
    """The memory after the sync (or its failure) was answered."""
    now = ctx.now()
    try:
        await ctx.clients.systemd.stop(action.host, action.unit, missing_ok=True)
        result = await ctx.clients.ssh.run(
            action.host, list(action.command), timeout=600, check=False
        )
        error = None if result.ok else result.stderr.decode(errors="replace").strip()[-200:]
    except ClientError as exc:
        error = str(exc)
    if error is not None:
        message = f"final sync {action.app} → {action.standby} failed: {error}"
        ctx.event("FinalSyncFailed", message, warning=True)
        return replace(memory, final_sync=_answer(action.hold, FAILED, message, ctx))
    message = f"{action.app} stopped and synced to {action.standby} before the shutdown"
    ctx.event("FinalSync", message)
    answered = _answer(action.hold, SYNCED, message, ctx)
    return replace(memory, last_sync=now, last_sync_error=None, final_sync=answered)


def answer(action: AnswerFinalSync, memory: PairState, ctx: ReconcileContext) -> PairState:
    ctx.event("FinalSyncSkipped", action.describe())
    return replace(memory, final_sync=_answer(action.hold, SKIPPED, action.message, ctx))


def _answer(hold: str, outcome: str, message: str, ctx: ReconcileContext) -> FinalSyncDocument:
    return {"hold": hold, "at": ctx.now().isoformat(), "outcome": outcome, "message": message}
