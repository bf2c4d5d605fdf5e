"""``homeport demo``: the whole story on this machine in a few minutes.

Starts the simulated estate and a real Caddy, creates the control plane's repository,
``git push``es ``manifests/``, runs the daemon, shows convergence live, prints the status
and the ``curl`` commands that reach each app through Caddy (HTTPS with Caddy's local
CA), then crashes a primary and shows the failover's timeline as it happens — and prints
the URL of the daemon's status page, which shows all of it live. Ctrl-C ends it cleanly
at any point; ``--keep`` leaves everything up for exploring with the CLI and the page;
``--ci`` runs the same tour non-interactively and fails loudly if a step does not hold.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import ssl
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from homeport.cli.output import console
from homeport.clients.bundle import Clients
from homeport.controller.config import Settings, load_settings
from homeport.controller.daemon import Daemon
from homeport.controller.logs import configure_logging
from homeport.controller.store import Store, StoredObject
from homeport.controller.wiring import build_clients, build_reconcilers, close_clients
from homeport.kinds import StandbyPair
from homeport.reconcilers.pairview import PairView, stored_pair_view
from homeport.services.views.objects import message_of, state_of, summary_of
from homeport.simulator.estate import SimulatedEstate
from homeport.simulator.settings import EstateConfig, Timings
from homeport.source.hooks import init_repository

KINDS = {
    "Machine": "machines",
    "VM": "VMs",
    "App": "apps",
    "StandbyPair": "pairs",
    "ProxyRoute": "routes",
    "BackupPolicy": "backups",
    "Agent": "agents",
}
# Quick simulated timings so the tour takes a minute, not an afternoon.
TIMINGS = Timings(full_clone_per_32g=4.0, guest_boot=2.0, start=0.5, shutdown=1.0)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "demo",
    "GIT_AUTHOR_EMAIL": "demo@example.com",
    "GIT_COMMITTER_NAME": "demo",
    "GIT_COMMITTER_EMAIL": "demo@example.com",
}


class DemoFailed(Exception):
    """A step of the tour did not hold (``--ci`` exits 1 with this message)."""


@dataclass
class Tour:
    out: Console
    ci: bool
    estate: SimulatedEstate
    settings: Settings

    # -- reading the store -----------------------------------------------------------
    def objects(self) -> list[StoredObject]:
        if not self.settings.store.path.exists():
            return []
        store = Store.open(self.settings.store.path, readonly=True)
        try:
            return store.objects.all()
        finally:
            store.close()

    def pair(self, name: str) -> PairView:
        store = Store.open(self.settings.store.path, readonly=True)
        try:
            stored = store.objects.get(("StandbyPair", name))
            pair = stored.resource() if stored else None
            if not isinstance(pair, StandbyPair):
                raise DemoFailed(f"StandbyPair {name} is not in the store")
            return stored_pair_view(pair, store)
        finally:
            store.close()

    def failovers(self, pair: str) -> list[dict[str, Any]]:
        store = Store.open(self.settings.store.path, readonly=True)
        try:
            return store.failovers.for_pair(pair)
        finally:
            store.close()

    # -- steps ------------------------------------------------------------------------
    def say(self, text: str) -> None:
        self.out.print(f"\n[bold cyan]▶ {text}[/]")

    def push(self, manifests: Path) -> None:
        repo = self.settings.source.repo
        assert repo is not None
        init_repository(repo)
        work = self.estate.dir / "work"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(manifests, work / "manifests")
        env = {**os.environ, **GIT_ENV}
        for argv in (
            ["git", "init", "-q", "-b", "main"],
            ["git", "add", "-A"],
            ["git", "commit", "-q", "-m", "the edge data center"],
            ["git", "push", "-q", str(repo), "HEAD:refs/heads/main"],
        ):
            result = subprocess.run(
                argv, cwd=work, env=env, capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                raise DemoFailed(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")
            for line in result.stderr.splitlines():
                self.out.print(f"  {line.strip()}", markup=False, style="dim")
        self.out.print(
            f"  pushed to {repo} (the pre-receive hook validated it first)", markup=False
        )

    def _progress(self) -> tuple[Table, bool, str]:
        objects = self.objects()
        ready = Counter(o.kind for o in objects if o.ready)
        total = Counter(o.kind for o in objects)
        summary = "  ".join(
            f"{label} {ready[k]}/{total[k]}" for k, label in KINDS.items() if total[k]
        )
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(style="bold")
        table.add_column()
        table.add_row("progress", summary or "adopting the revision…")
        for obj in objects:
            if not obj.ready:
                table.add_row(f"{obj.kind}/{obj.name}", f"{state_of(obj)}: {message_of(obj)[:90]}")
        done = bool(objects) and all(o.ready for o in objects if o.kind != "BackupPolicy")
        return table, done, summary

    async def converge(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        if self.ci or not self.out.is_terminal:
            last = ""
            while True:
                _, done, summary = self._progress()
                if summary != last:
                    self.out.print(f"  {time.monotonic() - started:5.1f}s  {summary}", markup=False)
                    last = summary
                if done:
                    break
                if time.monotonic() > deadline:
                    raise DemoFailed("the estate did not converge in time:\n" + self._not_ready())
                await asyncio.sleep(0.25)
        else:
            with Live(self._progress()[0], console=self.out, refresh_per_second=4) as live:
                while True:
                    table, done, _ = self._progress()
                    live.update(table)
                    if done:
                        break
                    if time.monotonic() > deadline:
                        raise DemoFailed(
                            "the estate did not converge in time:\n" + self._not_ready()
                        )
                    await asyncio.sleep(0.25)
        self.out.print(f"  converged in {time.monotonic() - started:.1f}s", markup=False)

    def _not_ready(self) -> str:
        return "\n".join(
            f"  {o.kind}/{o.name}: {message_of(o)}" for o in self.objects() if not o.ready
        )

    def status_table(self) -> None:
        table = Table(header_style="bold", box=None, pad_edge=False)
        for column in ("KIND", "NAME", "STATE", "DETAILS"):
            table.add_column(column)
        for obj in self.objects():
            shown = summary_of(obj)
            table.add_row(obj.kind, obj.name, state_of(obj), shown)
        self.out.print(table)

    def curl(self, host: str, listener: str = "https") -> str:
        caddy = self.estate.endpoints()["caddy"]
        address, port = caddy[listener].removeprefix("https://").rsplit(":", 1)
        return (
            f"curl --cacert {caddy['ca']} --resolve {host}:{port}:{address} https://{host}:{port}/"
        )

    async def get(self, host: str, listener: str = "https") -> httpx.Response:
        """``host`` through Caddy's public listener (``https``) or its tailnet one."""
        caddy = self.estate.endpoints()["caddy"]
        async with httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=caddy["ca"]), timeout=3.0, trust_env=False
        ) as client:
            try:
                return await client.get(
                    f"{caddy[listener]}/", headers={"Host": host}, extensions={"sni_hostname": host}
                )
            except httpx.HTTPError as exc:  # e.g. no certificate for the host on that listener
                return httpx.Response(599, text=f"{type(exc).__name__}: {exc}")

    async def request(self, host: str, listener: str = "https") -> dict[str, Any]:
        response = await self.get(host, listener)
        if response.status_code != 200:
            raise DemoFailed(f"{host} answered {response.status_code} through Caddy")
        return dict(response.json())

    async def failover(self, pair: str) -> None:
        view = self.pair(pair)
        primary, standby = view.primary, view.standby
        vm = next(o for o in self.objects() if o.kind == "VM" and o.name == primary)
        before = len(self.failovers(pair))
        endpoints = self.estate.endpoints()["proxmox"]
        secret = (self.estate.control / "proxmox-token").read_text().strip()
        async with httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=endpoints["ca"]),
            trust_env=False,
            timeout=10,
            headers={"Authorization": f"PVEAPIToken={endpoints['token_id']}={secret}"},
        ) as sim:
            crashed = time.monotonic()
            response = await sim.post(
                f"{endpoints['url'].removesuffix('/api2/json')}/_sim/guests/"
                f"{vm.status.details['vmid']}/crash_vm",
                json={},
            )
            response.raise_for_status()
        self.out.print(
            f"  {primary}'s VM crashed (kernel panic: Proxmox says running, nothing answers)",
            markup=False,
        )
        shown = 0
        previous: datetime | None = None
        while True:
            records = self.failovers(pair)
            if len(records) > before:
                steps = records[-1]["timeline"]
                for step in steps[shown:]:
                    at = datetime.fromisoformat(step["at"])
                    took = f"+{(at - previous).total_seconds():.2f}s" if previous else ""
                    previous = at
                    self.out.print(
                        f"  {step['at'][11:23]} {took:>7}  {step['phase']:<17} {step['detail']}",
                        markup=False,
                    )
                shown = len(steps)
                if records[-1]["outcome"] == "completed":
                    break
            if time.monotonic() - crashed > 60:
                raise DemoFailed("no failover within 60 s")
            await asyncio.sleep(0.1)
        answer = await self.request(f"{pair}.example.com")
        if answer.get("app") != f"homeport-{standby}":
            raise DemoFailed(
                f"{pair}.example.com is served by {answer.get('app')}, not the standby"
            )
        self.out.print(
            f"  {pair}.example.com is now served by {standby} (epoch {answer.get('epoch')}), "
            f"{time.monotonic() - crashed:.1f}s after the crash",
            markup=False,
        )
        record = self.failovers(pair)[-1]
        self.out.print(
            f"  data-loss window (last sync → failure): {record['rpo_seconds']:.1f}s", markup=False
        )


