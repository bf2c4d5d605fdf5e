"""Operator commands: ``failover``, ``failback``, ``reconcile``, ``suspend``, ``resume``.

They record a durable request in the store (so a daemon that is down or restarting still
sees it) and poke the daemon through its control socket to act on it at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from homeport.cli.common import CONFIG_OPTION, settings_or_exit
from homeport.cli.output import console
from homeport.cli.progress import reporting
from homeport.controller.config import Settings
from homeport.controller.control import send_request
from homeport.controller.revisions import request_reverify
from homeport.controller.store import Store
from homeport.kinds import lookup_kind
from homeport.reconcilers.slots import PAIR_REQUEST, SUSPEND, PairRequest
from homeport.services.ha.planes import operator_writes


def _store(settings: Settings) -> Store:
    if not settings.store.path.exists():
        console(stderr=True).print(
            f"error: {settings.store.path}: no store yet (has the daemon run?)", markup=False
        )
        raise typer.Exit(2)
    return Store.open(settings.store.path)


def _pair_or_exit(store: Store, name: str) -> None:
    obj = store.objects.get(("StandbyPair", name))
    if obj is None or obj.deleting:
        console(stderr=True).print(
            f"error: StandbyPair/{name} not found (see `homeport get standbypairs`)", markup=False
        )
        raise typer.Exit(1)


def _poke(settings: Settings, kind: str, name: str) -> str:
    woke = send_request(settings.store.path, {"op": "reconcile", "kind": kind, "name": name})
    return "" if woke else " (the daemon is not running: it acts on it when it starts)"


def newest_failover(records: list[dict[str, Any]]) -> int | None:
    """The identity (row id) of the newest failover record, None when there is none."""
    return int(records[-1]["id"]) if records else None


def wait_verdict(before: int | None, records: list[dict[str, Any]], *, pending: bool) -> str | None:
    """``done`` once a failover record newer than ``before`` completed; ``dropped`` when the
    request is gone and no new record was written; None: keep waiting. Records are compared
    by identity: a count is capped by the store's listing limit."""
    newest = records[-1] if records else None
    new = newest is not None and newest["id"] != before
    if new and newest is not None and newest["outcome"] == "completed":
        return "done"
    if not pending and not new:
        return "dropped"
    return None


def _request_pair(
    settings: Settings, name: str, op: str, wait: float, *, accept_data_loss: bool | None = None
) -> None:
    store = _store(settings)
    try:
        _pair_or_exit(store, name)
        before = newest_failover(store.failovers.for_pair(name, limit=1))
        request: PairRequest = {"op": op, "at": datetime.now(UTC).isoformat()}
        if accept_data_loss is not None:
            request["accept_data_loss"] = accept_data_loss
        with operator_writes(store, settings):
            PAIR_REQUEST.set(store, name, request, now=request["at"])
    finally:
        store.close()
    out = console()
    out.print(
        f"requested {request['op']} of StandbyPair/{name}{_poke(settings, 'StandbyPair', name)}",
        markup=False,
    )
    if wait <= 0:
        out.print("follow it with: homeport events --follow", markup=False)
        return
    with reporting(request["op"]) as report:
        report("waiting for the daemon to take the request")
        _wait_for_pair(settings, name, before, wait, report)


def new_steps(before: int | None, records: list[dict[str, Any]], shown: int) -> list[str]:
    """The timeline steps of the failover newer than ``before`` not yet shown (``shown`` of
    them were), as ``Phase: detail`` lines for progress."""
    newest = records[-1] if records else None
    if newest is None or newest["id"] == before:
        return []
    steps = newest.get("timeline") or []
    return [f"{s['phase']}: {s.get('detail', '')}".rstrip(": ") for s in steps[shown:]]


def _wait_for_pair(
    settings: Settings,
    name: str,
    before: int | None,
    wait: float,
    report: Callable[[str], None],
) -> None:
    out = console()
    shown = 0
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(0.2)
        store = Store.open(settings.store.path, readonly=True)
        try:
            records = store.failovers.for_pair(name, limit=1)
            pending = PAIR_REQUEST.get(store, name)
        finally:
            store.close()
        for line in new_steps(before, records, shown):
            report(line)
            shown += 1
        verdict = wait_verdict(before, records, pending=bool(pending))
        if verdict == "done":
            record = records[-1]
            out.print(
                f"done: {record['from_app']} → {record['to_app']} (epoch {record['epoch']})",
                markup=False,
            )
            return
        if verdict == "dropped":
            out.print(
                "the daemon dropped the request; see `homeport describe standbypair "
                f"{name}` and `homeport events`",
                markup=False,
            )
            raise typer.Exit(1)
    out.print(f"not done after {wait:g}s; see `homeport describe standbypair {name}`", markup=False)
    raise typer.Exit(1)


