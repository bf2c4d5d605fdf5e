"""``homeport run``: the headless daemon.

Wires the parts together and runs them under one TaskGroup until SIGTERM: leadership
(``coordination``), the source watcher and revision sync (``revisions``), the engine's
workers (``engine``), the control socket (``control``), the periodic audit (``audit``)
and the notifier (``notify``). On SIGTERM it stops taking work, lets running reconciles finish
(``drain_timeout``), releases the lease and exits. Beside them: the heartbeat
(``liveness``) and, unless ``[web] enabled = false``, the read-only status page with
``/healthz`` and ``/readyz`` (``web``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from homeport.clients.bundle import Clients
from homeport.controller.background import ControllerBackgroundEnv, run_backgrounds
from homeport.controller.clock import Clock, SystemClock
from homeport.controller.config import Settings
from homeport.controller.context import ControllerContext
from homeport.controller.control import serve_requests
from homeport.controller.coordination import Leadership, LocalLeadership
from homeport.controller.engine import Engine, Observer
from homeport.controller.liveness import DaemonHealth, run_heartbeat
from homeport.controller.revisions import RevisionSync
from homeport.controller.signing import SignatureGate
from homeport.controller.store import Store
from homeport.controller.storelock import exclusive_store
from homeport.reconcilers.base import Reconciler
from homeport.services.audit import run_audits
from homeport.services.ha.planes import ControlPlanes
from homeport.services.notify import run_notifier
from homeport.services.telemetry.hooks import Telemetry
from homeport.services.web.app import PageSource, StatusPage, build_app
from homeport.services.web.planes import PlanesView
from homeport.services.web.server import bind, serve, url_of
from homeport.source.sources import DirectorySource, GitSource, Source

log = logging.getLogger(__name__)


def make_source(settings: Settings) -> Source:
    src = settings.source
    if src.repo is not None:
        return GitSource(
            src.repo, branch=src.branch, subdir=src.path, poll_interval=src.poll_interval
        )
    assert src.directory is not None
    return DirectorySource(src.directory, poll_interval=src.poll_interval)


def notify_systemd(state: str) -> None:
    """sd_notify for ``Type=notify`` units (a no-op outside systemd)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
        sock.sendto(state.encode(), address)