async def page_url(daemon: Daemon, *, timeout: float = 5.0) -> str | None:
    """The daemon's status page once it listens (None: it could not, or is disabled)."""
    if not daemon.settings.web.enabled:
        return None
    for _ in range(int(timeout / 0.05)):
        if daemon.web_url is not None:
            break
        await asyncio.sleep(0.05)
    return daemon.web_url


async def run_tour(
    *, state: Path, manifests: Path, keep: bool, ci: bool, time_scale: float
) -> None:
    # Never folded: the tour prints commands to copy (curl, homeport) and timeline rows.
    out = console(wrap=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    shutil.rmtree(state, ignore_errors=True)
    estate = SimulatedEstate(
        EstateConfig(state_dir=state, time_scale=time_scale, tls="internal", timings=TIMINGS)
    )
    clients = Clients()
    daemon_stop = asyncio.Event()
    daemon_task: asyncio.Task[None] | None = None

    async def tour() -> None:
        nonlocal daemon_task, clients
        await estate.start()
        settings = load_settings(estate.config_path)
        t = Tour(out, ci, estate, settings)
        t.say(
            "A simulated edge data center: 3 Proxmox nodes, a tailnet, a real Caddy as the router"
        )
        out.print(f"  state in {state}; controller config {estate.config_path}", markup=False)
        t.say("git push the estate (manifests/) to the control plane's repository")
        t.push(manifests)
        t.say("The homeport daemon converges it: clone VMs, deploy apps, route them, arm failover")
        clients = await build_clients(settings)
        daemon = Daemon(settings=settings, reconcilers=build_reconcilers(settings), clients=clients)
        daemon_task = asyncio.create_task(daemon.run(daemon_stop))
        page = await page_url(daemon)
        if page:
            out.print(f"  status page: {page}  (open it now: it follows along live)", markup=False)
        await t.converge(timeout=240)
        t.say("Status")
        t.status_table()
        t.say("Reach each app through Caddy (HTTPS, Caddy's local CA):")
        for host in ("shop.example.com", "community.example.com"):
            answer = await t.request(host)
            out.print(f"  $ {t.curl(host)}", markup=False, style="dim")
            out.print(
                f"    → {answer.get('app')} (release {str(answer.get('release'))[:12]}, epoch {answer.get('epoch')})",
                markup=False,
            )
        gateway = "models.yourdomain.local"
        if any(o.kind == "ProxyRoute" and o.name == "models" for o in t.objects()):
            t.say("The model gateway: served on the router's tailnet address only")
            answer = await t.request(gateway, "tailnet")
            out.print(f"  $ {t.curl(gateway, 'tailnet')}", markup=False, style="dim")
            out.print(f"    → {answer.get('app')} (a packaged service, no release)", markup=False)
            public = await t.get(gateway)
            if public.status_code == 200:
                raise DemoFailed(f"{gateway} is served on the public listener")
            out.print(f"  $ {t.curl(gateway)}", markup=False, style="dim")
            out.print("    → refused: the public listener does not serve it", markup=False)
        t.say("Crash the primary of StandbyPair shop and watch the failover")
        await t.failover("shop")
        t.say("Done.")
        if keep:
            if page:
                out.print(f"Status page: {page}", markup=False)
            out.print(
                f"Everything stays up. In another terminal:\n  export HOMEPORT_CONFIG={estate.config_path}\n"
                "  homeport status; homeport get all; homeport describe standbypair shop\n"
                f"  homeport sim fault crash_node --node pve2 --state {state}\nCtrl-C to stop.",
                markup=False,
            )
            await stop.wait()

    tour_task = asyncio.create_task(tour())
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({tour_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if tour_task in done:
            tour_task.result()
        else:
            out.print("\ninterrupted: stopping everything", markup=False)
            tour_task.cancel()
            await asyncio.gather(tour_task, return_exceptions=True)
    finally:
        stopper.cancel()
        daemon_stop.set()
        if daemon_task is not None:
            await asyncio.gather(daemon_task, return_exceptions=True)
        await close_clients(clients)
        await estate.stop()
        if not keep:
            out.print("stopped: nothing left running", markup=False)


def demo(
    keep: bool = typer.Option(
        False, "--keep", help="Leave the estate and daemon up after the tour (until Ctrl-C)."
    ),
    ci: bool = typer.Option(
        False, "--ci", help="Non-interactive: plain output, exit 1 if a step fails."
    ),
    state: Path = typer.Option(Path(".demo"), "--state", help="State directory (wiped at start)."),
    manifests: Path = typer.Option(
        None, "--manifests", help="Manifests to push (default: the example estate)."
    ),
    time_scale: float = typer.Option(
        20.0, "--time-scale", help="Simulated seconds per wall second."
    ),
) -> None:
    """Run the whole story locally: simulated estate, git push, convergence, Caddy, failover.

    Example: [bold]homeport demo[/bold]  (or [bold]make demo[/bold]); [bold]homeport demo --keep[/bold]
    to explore afterwards with [bold]homeport status[/bold].
    """
    source = manifests or Path(__file__).resolve().parents[2] / "manifests"
    if not source.is_dir():
        console(stderr=True).print(f"error: {source} not found; pass --manifests", markup=False)
        raise typer.Exit(2)
    configure_logging(level=40)  # the tour narrates; the daemon's log would drown it
    try:
        asyncio.run(
            run_tour(
                state=state.resolve(), manifests=source, keep=keep, ci=ci, time_scale=time_scale
            )
        )
    except DemoFailed as exc:
        console(stderr=True).print(f"demo failed: {exc}", markup=False)
        raise typer.Exit(1) from None