def failover(
    pair: str = typer.Argument(..., help="The StandbyPair."),
    accept_data_loss: bool = typer.Option(
        False, "--accept-data-loss", help="Promote even though the standby lags more than allowed."
    ),
    wait: float = typer.Option(
        0.0, "--wait", help="Wait up to this many seconds for it to finish."
    ),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Swap a pair's primary and standby now.

    With both healthy it is a planned switchover: drain, final sync, swap, zero data loss.
    With the primary down it fails over; `--accept-data-loss` overrides the lag gate.

    Example: [bold]homeport failover shop --wait 30[/bold]
    """
    settings = settings_or_exit(config)
    _request_pair(settings, pair, "failover", wait, accept_data_loss=accept_data_loss)


def failback(
    pair: str = typer.Argument(..., help="The StandbyPair."),
    wait: float = typer.Option(
        0.0, "--wait", help="Wait up to this many seconds for it to finish."
    ),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Switch a pair back to its declared primary (a planned, zero-loss switchover).

    Example: [bold]homeport failback shop[/bold]
    """
    settings = settings_or_exit(config)
    _request_pair(settings, pair, "failback", wait)


def _object_or_exit(store: Store, kind: str, name: str) -> str:
    model = lookup_kind(kind)
    if model is None:
        console(stderr=True).print(f"error: unknown kind {kind!r}", markup=False)
        raise typer.Exit(2)
    if store.objects.get((model.kind_name, name)) is None:
        console(stderr=True).print(f"error: {model.kind_name}/{name} not found", markup=False)
        raise typer.Exit(1)
    return model.kind_name


def reconcile(
    kind: str | None = typer.Argument(None, help="Kind of the object."),
    name: str | None = typer.Argument(None, help="Name of the object."),
    reverify: bool = typer.Option(
        False,
        "--reverify",
        help="Judge the running revision's signature again with today's trusted keys "
        "(and retry a revision held for its signature).",
    ),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Ask the daemon to reconcile one object now (like `flux reconcile`).

    Example: [bold]homeport reconcile app shop-a[/bold], or after changing the trusted
    keys: [bold]homeport reconcile --reverify[/bold]
    """
    settings = settings_or_exit(config)
    if reverify:
        _request_reverify(settings)
        return
    if kind is None or name is None:
        raise typer.BadParameter("give KIND NAME, or --reverify")
    store = Store.open(settings.store.path, readonly=True) if settings.store.path.exists() else None
    if store is None:
        console(stderr=True).print("error: no store yet (has the daemon run?)", markup=False)
        raise typer.Exit(2)
    try:
        kind_name = _object_or_exit(store, kind, name)
    finally:
        store.close()
    if not send_request(settings.store.path, {"op": "reconcile", "kind": kind_name, "name": name}):
        console(stderr=True).print("error: the daemon is not running", markup=False)
        raise typer.Exit(1)
    console().print(f"reconcile of {kind_name}/{name} requested", markup=False)


def _request_reverify(settings: Settings) -> None:
    store = _store(settings)
    try:
        with operator_writes(store, settings):
            request_reverify(store, datetime.now(UTC).isoformat())
    finally:
        store.close()
    woke = send_request(settings.store.path, {"op": "sync"})
    note = "" if woke else " (the daemon is not running: it does it when it starts)"
    console().print(f"re-verification of the running revision requested{note}", markup=False)


def _suspend(kind: str, name: str, config: Path | None, suspended: bool) -> None:
    settings = settings_or_exit(config)
    store = _store(settings)
    try:
        kind_name = _object_or_exit(store, kind, name)
        now = datetime.now(UTC).isoformat()
        with operator_writes(store, settings):
            if suspended:
                SUSPEND.set(store, kind_name, name, {"by": "cli", "at": now}, now=now)
            else:
                SUSPEND.forget(store, kind_name, name)
    finally:
        store.close()
    word = "suspended" if suspended else "resumed"
    console().print(f"{kind_name}/{name} {word}{_poke(settings, kind_name, name)}", markup=False)


def suspend(
    kind: str = typer.Argument(..., help="Kind of the object."),
    name: str = typer.Argument(..., help="Name of the object."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Pause reconciliation of one object without a commit (until `homeport resume`).

    Example: [bold]homeport suspend vm dev-1[/bold]
    """
    _suspend(kind, name, config, True)


def resume(
    kind: str = typer.Argument(..., help="Kind of the object."),
    name: str = typer.Argument(..., help="Name of the object."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Resume reconciliation of an object paused with `homeport suspend`.

    Example: [bold]homeport resume vm dev-1[/bold]
    """
    _suspend(kind, name, config, False)
