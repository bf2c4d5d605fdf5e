"""The read side: ``status``, ``get``, ``describe``, ``events`` — straight from the store.

Reads open the store read-only (WAL: never blocks the daemon).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from homeport.cli.common import CONFIG_OPTION, open_store_readonly, read_settings_or_exit
from homeport.cli.completion import complete_kind, complete_kind_slash_name, complete_name
from homeport.cli.coordination_view import render_coordination
from homeport.cli.output import (
    LIST_OUTPUT_OPTION,
    NO_HEADERS_OPTION,
    OUTPUT_OPTION,
    ListFormat,
    OutputFormat,
    console,
    is_data,
    print_data,
    print_record,
)
from homeport.cli.selector import Selector, SelectorError, parse_selector
from homeport.cli.status_view import render_status, signature_line
from homeport.controller.source_keys import ADOPTED
from homeport.controller.store import Event, Store, StoredObject
from homeport.kinds.names import KIND_NAMES, lookup_kind_name
from homeport.services.views.objects import (
    age,
    labels_of,
    message_of,
    object_document,
    state_of,
    summary_of,
)
from homeport.services.views.status import exit_code, status_document

# How often ``--follow`` and ``--watch`` look at the store (a read of the WAL, cheap).
WATCH_INTERVAL = 0.5


def _kind_or_exit(kind: str) -> str:
    found = lookup_kind_name(kind)  # the names alone: the models are not needed to read
    if found is None:
        console(stderr=True).print(
            f"error: unknown kind {kind!r} ({', '.join(KIND_NAMES)})",
            markup=False,
        )
        raise typer.Exit(2)
    return found


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
    settings = read_settings_or_exit(config)
    store = open_store_readonly(settings)
    try:
        document = status_document(
            store, now=datetime.now(UTC), alive_within=settings.coordination.lease_duration
        )
    finally:
        store.close()
    if settings.coordination.backend == "etcd":  # the control planes, live (docs/ha.md)
        # Imported here: it loads the etcd client and the HA machinery, which the local
        # backend's status never needs (the read commands start fast, cli/lazy.py).
        from homeport.services.ha.status import coordination_document

        document["coordination"] = coordination_document(settings.coordination)
    if output in (OutputFormat.json, OutputFormat.yaml):
        print_data(document, output)
    else:
        render_status(document, console())
        if "coordination" in document:
            render_coordination(document["coordination"], console())
    if exit_code_flag:
        raise typer.Exit(exit_code(document))


def _table(objects: list[StoredObject], wide: bool, headers: bool = True) -> Table:
    table = Table(
        box=None, pad_edge=False, show_edge=False, header_style="bold", show_header=headers
    )
    columns = (
        ["KIND", "NAME", "STATE", "AGE"]
        + (["GEN", "REVISION", "SOURCE"] if wide else [])
        + ["DETAILS", "MESSAGE"]
    )
    for column in columns:
        # Identity columns never wrap; details and messages fold to fit the terminal.
        # (On a pipe the console is unbounded: nothing folds, nothing is cut.)
        folds = column in ("DETAILS", "MESSAGE")
        table.add_column(column, overflow="fold" if folds else "ellipsis", no_wrap=not folds)
    for obj in objects:
        row = [obj.kind, obj.name, state_of(obj), age(obj.created_at)]
        if wide:
            row += [str(obj.generation), obj.revision[:12], f"{obj.file}:{obj.line}"]
        table.add_row(*row, summary_of(obj), "" if obj.ready else message_of(obj))
    return table


def _selected(
    store: Store, kind: str, name: str | None, selector: Selector | None
) -> list[StoredObject]:
    if kind.lower() == "all":
        objects = store.objects.all()
    else:
        objects = store.objects.of_kind(_kind_or_exit(kind))
    if name:
        objects = [o for o in objects if o.name == name]
    if selector is not None:
        objects = [o for o in objects if selector.matches(labels_of(o))]
    return objects


def _print_objects(objects: list[StoredObject], output: ListFormat, headers: bool) -> None:
    if output is ListFormat.name:
        for obj in objects:
            sys.stdout.write(f"{obj.kind.lower()}/{obj.name}\n")
    elif objects or headers:
        console().print(_table(objects, wide=output is ListFormat.wide, headers=headers))


def _selector_or_exit(text: str | None) -> Selector | None:
    if text is None:
        return None
    try:
        return parse_selector(text)
    except SelectorError as exc:
        console(stderr=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None


def get(
    kind: str = typer.Argument(
        ...,
        help="Kind: vm, app, machine, proxyroute, backuppolicy, standbypair, or all.",
        autocompletion=complete_kind,
    ),
    name: str = typer.Argument(None, help="Only this object.", autocompletion=complete_name),
    selector: str = typer.Option(
        None,
        "--selector",
        "-l",
        help="Only objects whose labels match, e.g. env=production,tier!=db, key or !key.",
    ),
    watch: bool = typer.Option(
        False, "--watch", "-w", help="After listing, print objects as they change (Ctrl-C ends)."
    ),
    no_headers: bool = NO_HEADERS_OPTION,
    config: Path | None = CONFIG_OPTION,
    output: ListFormat = LIST_OUTPUT_OPTION,
) -> None:
    """List objects with their state, like `kubectl get`.

    With [bold]--watch[/bold], every change is printed as it happens: a table row, a
    kind/name line, or (with -o json) one JSON document per line.

    Example: [bold]homeport get vms[/bold], [bold]homeport get app shop-a -o yaml[/bold],
    [bold]homeport get all -l env=production -o name[/bold]
    """
    labels = _selector_or_exit(selector)
    store = open_store_readonly(read_settings_or_exit(config))
    try:
        objects = _selected(store, kind, name, labels)
        if name and not objects and not watch:
            console(stderr=True).print(f"error: {kind}/{name} not found", markup=False)
            raise typer.Exit(1)
        if watch:
            _watch(store, kind, name, labels, objects, output, headers=not no_headers)
            return
    finally:
        store.close()
    if is_data(output):
        documents = [object_document(o) for o in objects]
        print_data(documents[0] if name else documents, output)
        return
    _print_objects(objects, output, headers=not no_headers)


def _fingerprint(obj: StoredObject) -> tuple[Any, ...]:
    return (obj.generation, obj.deleting, obj.status.model_dump_json())


def _watch(
    store: Store,
    kind: str,
    name: str | None,
    selector: Selector | None,
    objects: list[StoredObject],
    output: ListFormat,
    *,
    headers: bool,
) -> None:
    """Print the current objects, then each object whose state changes, until Ctrl-C.
    Objects that disappear are printed once more with state ``Deleted`` (text) or
    ``{"type": "DELETED", ...}`` (json/yaml), as ``kubectl get -w`` does."""

    def emit(changed: list[StoredObject], gone: list[StoredObject], first: bool) -> None:
        if is_data(output):
            for obj in changed:
                print_record(
                    {"type": "ADDED" if first else "MODIFIED", "object": object_document(obj)},
                    output,
                )
            for obj in gone:
                print_record({"type": "DELETED", "object": object_document(obj)}, output)
            return
        if output is ListFormat.name:
            for obj in [*changed, *gone]:
                sys.stdout.write(f"{obj.kind.lower()}/{obj.name}\n")
        elif changed or (first and headers):
            console().print(
                _table(changed, wide=output is ListFormat.wide, headers=first and headers)
            )
        for obj in gone if output is not ListFormat.name else ():
            console().print(f"{obj.kind}  {obj.name}  Deleted", markup=False)
        sys.stdout.flush()

    seen = {o.key: (o, _fingerprint(o)) for o in objects}
    emit(objects, [], first=True)
    try:
        while True:
            time.sleep(WATCH_INTERVAL)
            now = {o.key: o for o in _selected(store, kind, name, selector)}
            changed = [o for k, o in now.items() if k not in seen or seen[k][1] != _fingerprint(o)]
            gone = [seen[k][0] for k in seen if k not in now]
            if changed or gone:
                emit(changed, gone, first=False)
            seen = {k: (o, _fingerprint(o)) for k, o in now.items()}
    except KeyboardInterrupt:
        pass


def describe(
    kind: str = typer.Argument(..., help="Kind of the object.", autocompletion=complete_kind),
    name: str = typer.Argument(..., help="Name of the object.", autocompletion=complete_name),
    config: Path | None = CONFIG_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Everything about one object: spec, conditions, details, recent events, journal.

    Example: [bold]homeport describe vm shop-a[/bold]
    """
    kind_name = _kind_or_exit(kind)
    store = open_store_readonly(read_settings_or_exit(config))
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
    import yaml  # here: only this view prints YAML as text (the read commands start fast)

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


