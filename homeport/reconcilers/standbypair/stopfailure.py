"""What went wrong when fencing a primary by stopping its VM failed, said as it happened.

The timeline and the quarantine event used to call every failure "node unreachable",
even when the node answered and only refused the stop (a 500 on ``status/stop``): an
operator then looks for a network fault that is not there. ``__init__._fence`` words its
timeline entry with ``stop_failure``.
"""

from __future__ import annotations

from homeport.clients.errors import (
    OutcomeUnknown,
    ProxmoxError,
    TaskFailed,
    TaskTimeout,
    Unreachable,
)


def stop_failure(node: str | None, vmid: int | None, exc: BaseException, timeout: float) -> str:
    """One clause naming what happened to the stop of VM ``vmid`` on ``node``."""
    vm = f"VM {vmid} on {node}"
    if isinstance(exc, TimeoutError | TaskTimeout):
        return f"the stop of {vm} was not confirmed within {timeout:.0f}s"
    if isinstance(exc, OutcomeUnknown):
        return f"the answer to the stop of {vm} was lost ({exc})"
    if isinstance(exc, TaskFailed):
        return f"the stop task of {vm} failed ({exc})"
    if isinstance(exc, ProxmoxError) and not isinstance(exc, Unreachable):
        return f"node {node} answered but refused to stop {vm} ({exc})"
    return f"node {node} unreachable ({exc})"