@dataclass
class Daemon:
    settings: Settings
    reconcilers: Mapping[str, Reconciler[Any, Any]]
    clients: Clients = field(default_factory=Clients)
    clock: Clock = field(default_factory=SystemClock)
    observers: list[Observer] = field(default_factory=list)
    leadership: Leadership | None = None
    store: Store | None = None
    engine: Engine | None = None
    telemetry: Telemetry | None = None
    """Spans and metrics (owned by the caller, who shuts it down); None: disabled."""
    health: DaemonHealth | None = None
    """Set when running: liveness, last sync, the status page's URL."""

    @property
    def web_url(self) -> str | None:
        """The status page's URL once it listens (None: disabled or not listening)."""
        return self.health.web_url if self.health else None

    async def run(self, stop: asyncio.Event) -> None:
        with exclusive_store(self.settings.store.path):
            await self._run(stop)

    async def _run(self, stop: asyncio.Event) -> None:
        settings = self.settings
        store = self.store = Store.open(settings.store.path)
        source = make_source(settings)
        # Other control planes (docs/ha.md): the etcd backend's leadership, replica and
        # followers, and the git mirror; with neither configured it does nothing.
        planes = ControlPlanes(settings=settings, store=store, clock=self.clock, source=source)
        leadership = self.leadership or planes.leadership_or(
            lambda: LocalLeadership(
                store,
                self.clock,
                holder=settings.coordination.identity,
                duration=settings.coordination.lease_duration,
                renew_interval=settings.coordination.renew_interval,
            )
        )
        self.leadership = leadership
        telemetry = self.telemetry or Telemetry.disabled()
        context = ControllerContext(
            store=store,
            clock=self.clock,
            clients=self.clients,
            on_failover=telemetry.observe_failover,
        )
        engine = self.engine = Engine(
            store=store,
            reconcilers=self.reconcilers,
            context=context,
            clock=self.clock,
            settings=settings.controller,
            leadership=leadership,
            observers=[*self.observers, telemetry.observe_outcome],
            telemetry=telemetry,
        )
        health = self.health = DaemonHealth(
            clock=self.clock,
            leadership=leadership,
            # A quiet source is still read every poll: a few missed polls is not recent.
            sync_stale_after=max(3 * settings.source.poll_interval, 30.0),
            started_at=self.clock.now(),
        )
        telemetry.watch(
            queue=engine.queue, store_path=settings.store.path, clock=self.clock, health=health
        )
        signatures = SignatureGate.for_settings(settings)
        if signatures is not None:
            # The pre-receive hook enforces at least what this daemon does.
            await asyncio.to_thread(signatures.publish)
        etcd_view = PlanesView(settings)
        page = PageSource(
            store_path=settings.store.path,
            clock=self.clock,
            alive_within=settings.coordination.lease_duration,
            coordination=etcd_view,
        )
        sync = RevisionSync(
            source=source,
            store=store,
            clock=self.clock,
            max_prune_fraction=settings.source.max_prune_fraction,
            signatures=signatures,
        )
        wake = asyncio.Event()
        wake.set()
        planes.bind(
            enqueue=lambda keys: _requeue(engine, keys), wake_sync=wake.set, touch=engine.queue.add
        )

        def handle(message: dict[str, Any]) -> None:
            if message.get("op") == "reconcile":
                engine.queue.add((str(message.get("kind")), str(message.get("name"))))
            elif message.get("op") == "reconcile-all":
                engine.enqueue_all()
            wake.set()  # every request also re-checks the source (approvals, new pushes)

        log.info("homeport daemon starting (store %s, source %s)", settings.store.path, source.name)
        # The lease outlives everything that acts: on ``stop`` the engine drains its running
        # reconciles (``drain_timeout``), and an action they still take must find this daemon
        # the leader, not a lease already given up (and free for another daemon to take).
        resign = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(leadership.run(resign))
                group.create_task(planes.run(stop))
                group.create_task(source.watch(wake.set, stop))
                if isinstance(source, GitSource):
                    # Leader or not: a push to this plane's repository is judged here.
                    group.create_task(source.serve_push_validation(sync.file_results, stop))
                group.create_task(serve_requests(settings.store.path, handle, stop))
                group.create_task(self._sync_loop(sync, engine, health, wake, stop))
                self._serve_page(group, page, etcd_view, health, stop)
                group.create_task(
                    run_heartbeat(
                        store=store,
                        health=health,
                        interval=settings.coordination.renew_interval,
                        stop=stop,
                    )
                )
                background = ControllerBackgroundEnv(
                    context=context,
                    queue=engine.queue,
                    leadership=leadership,
                    clock=self.clock,
                    stop=stop,
                )
                group.create_task(
                    _then_resign(
                        resign,
                        engine.run(stop),
                        run_backgrounds(self.reconcilers, background),
                        run_audits(
                            settings=settings,
                            clients=self.clients,
                            store=store,
                            clock=self.clock,
                            leadership=leadership,
                            stop=stop,
                        ),
                        run_notifier(
                            settings=settings,
                            store=store,
                            clock=self.clock,
                            leadership=leadership,
                            stop=stop,
                        ),
                    )
                )
                notify_systemd("READY=1")
        finally:
            notify_systemd("STOPPING=1")
            health.store_open = False
            telemetry.unwatch()
            page.close()
            await planes.close()
            store.close()
            log.info("homeport daemon stopped")

    def _serve_page(
        self,
        group: asyncio.TaskGroup,
        page: PageSource,
        etcd_view: PlanesView,
        health: DaemonHealth,
        stop: asyncio.Event,
    ) -> None:
        listen = self.settings.web.listen
        if not self.settings.web.enabled:
            return
        try:
            sock = bind(listen)
        except OSError as exc:
            # The page is an aid: a taken port must never keep the daemon from acting.
            log.error(
                "the status page cannot listen on %s (%s): running without it; set [web] listen"
                " to a free port (or [web] enabled = false)",
                listen,
                exc.strerror or exc,
            )
            return
        health.web_url = url_of(sock)
        app = build_app(StatusPage(source=page, not_ready=health.not_ready, stop=stop))
        group.create_task(serve(app, sock, stop))
        group.create_task(etcd_view.run(stop))
        log.info("status page on %s", health.web_url)

    async def _sync_loop(
        self,
        sync: RevisionSync,
        engine: Engine,
        health: DaemonHealth,
        wake: asyncio.Event,
        stop: asyncio.Event,
    ) -> None:
        leadership = health.leadership
        while not stop.is_set():
            # Only the leader adopts revisions; the others wait warm.
            if not await leadership.wait_until_leader(stop):
                return
            stopped = asyncio.ensure_future(stop.wait())
            woken = asyncio.ensure_future(wake.wait())
            await asyncio.wait({stopped, woken}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            woken.cancel()
            if stop.is_set():
                return
            wake.clear()
            try:
                result = await sync.sync()
            except Exception:
                log.exception("reading the source failed; will retry on the next change or poll")
                continue
            health.synced()
            if result is None:
                continue
            sha = result.info.sha[:12] if result.info else "-"
            level = (
                logging.WARNING if result.decision.outcome in ("reject", "hold") else logging.INFO
            )
            log.log(
                level,
                "revision %s: %s (%s) %s",
                sha,
                result.decision.outcome,
                result.decision.reason,
                result.decision.message,
                extra={"revision": sha},
            )
            for error in result.errors:
                log.warning("%s", error.render())
            if result.touched:
                engine.enqueue(result.touched)


async def _then_resign(resign: asyncio.Event, *acting: Coroutine[Any, Any, None]) -> None:
    """Run the parts that act on the estate; give up the lease once all of them ended."""
    try:
        async with asyncio.TaskGroup() as group:
            for part in acting:
                group.create_task(part)
    finally:
        resign.set()


def _requeue(engine: Engine, first: list[tuple[str, str]]) -> None:
    """After a take-over: the objects whose actions were interrupted first, then all."""
    for key in first:
        engine.queue.add(key)
    engine.enqueue_all()


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