def _event_document(e: Event) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at,
        "kind": e.kind,
        "name": e.name,
        "type": e.type,
        "reason": e.reason,
        "message": e.message,
    }


def _print_events(items: list[Event]) -> None:
    out = console()
    for e in items:
        style = "yellow" if e.type == "Warning" else None
        out.print(
            f"{e.at[:19]}  {e.type:<7}  {e.kind}/{e.name}  {e.reason}: {e.message}",
            style=style,
            markup=False,
        )


def _event_filter(for_: str | None, type_: EventType | None) -> dict[str, str | None]:
    match: dict[str, str | None] = {"type": type_.value if type_ else None}
    if for_:
        kind, slash, name = for_.partition("/")
        if not slash or not name:
            console(stderr=True).print(
                f"error: --for {for_!r}: write KIND/NAME, e.g. --for app/shop-a", markup=False
            )
            raise typer.Exit(2)
        standalone = STANDALONE_KINDS.get(kind.lower())
        match.update(kind=standalone or _kind_or_exit(kind), name=name)
    return match


STANDALONE_KINDS = {"estate": "Estate"}
"""Objects without a manifest that still record events: ``Estate/power`` (estate shutdown
and start, ``reconcilers/estate``)."""


class EventType(StrEnum):
    Normal = "Normal"
    Warning = "Warning"


