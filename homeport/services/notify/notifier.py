"""The notifier: a background task of the daemon that turns the store's events and
conditions into notifications, routes them by ``[[notify.rules]]``, deduplicates them and
hands them to each sink's queue (``delivery.py``).

Only the leader notifies. It reads events after a cursor kept in the store (a restart
neither repeats nor misses), scans conditions for new transitions, and notices a new
leader lease (emitting ``LeaderChanged``). Every notification is recorded per sink in
``store.notifications`` — the deduplication memory and what ``homeport events`` cannot show.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from homeport.clients.notify import Sender, SmtpSender, TelegramSender, WebhookSender
from homeport.clients.secret import Secret, read_secret_file
from homeport.controller.clock import Clock
from homeport.controller.config import (
    NotifySettings,
    NotifySink,
    Settings,
    SmtpSink,
    TelegramSink,
    WebhookSink,
)
from homeport.controller.coordination import LEASE_NAME, Leadership
from homeport.controller.store import Store
from homeport.services.notify.delivery import Pending, SinkQueue
from homeport.services.notify.messages import render
from homeport.services.notify.triggers import Trigger, from_conditions, from_event

log = logging.getLogger(__name__)
CURSOR = "cursor"
LEADER = "leader"
EVER = datetime(1970, 1, 1)


def sinks_for(trigger: Trigger, settings: NotifySettings) -> list[str]:
    """The sinks a trigger goes to: by the rules, or every sink when there are none."""
    names = [s.name for s in settings.sinks]
    if not settings.rules:
        return names
    wanted: list[str] = []
    for rule in settings.rules:
        topic_ok = "*" in rule.events or trigger.topic in rule.events
        if topic_ok and (not rule.kinds or trigger.kind in rule.kinds):
            wanted += [s for s in rule.sinks if s not in wanted]
    return wanted


def _secret(secrets_dir: Path, path: str | None) -> Secret | None:
    return read_secret_file(secrets_dir / path) if path else None


def build_sender(sink: NotifySink, secrets_dir: Path) -> Sender:
    """A sink's client, with its secret read from the secrets directory."""
    if isinstance(sink, WebhookSink):
        return WebhookSender(
            sink.name,
            sink.url,
            key=_secret(secrets_dir, sink.secret),
            header=sink.signature_header,
            timeout=sink.timeout,
            ca_file=sink.ca_file,
            verify=sink.verify_tls,
        )
    if isinstance(sink, TelegramSink):
        token = _secret(secrets_dir, sink.token_secret)
        assert token is not None
        return TelegramSender(
            sink.name,
            sink.api_url,
            token=token,
            chat_id=sink.chat_id,
            timeout=sink.timeout,
            ca_file=sink.ca_file,
            verify=sink.verify_tls,
        )
    assert isinstance(sink, SmtpSink)
    return SmtpSender(
        sink.name,
        sink.host,
        sink.port,
        sender=sink.sender,
        recipients=sink.recipients,
        starttls=sink.starttls,
        username=sink.username,
        password=_secret(secrets_dir, sink.password_secret),
        timeout=sink.timeout,
        ca_file=sink.ca_file,
    )


class Notifier:
    def __init__(
        self,
        *,
        settings: NotifySettings,
        senders: Mapping[str, Sender],
        store: Store,
        clock: Clock,
        leadership: Leadership,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.leadership = leadership
        self.queues = {name: SinkQueue(s, settings, store, clock) for name, s in senders.items()}

    async def run(self, stop: asyncio.Event) -> None:
        self._start_cursor()
        workers = [asyncio.create_task(q.run(stop)) for q in self.queues.values()]
        try:
            while not stop.is_set():
                if self.leadership.is_leader():
                    try:
                        self.tick()
                    except Exception:  # notifications must never take the daemon down
                        log.exception("notifier pass failed")
                await _sleep_or_stop(self.clock, self.settings.poll_interval, stop)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    # -- one pass ----------------------------------------------------------------------
    def tick(self) -> None:
        self._leader()
        self._events()
        for obj in self.store.objects.all():
            for trigger in from_conditions(obj):
                self.submit(trigger)

    def _leader(self) -> None:
        lease = self.store.leases.current(LEASE_NAME)
        if lease is None:
            return
        seen = self.store.notify_state.get(LEADER) or {}
        if seen.get("token") == lease.token:
            return
        before = f"; before: {seen['holder']}" if seen.get("holder") else ""
        self.store.events.emit(
            kind="Controller",
            name="leader",
            reason="LeaderChanged",
            message=f"{lease.holder} leads now (fencing token {lease.token}){before}",
            now=self.clock.now(),
        )
        self.store.notify_state.set(LEADER, {"holder": lease.holder, "token": lease.token})

    def _start_cursor(self) -> None:
        """The very first start notifies from now on, not the whole history."""
        if self.store.notify_state.get(CURSOR) is None:
            recent = self.store.events.recent(1)
            self.store.notify_state.set(CURSOR, recent[-1].id if recent else 0)

    def _events(self) -> None:
        cursor = self.store.notify_state.get(CURSOR) or 0
        for event in self.store.events.since(int(cursor), 500):
            trigger = from_event(event)
            if trigger is not None:
                self.submit(trigger)
            self.store.notify_state.set(CURSOR, event.id)

    def submit(self, trigger: Trigger) -> list[str]:
        """Queue ``trigger`` for its sinks, unless each already had it; returns the sinks."""
        now = self.clock.now()
        since = EVER if trigger.once else now - timedelta(seconds=self.settings.dedupe_seconds)
        queued = []
        message = None
        for sink in sinks_for(trigger, self.settings):
            queue = self.queues.get(sink)
            if queue is None or self.store.notifications.sent_since(sink, trigger.key, since):
                continue
            message = message or render(trigger, self._failover(trigger))
            record = self.store.notifications.queued(
                topic=trigger.topic,
                kind=trigger.kind,
                name=trigger.name,
                sink=sink,
                dedupe_key=trigger.key,
                title=message.title,
                now=now,
            )
            queue.offer(Pending(message, record))
            queued.append(sink)
        return queued

    def _failover(self, trigger: Trigger) -> dict[str, Any] | None:
        if not trigger.topic.startswith("Failover"):
            return None
        records = self.store.failovers.for_pair(trigger.name, limit=1)
        return records[-1] if records else None


async def _sleep_or_stop(clock: Clock, seconds: float, stop: asyncio.Event) -> None:
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeper, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in (sleeper, stopped):
            future.cancel()
        await asyncio.gather(sleeper, stopped, return_exceptions=True)


async def run_notifier(
    *, settings: Settings, store: Store, clock: Clock, leadership: Leadership, stop: asyncio.Event
) -> None:
    """The daemon's notifier; nothing to do without ``[[notify.sinks]]``."""
    senders: dict[str, Sender] = {}
    for sink in settings.notify.sinks:
        try:
            senders[sink.name] = build_sender(sink, settings.secrets.directory)
        except ValueError as exc:  # a missing secret file disables that sink, loudly
            log.error("notify sink %s disabled: %s", sink.name, exc)
    if not senders:
        return
    notifier = Notifier(
        settings=settings.notify, senders=senders, store=store, clock=clock, leadership=leadership
    )
    try:
        await notifier.run(stop)
    finally:
        for sender in senders.values():
            await sender.close()
