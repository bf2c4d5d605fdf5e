"""Failed vzdump runs of a VM: read from its node's task list (the failed tasks of the
last eight days) and their logs, and attributed to the guests they failed for.

Read by ``observe.py``; the plan reports a failure newer than the VM's newest archive.
"""

from __future__ import annotations

import re
from datetime import timedelta

from homeport.clients.errors import ProxmoxError
from homeport.reconcilers.backuppolicy.observed import BackupFailure
from homeport.reconcilers.base import ReconcileContext

FAILURE_LOOKBACK = timedelta(days=8)
LOG_TAIL = 8
_GUEST_ERROR = re.compile(r"ERROR: Backup of VM (\d+) failed - (.*)")
_JOB_START = re.compile(r"starting new backup job: vzdump ([\d ]+)")


async def failures(
    ctx: ReconcileContext, node: str, vmid: int, newest: int
) -> tuple[BackupFailure, ...]:
    px = ctx.clients.proxmox
    since = int((ctx.now() - FAILURE_LOOKBACK).timestamp()) // 3600 * 3600
    try:
        runs = await ctx.shared(
            f"proxmox.vzdump-failures:{node}",
            lambda: px.backups.vzdump_runs(node, since=since, errors=True),
        )
    except ProxmoxError:
        return ()  # the node does not answer: its runs are read once it does
    found = []
    for run in runs:
        if not run.failed or (run.endtime or run.starttime) <= newest:
            continue
        log: list[str] = await ctx.shared(
            f"proxmox.task-log:{run.upid}", lambda run=run: px.tasks.log(node, run.upid)
        )
        if vmid in vmids_failed(run.id, log) or (not run.id and not _covered(log)):
            at = run.endtime or run.starttime
            found.append(BackupFailure(run.upid, node, at, run.status, tuple(log[-LOG_TAIL:])))
    return tuple(found)


def _covered(log: list[str]) -> set[int]:
    for line in log:
        match = _JOB_START.search(line)
        if match:
            return {int(v) for v in match.group(1).split()}
    return set()


def vmids_failed(task_id: str, log: list[str]) -> set[int]:
    """The guests a failed vzdump run failed for: its per-guest errors, else the guests it
    covered (a run that died as a whole), else its task id."""
    failed = {int(m.group(1)) for line in log if (m := _GUEST_ERROR.search(line))}
    if failed:
        return failed
    covered = _covered(log)
    if covered:
        return covered
    return {int(task_id)} if task_id.isdigit() else set()
