"""The read side: ``status``, ``get``, ``describe``, ``events`` — straight from the store.

Reads open the store read-only (WAL: never blocks the daemon).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from homeport.cli.common import CONFIG_OPTION, open_store_readonly, settings_or_exit
from homeport.cli.coordination_view import render_coordination
from homeport.cli.output import OUTPUT_OPTION, OutputFormat, console, print_data
from homeport.cli.status_view import render_status, signature_line
from homeport.controller.ha.status import coordination_document
from homeport.controller.revisions import ADOPTED
from homeport.controller.store import Event, StoredObject
from homeport.controller.views.objects import age, message_of, object_document, state_of, summary_of
from homeport.controller.views.status import exit_code, status_document
from homeport.kinds import lookup_kind


def _kind_or_exit(kind: str) -> str:
    model = lookup_kind(kind)
    if model is None:
        console(stderr=True).print(
            f"error: unknown kind {kind!r} (Machine, VM, App, ProxyRoute, BackupPolicy, StandbyPair)",
            markup=False,
        )
        raise typer.Exit(2)
    return model.kind_name


EXIT_CODE_OPTION = typer.Option(
    False,
    "--exit-code",
    help="Exit 1 when any object is not Ready, 2 when no daemon is alive (for cron and CI).",
)


def status(
    config: Path | None = CONFIG_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
    exit_code_flag: bool = EXIT_CODE_OPTION,
) -> None:
    """Is everything fine, and if not, what exactly is wrong — in one screen.

    Example: [bold]homeport status[/bold], [bold]homeport status -o json[/bold],
    [bold]homeport status --exit-code[/bold]
    """
    settings = settings_or_exit(config)
    store = open_store_readonly(settings)
    try:
        document = status_document(
            store, now=datetime.now(UTC), alive_within=settings.coordination.lease_duration
        )
    finally:
        store.close()
    if settings.coordination.backend == "etcd":  # the control planes, live (docs/ha.md)
        document["coordination"] = coordination_document(settings)
    if output in (OutputFormat.json, OutputFormat.yaml):
        print_data(document, output)
    else:
        render_status(document, console())
        if "coordination" in document:
            render_coordination(document["coordination"], console())
    if exit_code_flag:
        raise typer.Exit(exit_code(document))


def _table(objects: list[StoredObject], wide: bool) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    columns = (
        ["KIND", "NAME", "STATE", "AGE"]
        + (["GEN", "REVISION", "SOURCE"] if wide else [])
        + ["DETAILS", "MESSAGE"]
    )
    for column in columns:
        # Identity columns never wrap; details and messages fold to fit the terminal.
        folds = column in ("DETAILS", "MESSAGE")
        table.add_column(column, overflow="fold" if folds else "ellipsis", no_wrap=not folds)
    for obj in objects:
        row = [obj.kind, obj.name, state_of(obj), age(obj.created_at)]
        if wide:
            row += [str(obj.generation), obj.revision[:12], f"{obj.file}:{obj.line}"]
        table.add_row(*row, summary_of(obj), "" if obj.ready else message_of(obj))
    return table


def get(
    kind: str = typer.Argument(
        ..., help="Kind: vm, app, machine, proxyroute, backuppolicy, standbypair, or all."
    ),
    name: str = typer.Argument(None, help="Only this object."),
    config: Path | None = CONFIG_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """List objects with their state, like `kubectl get`.

    Example: [bold]homeport get vms[/bold], [bold]homeport get app shop-a -o yaml[/bold]
    """
    store = open_store_readonly(settings_or_exit(config))
    try:
        if kind.lower() == "all":
            objects = store.objects.all()
        else:
            objects = store.objects.of_kind(_kind_or_exit(kind))
        if name:
            objects = [o for o in objects if o.name == name]
            if not objects:
                console(stderr=True).print(f"error: {kind}/{name} not found", markup=False)
                raise typer.Exit(1)
    finally:
        store.close()
    if output in (OutputFormat.json, OutputFormat.yaml):
        documents = [object_document(o) for o in objects]
        print_data(documents[0] if name else documents, output)
        return
    console().print(_table(objects, wide=output is OutputFormat.wide))


def describe(
    kind: str = typer.Argument(..., help="Kind of the object."),
    name: str = typer.Argument(..., help="Name of the object."),
    config: Path | None = CONFIG_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Everything about one object: spec, conditions, details, recent events, journal.

    Example: [bold]homeport describe vm shop-a[/bold]
    """
    kind_name = _kind_or_exit(kind)
    store = open_store_readonly(settings_or_exit(config))
    try:
        obj = store.objects.get((kind_name, name))
        if obj is None:
            console(stderr=True).print(f"error: {kind_name}/{name} not found", markup=False)
            raise typer.Exit(1)
        events = store.events.for_object(kind_name, name)
        journal = store.journal.for_object(kind_name, name)
        failovers = store.failovers.for_pair(name) if kind_name == "StandbyPair" else []
        adopted = store.source_state.get(ADOPTED) or {}
    finally:
        store.close()
    document = object_document(obj)
    # Every object of the running revision carries its sha: who signed it, if it was judged.
    signature = adopted.get("signature") if adopted.get("sha") == obj.revision else None
    document["revision"] = {"sha": obj.revision, "signature": signature}
    document["events"] = [
        {"at": e.at, "type": e.type, "reason": e.reason, "message": e.message} for e in events
    ]
    document["journal"] = [
        {"at": j.started_at, "action": j.description, "state": j.state, "error": j.error}
        for j in journal
    ]
    if failovers:
        document["failovers"] = failovers
    if output in (OutputFormat.json, OutputFormat.yaml):
        print_data(document, output)
        return
    out = console()
    out.print(
        f"[bold]{kind_name}/{name}[/]  {state_of(obj)}  (generation {obj.generation}, "
        f"from {obj.file}:{obj.line})"
    )
    signed = signature_line(signature)
    out.print(f"Revision  {obj.revision[:12]}{', ' + signed if signed else ''}", markup=False)
    out.print("[bold]Spec[/]")
    out.print(yaml.safe_dump(obj.manifest.get("spec", {}), sort_keys=False).rstrip(), markup=False)
    out.print("[bold]Conditions[/]")
    for c in obj.status.conditions:
        out.print(
            f"  {c.type}={c.status}  {c.reason}  {c.message}  ({age(c.last_transition_time)} ago)",
            markup=False,
        )
    if obj.status.details:
        out.print("[bold]Details[/]")
        out.print(yaml.safe_dump(obj.status.details, sort_keys=True).rstrip(), markup=False)
    if failovers:
        out.print("[bold]Failovers[/]")
        for record in failovers:
            _print_failover(out, record)
    out.print("[bold]Events[/]")
    for e in events:
        out.print(f"  {age(e.at)} ago  {e.type}  {e.reason}  {e.message}", markup=False)
    out.print("[bold]Journal[/]")
    for j in journal:
        suffix = f"  {j.error}" if j.error else ""
        out.print(f"  {age(j.started_at)} ago  {j.state}  {j.description}{suffix}", markup=False)