def events(
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new events."),
    limit: int = typer.Option(30, "--limit", "-n", help="How many past events to show."),
    for_: str = typer.Option(
        None,
        "--for",
        help="Only the events of this object, KIND/NAME (e.g. app/shop-a).",
        autocompletion=complete_kind_slash_name,
    ),
    type_: EventType = typer.Option(
        None, "--type", help="Only events of this type: Warning or Normal."
    ),
    config: Path | None = CONFIG_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Recent events (actions, readiness, warnings, failovers); `--follow` streams them.

    -o json prints one JSON array; with --follow, one JSON object per line (JSON Lines).
    -o yaml prints one list; with --follow, one YAML document per event.

    Example: [bold]homeport events --follow[/bold], [bold]homeport events --for app/shop-a --type Warning[/bold]
    """
    match = _event_filter(for_, type_)
    store = open_store_readonly(read_settings_or_exit(config))
    try:
        recent = store.events.recent(limit, match=match)
        if is_data(output) and not follow:
            print_data([_event_document(e) for e in recent], output)
            return
        _stream_events(recent, output)
        last = recent[-1].id if recent else 0
        while follow:
            time.sleep(WATCH_INTERVAL)
            fresh = store.events.since(last, match=match)
            _stream_events(fresh, output)
            if fresh:
                last = fresh[-1].id
    except KeyboardInterrupt:
        pass
    finally:
        store.close()


def _stream_events(items: list[Event], output: OutputFormat) -> None:
    if is_data(output):
        for e in items:
            print_record(_event_document(e), output)
    else:
        _print_events(items)
        sys.stdout.flush()
