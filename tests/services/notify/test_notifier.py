"""Notifications against local receivers on loopback: a webhook (HMAC-signed JSON), a
Telegram-compatible bot endpoint and an SMTP server with STARTTLS and a login.

The store is real (what reconcilers write events and conditions to); the notifier runs as
in the daemon. The right notifications arrive once, with the failover's timeline and RPO;
a duplicate is not sent again; a failing sink is retried with backoff; a sink is
rate-limited; a sink that hangs delays neither the other sinks nor reconciles.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import pytest
import pytest_asyncio

from homeport.clients.bundle import Clients
from homeport.controller.clock import FakeClock, SystemClock
from homeport.controller.config import ControllerSettings, NotifyTopic, Settings
from homeport.controller.context import ControllerContext
from homeport.controller.engine import Engine
from homeport.controller.store import DesiredObject, Event, Store
from homeport.kinds import ObjectStatus
from homeport.services.notify import Notifier, build_sender
from homeport.services.notify.messages import TITLES, render
from homeport.services.notify.triggers import from_event
from homeport.source.validate import validate_sources
from testkit.harness import until
from tests.controller.fakes import AlwaysLeader, FakeReconciler, FakeWorld, PermanentError
from tests.services.notify.receivers import Mailbox, WebReceiver, smtp_server, web_receiver

HMAC_KEY = "whsec-0123456789abcdef"
BOT_TOKEN = "123456:ABCdefGhIJKlmNoPQRstuVWXyz"
SMTP_PASSWORD = "mail-password-for-tests"
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
ESTATE = """---
apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m1}
spec: {node: pve1, capacity: {cores: 8, memoryMiB: 16384}}
---
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {name: web}
spec: {machine: m1}
---
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {name: db}
spec: {machine: m1}
"""


@pytest_asyncio.fixture
async def web() -> AsyncIterator[WebReceiver]:
    async for receiver in web_receiver():
        yield receiver


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    yield from smtp_server(tmp_path, user="homeport", password=SMTP_PASSWORD)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(tmp_path / "state.db")
    yield store
    store.close()


def settings_for(tmp_path: Path, notify: dict[str, Any]) -> Settings:
    secrets = tmp_path / "secrets"
    for name, value in (("hook", HMAC_KEY), ("bot", BOT_TOKEN), ("smtp", SMTP_PASSWORD)):
        (secrets / "notify").mkdir(parents=True, exist_ok=True)
        (secrets / "notify" / name).write_text(value + "\n")
    return Settings.model_validate(
        {
            "source": {"directory": str(tmp_path)},
            "secrets": {"directory": str(secrets)},
            "notify": {"poll_interval": 0.02, "retry_base": 0.02, **notify},
        }
    )


def webhook(
    web: WebReceiver, name: str = "hook", path: str = "/hook", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "webhook",
        "name": name,
        "url": f"{web.url}{path}",
        "secret": "notify/hook",
        **extra,
    }


@pytest_asyncio.fixture
async def running(store: Store) -> AsyncIterator[list[Notifier]]:
    """Start notifiers appended to the list; stopped (and their sinks closed) afterwards."""
    started: list[Notifier] = []
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def watch() -> None:
        while not stop.is_set():
            for notifier in started[len(tasks) :]:
                tasks.append(asyncio.create_task(notifier.run(stop)))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    yield started
    stop.set()
    await watcher
    await asyncio.gather(*tasks)
    for notifier in started:
        for queue in notifier.queues.values():
            await queue.sender.close()


def notifier_for(settings: Settings, store: Store, clock: Any = None) -> Notifier:
    senders = {s.name: build_sender(s, settings.secrets.directory) for s in settings.notify.sinks}
    return Notifier(
        settings=settings.notify,
        senders=senders,
        store=store,
        clock=clock or SystemClock(),
        leadership=AlwaysLeader(),
    )


def failover(store: Store) -> None:
    """What the StandbyPair reconciler writes during an automatic failover."""
    steps = [
        {
            "phase": "FailureStarted",
            "at": "2026-03-01T12:00:00+00:00",
            "detail": "first failed probe",
        },
        {
            "phase": "Detected",
            "at": "2026-03-01T12:00:02+00:00",
            "detail": "primary shop-a is down",
        },
        {"phase": "Fencing", "at": "2026-03-01T12:00:02.100000+00:00", "detail": "epoch 2"},
    ]
    record = {
        "trigger": "automatic",
        "from_app": "shop-a",
        "to_app": "shop-b",
        "phase": "Fencing",
        "started_at": steps[2]["at"],
        "timeline": steps,
        "rpo_seconds": 4.2,
        "outcome": "in progress",
    }
    store.failovers.upsert("shop", 2, record)
    store.events.emit(
        kind="StandbyPair",
        name="shop",
        reason="FailoverStarted",
        now=T0,
        warning=True,
        message="automatic failover shop-a → shop-b (epoch 2): primary shop-a is down: timeout",
    )
    done = [
        *steps,
        {"phase": "Rerouted", "at": "2026-03-01T12:00:03+00:00", "detail": "route shop"},
    ]
    store.failovers.upsert(
        "shop",
        2,
        {
            "phase": "Degraded",
            "timeline": done,
            "outcome": "completed",
            "finished_at": done[-1]["at"],
        },
    )
    store.events.emit(
        kind="StandbyPair",
        name="shop",
        reason="FailoverCompleted",
        now=T0,
        message="shop-a → shop-b (epoch 2): detection 2.00s, fencing 0.40s, data-loss window 4.2s",
    )


def adopt(store: Store, text: str = ESTATE) -> None:
    result = validate_sources([("estate.yaml", text.encode())])
    assert result.ok
    desired = [DesiredObject(o.resource, o.file, o.line) for o in result.objects]
    store.objects.apply_revision("rev1", desired, T0)


def stall(store: Store, kind: str, name: str, condition: str, reason: str, message: str) -> None:
    obj = store.objects.get((kind, name))
    assert obj is not None
    status = ObjectStatus.model_validate(
        {
            "conditions": [
                {
                    "type": condition,
                    "status": "True",
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": T0,
                }
            ]
        }
    )
    store.objects.set_status(obj.key, status, T0)


def verified(request: Any) -> dict[str, Any]:
    expected = "sha256=" + hmac.new(HMAC_KEY.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Homeport-Signature"] == expected
    assert request.headers["X-Homeport-Delivery"] == request.json()["id"]
    result: dict[str, Any] = request.json()
    return result


async def test_the_right_notifications_arrive_once_with_their_content(
    tmp_path: Path, store: Store, web: WebReceiver, mailbox: Mailbox, running: list[Notifier]
) -> None:
    settings = settings_for(
        tmp_path,
        {
            "sinks": [
                webhook(web),
                {
                    "type": "telegram",
                    "name": "bot",
                    "api_url": web.url,
                    "token_secret": "notify/bot",
                    "chat_id": "-100",
                },
                {
                    "type": "smtp",
                    "name": "mail",
                    "host": mailbox.host,
                    "port": mailbox.port,
                    "username": "homeport",
                    "password_secret": "notify/smtp",
                    "sender": "homeport@example.com",
                    "recipients": ["ops@example.com"],
                    "ca_file": str(mailbox.ca_file),
                },
            ],
            "rules": [
                {"events": ["*"], "sinks": ["hook"]},
                {"events": ["FailoverStarted", "FailoverCompleted"], "sinks": ["mail"]},
                {
                    "events": ["AuditFinding", "LeaderChanged"],
                    "sinks": ["bot"],
                    "kinds": ["VM", "Controller"],
                },
            ],
        },
    )
    adopt(store)
    store.events.emit(kind="VM", name="web", reason="Ready", message="converged", now=T0)
    running.append(notifier_for(settings, store))
    await until(lambda: store.notify_state.get("cursor") is not None, what="the notifier's start")

    store.leases.try_acquire("controller", "cp1:42:abc", now=1.0, duration=15, stamp=T0)
    failover(store)
    store.events.emit(
        kind="VM",
        name="web",
        reason="AuditFinding",
        now=T0,
        warning=True,
        message="ssh-password-auth: sshd accepts passwords",
    )
    store.events.emit(
        kind="BackupPolicy",
        name="daily",
        reason="BackupFailed",
        now=T0,
        warning=True,
        message="vzdump of VM 1003 failed: no space left",
    )
    store.events.emit(
        kind="BackupPolicy",
        name="daily",
        reason="RestoreTestFailed",
        now=T0,
        warning=True,
        message="restore of VM 1003 did not boot",
    )
    stall(store, "VM", "db", "Stalled", "NameTaken", "a VM named 'db' already exists")
    stall(store, "VM", "web", "BackupStale", "NoRecentBackup", "no backup for 30h")

    topics = {
        "LeaderChanged",
        "FailoverStarted",
        "FailoverCompleted",
        "AuditFinding",
        "BackupFailed",
        "RestoreTestFailed",
        "ReconcileStalled",
        "BackupStale",
    }
    await until(lambda: len(web.at("/hook")) == len(topics), what="every topic at the webhook")
    await until(lambda: len(mailbox.messages) == 2, what="two mails")
    await until(lambda: len(web.at(f"/bot{BOT_TOKEN}/sendMessage")) == 2, what="two bot messages")

    bodies = {b["topic"]: b for b in (verified(r) for r in web.at("/hook"))}
    assert set(bodies) == topics
    started, done = bodies["FailoverStarted"], bodies["FailoverCompleted"]
    assert started["object"] == {"kind": "StandbyPair", "name": "shop"}
    assert done["details"]["rpoSeconds"] == 4.2 and done["details"]["from"] == "shop-a"
    assert [s["phase"] for s in done["details"]["timeline"]][-1] == "Rerouted"
    assert "RPO (data-loss window): 4.2s" in done["text"] and "Rerouted" in done["text"]
    assert bodies["ReconcileStalled"]["title"] == "VM/db stalled (NameTaken)"
    assert "cp1:42:abc leads now" in bodies["LeaderChanged"]["text"]

    subjects = sorted(str(m["Subject"]) for m in mailbox.messages)
    assert subjects == [
        "[homeport] failover finished: StandbyPair shop",
        "[homeport] failover started: StandbyPair shop",
    ]
    mail = next(m for m in mailbox.messages if "finished" in str(m["Subject"]))
    text = mail.get_payload(decode=True).decode()
    assert "RPO (data-loss window): 4.2s" in text and "Detected" in text and "Rerouted" in text
    assert mailbox.tls == [True, True] and mailbox.logins == ["homeport", "homeport"]

    bot = [json.loads(r.body) for r in web.at(f"/bot{BOT_TOKEN}/sendMessage")]
    assert {b["chat_id"] for b in bot} == {"-100"}
    assert sorted(b["text"].split("\n")[0] for b in bot) == [
        "audit finding on VM/web",
        "control-plane leader changed",
    ]

    # The same happenings again: nothing is sent twice. A fresh finding marks the end.
    failover(store)
    stall(store, "VM", "db", "Stalled", "NameTaken", "a VM named 'db' already exists")
    store.events.emit(
        kind="VM",
        name="web",
        reason="AuditFinding",
        now=T0,
        warning=True,
        message="ssh-password-auth: sshd accepts passwords",
    )
    store.events.emit(
        kind="VM",
        name="db",
        reason="AuditFinding",
        now=T0,
        warning=True,
        message="env-file-readable: mode 0644",
    )
    await until(lambda: len(web.at("/hook")) == len(topics) + 1, what="only the fresh finding")
    await until(lambda: len(web.at(f"/bot{BOT_TOKEN}/sendMessage")) == 3, what="the bot's finding")
    assert verified(web.at("/hook")[-1])["object"]["name"] == "db"
    assert len(mailbox.messages) == 2
    records = store.notifications.recent(100)
    assert {r.state for r in records} == {"sent"} and BOT_TOKEN not in repr(records)


async def test_a_failing_sink_is_retried_with_backoff(
    tmp_path: Path, store: Store, web: WebReceiver, running: list[Notifier]
) -> None:
    web.statuses = [500, 502]
    settings = settings_for(tmp_path, {"sinks": [webhook(web)], "retries": 3})
    running.append(notifier_for(settings, store))
    await until(lambda: store.notify_state.get("cursor") is not None, what="the notifier's start")
    store.events.emit(kind="VM", name="web", reason="AuditFinding", now=T0, message="x: y")
    await until(lambda: len(web.at("/hook")) == 3, what="two failures, then the delivery")
    await until(lambda: store.notifications.recent(1)[0].state == "sent", what="recorded")
    (record,) = store.notifications.recent(5)
    assert record.attempts == 3


async def test_a_sink_is_rate_limited(
    tmp_path: Path, store: Store, web: WebReceiver, running: list[Notifier]
) -> None:
    clock = FakeClock(T0)
    settings = settings_for(tmp_path, {"sinks": [webhook(web)], "rate_per_minute": 2})
    notifier = notifier_for(settings, store, clock)
    for index in range(3):
        store.events.emit(
            kind="VM", name="web", reason="AuditFinding", now=T0, message=f"finding {index}"
        )
    store.notify_state.set("cursor", 0)
    running.append(notifier)
    await until(lambda: len(web.at("/hook")) == 2, what="two deliveries")
    await until(lambda: notifier.queues["hook"].waiting == 1, what="the third waiting its turn")
    assert len(web.at("/hook")) == 2  # the third waits for the minute to pass
    clock.advance(60)
    await until(lambda: len(web.at("/hook")) == 3, what="the third, a minute later")


async def test_a_sink_that_hangs_slows_neither_reconciles_nor_other_sinks(
    tmp_path: Path, store: Store, web: WebReceiver, running: list[Notifier]
) -> None:
    settings = settings_for(
        tmp_path, {"sinks": [webhook(web, "stuck", "/hang", timeout=600), webhook(web, "ok")]}
    )
    running.append(notifier_for(settings, store))
    await until(lambda: store.notify_state.get("cursor") is not None, what="the notifier's start")
    world = FakeWorld()
    clock = FakeClock(T0)
    engine = Engine(
        store=store,
        reconcilers={k: FakeReconciler(k, world) for k in ("Machine", "VM")},
        context=ControllerContext(store=store, clock=clock, clients=Clients()),
        clock=clock,
        settings=ControllerSettings(),
        leadership=AlwaysLeader(),
    )
    adopt(store)
    assert [(await engine.reconcile(("Machine", "m1"))).result for _ in range(2)] == [
        "progressing",
        "converged",
    ]
    world.fail_next.append(PermanentError("no such template", reason="TemplateMissing"))
    assert (await engine.reconcile(("VM", "web"))).result == "stalled"
    await until(
        lambda: len(web.at("/hook")) == 1 and web.hanging == 1, what="both deliveries under way"
    )
    # While the stuck sink still holds its notification, reconciles go on as ever.
    results = [(await engine.reconcile(("VM", "db"))).result for _ in range(2)]
    assert results == ["progressing", "converged"]
    stuck = [r for r in store.notifications.recent(10) if r.sink == "stuck"]
    assert [r.state for r in stuck] == ["queued"]


def test_a_held_vm_destruction_is_notified() -> None:
    event = Event(
        id=1,
        at="2026-01-01T00:00:00+00:00",
        kind="VM",
        name="db",
        type="Warning",
        reason="DestructionHeld",
        message="VM db (vmid 1004) left git: … `homeport approve VM/db`",
    )
    trigger = from_event(event)
    assert trigger is not None and trigger.topic == "VMRemoval"
    message = render(trigger)
    assert message.title == "VM/db left git: DestructionHeld"
    assert "homeport approve VM/db" in message.text


def test_every_topic_can_be_chosen_in_a_rule_and_has_a_title() -> None:
    assert set(get_args(NotifyTopic)) == set(TITLES)