def _print_failover(out: Any, record: dict[str, Any]) -> None:
    rpo = record.get("rpo_seconds")
    loss = f", data-loss window {rpo:.1f}s" if isinstance(rpo, int | float) else ""
    out.print(
        f"  epoch {record['epoch']}: {record['trigger']} {record['from_app']} → {record['to_app']}, "
        f"{record.get('outcome') or 'in progress'}{loss}",
        markup=False,
    )
    previous: datetime | None = None
    for step in record.get("timeline") or []:
        at = datetime.fromisoformat(step["at"])
        took = f"+{(at - previous).total_seconds():.2f}s" if previous else ""
        previous = at
        out.print(
            f"    {step['at'][11:23]}  {took:>8}  {step['phase']:<15} {step.get('detail', '')}",
            markup=False,
        )


def _print_events(items: list[Event], output: OutputFormat) -> None:
    out = console()
    for e in items:
        if output is OutputFormat.json:
            print_data(
                {
                    "id": e.id,
                    "at": e.at,
                    "kind": e.kind,
                    "name": e.name,
                    "type": e.type,
                    "reason": e.reason,
                    "message": e.message,
                },
                output,
            )
        else:
            style = "yellow" if e.type == "Warning" else None
            out.print(
                f"{e.at[:19]}  {e.type:<7}  {e.kind}/{e.name}  {e.reason}: {e.message}",
                style=style,
                markup=False,
            )


def events(
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new events."),
    limit: int = typer.Option(30, "--limit", "-n", help="How many past events to show."),
    config: Path | None = CONFIG_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Recent events (actions, readiness, warnings, failovers); `--follow` streams them.

    Example: [bold]homeport events --follow[/bold]
    """
    store = open_store_readonly(settings_or_exit(config))
    try:
        recent = store.events.recent(limit)
        _print_events(recent, output)
        last = recent[-1].id if recent else 0
        while follow:
            time.sleep(0.5)
            fresh = store.events.since(last)
            _print_events(fresh, output)
            if fresh:
                last = fresh[-1].id
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
