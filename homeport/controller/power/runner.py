"""Running an estate shutdown or start, layer by layer, resumable after a crash.

``homeport estate shutdown|start`` (``cli/estate_cmd.py``) builds one ``EstatePower`` from
the config and calls it; it needs no daemon, and a running daemon cooperates through the
store: what a layer stops is held first (``holds.py``), so the engine leaves it alone and
no StandbyPair fails over; ``estate start`` releases each layer once it passed its health
checks, and pokes the daemon to reconcile what it released.

Every step is recorded before and after (``store.power``: the operation and its progress
per layer; ``store.journal``: each VM's shutdown or start; an ``EstateStop``/``EstateStart``
event on a VM when its shutdown or start is issued; events on ``Estate/power``). A run that died half-way is resumed by running the same command again:
finished layers are skipped and every step looks at the world first (a stopped VM is not
stopped twice). One operation runs at a time (the ``estate-power`` lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeport.clients.bundle import Clients
from homeport.clients.errors import ClientError
from homeport.controller.clock import Clock
from homeport.controller.control import send_request
from homeport.controller.coordination import holder_identity
from homeport.controller.power.holds import PowerHolds
from homeport.controller.power.layers import (
    PowerVM,
    estate_vms,
    layer_name,
    pair_members,
    pairs_to_release,
    shutdown_layers,
    start_layers,
)
from homeport.controller.store import PowerOp, Store
from homeport.controller.store.power import DONE, FAILED, SUPERSEDED
from homeport.kinds import App, Resource, StandbyPair
from homeport.reconcilers.appfiles import AppPaths
from homeport.reconcilers.powerhold import HOLD_KIND, HOLD_NAME, hold_key
from homeport.reconcilers.standbypair.finalsync import final_sync_target, record_final_sync
from homeport.reconcilers.standbypair.plan import Member, rsync_command

log = logging.getLogger(__name__)
LEASE = "estate-power"
Step = Callable[[PowerOp, int, tuple[PowerVM, ...], dict[str, Any]], Any]


class PowerError(Exception):
    """A layer did not stop or come back in time; the message says which VM or App."""


class PowerBusy(PowerError):
    """Another estate power operation is running."""


@dataclass(frozen=True)
class PowerSettings:
    shutdown_timeout: int = 120
    """Seconds a VM gets to shut down gracefully (ACPI) before it is stopped hard."""
    layer_timeout: float = 600.0
    """Seconds one layer may take to stop, or to start and pass its health checks."""
    poll_interval: float = 0.5
    """Seconds between looks while waiting for a VM or a health check."""
    lease_duration: float = 15.0
    """How long the operation's lease outlives a crashed run."""


@dataclass(frozen=True)
class Located:
    node: str
    vmid: int
    status: str


class EstatePower:
    def __init__(
        self,
        *,
        store: Store,
        clients: Clients,
        clock: Clock,
        settings: PowerSettings | None = None,
        ssh_port: int = 22,
        store_path: Path | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings or PowerSettings()
        self.ssh_port = ssh_port
        self.store_path = store_path
        self.say = say or (lambda text: log.info("%s", text))
        self.holder = holder_identity("estate-power")
        self.holds = PowerHolds(store, clock)
        self.px = clients.proxmox
        self.ssh = clients.ssh
        self.systemd = clients.systemd
        self.prober = clients.prober
        self.progress: dict[str, Any] = {}

    # -- the two operations ------------------------------------------------------------
    async def shutdown(self, down_to: int = 1) -> PowerOp:
        """Stop the layers from user-facing down to ``down_to``, each fully before the next."""
        async with self._lease():
            op = self._begin("shutdown", down_to)
            try:
                for layer, members in shutdown_layers(estate_vms(self._desired()), down_to):
                    await self._layer(op, layer, members, self._stop_layer)
            except BaseException as exc:
                self._failed(op, exc)
                raise
            return self._done(op)

    async def start(self) -> PowerOp:
        """Start the layers from infrastructure up, each healthy before the next."""
        async with self._lease():
            op = self._begin("start", 4)
            try:
                for layer, members in start_layers(estate_vms(self._desired())):
                    await self._layer(op, layer, members, self._start_layer)
                self._release(list(self.holds.held()))
            except BaseException as exc:
                self._failed(op, exc)
                raise
            self._poke({"op": "reconcile-all"})
            return self._done(op)

    # -- bookkeeping -------------------------------------------------------------------
    def _desired(self) -> list[Resource]:
        return [o.resource() for o in self.store.objects.all() if not o.deleting]

    def _begin(self, kind: str, target: int) -> PowerOp:
        current = self.store.power.unfinished()
        if current is not None and current.op == kind and current.target_layer == target:
            self.say(f"resuming {kind} #{current.id} (started {current.started_at})")
            self._event("EstatePowerResumed", f"{kind} #{current.id} resumed")
            self.progress = dict(current.progress)
            return current
        if current is not None:
            self.store.power.finish(current.id, state=SUPERSEDED, now=self.clock.now())
            self.say(f"{current.op} #{current.id} left unfinished is superseded")
        op = self.store.power.begin(
            op=kind, target_layer=target, holder=self.holder, now=self.clock.now()
        )
        self.progress = {"layers": {}}
        self._event(f"Estate{kind.capitalize()}Started", f"{kind} #{op.id} started")
        return op

    def _save(self, op: PowerOp) -> None:
        self.store.power.save_progress(op.id, self.progress)

    def _summary(self) -> str:
        layers = self.progress.get("layers", {})
        return ", ".join(
            f"layer {n} ({entry.get('name')}) {entry.get('seconds', 0):.1f}s"
            for n, entry in layers.items()
        )

    def _done(self, op: PowerOp) -> PowerOp:
        self.store.power.finish(op.id, state=DONE, now=self.clock.now())
        self._event(f"Estate{op.op.capitalize()}Finished", f"{op.op} #{op.id}: {self._summary()}")
        found = self.store.power.get(op.id)
        assert found is not None
        return found

    def _failed(self, op: PowerOp, exc: BaseException) -> None:
        if isinstance(exc, Exception):  # a crash (cancellation) leaves it to be resumed
            self.store.power.finish(op.id, state=FAILED, now=self.clock.now(), error=str(exc))
            self._event("EstatePowerFailed", f"{op.op} #{op.id}: {exc}", warning=True)

    def _event(
        self,
        reason: str,
        message: str,
        *,
        kind: str = HOLD_KIND,
        name: str = HOLD_NAME,
        warning: bool = False,
    ) -> None:
        self.store.events.emit(
            kind=kind,
            name=name,
            reason=reason,
            message=message,
            now=self.clock.now(),
            warning=warning,
        )

    def _poke(self, message: dict[str, Any]) -> None:
        if self.store_path is not None:
            send_request(self.store_path, message)

    @contextlib.asynccontextmanager
    async def _lease(self) -> AsyncIterator[None]:
        if not self._acquire():
            current = self.store.leases.current(LEASE)
            holder = current.holder if current else "?"
            raise PowerBusy(
                f"another estate power operation is running ({holder}); "
                f"if it crashed, its lease lapses within {self.settings.lease_duration:.0f}s"
            )
        renew = asyncio.create_task(self._renew())
        try:
            yield
        finally:
            renew.cancel()
            await asyncio.gather(renew, return_exceptions=True)
            self.store.leases.release(LEASE, self.holder)

    def _acquire(self) -> bool:
        now = self.clock.now()
        lease = self.store.leases.try_acquire(
            LEASE,
            self.holder,
            now=now.timestamp(),
            duration=self.settings.lease_duration,
            stamp=now,
        )
        return lease is not None

    async def _renew(self) -> None:
        while True:
            await self.clock.sleep(self.settings.lease_duration / 3)
            self._acquire()

    # -- one layer ---------------------------------------------------------------------
    async def _layer(
        self, op: PowerOp, layer: int, members: tuple[PowerVM, ...], step: Step
    ) -> None:
        layers = self.progress.setdefault("layers", {})
        entry = layers.setdefault(str(layer), {"name": layer_name(layer), "vms": {}})
        if entry.get("finishedAt"):
            self.say(f"layer {layer} ({entry['name']}): already done")
            return
        entry.setdefault("startedAt", self.clock.now().isoformat())
        self._save(op)
        self.say(f"layer {layer} ({entry['name']}): {', '.join(vm.name for vm in members)}")
        started = self.clock.monotonic()
        await step(op, layer, members, entry)
        entry["finishedAt"] = self.clock.now().isoformat()
        entry["seconds"] = round(self.clock.monotonic() - started, 2)
        self._save(op)
        self.say(f"layer {layer} ({entry['name']}): done in {entry['seconds']:.1f}s")

    async def _stop_layer(
        self, op: PowerOp, layer: int, members: tuple[PowerVM, ...], entry: dict[str, Any]
    ) -> None:
        why = f"stopped by `homeport estate shutdown` #{op.id} (layer {layer}, {layer_name(layer)})"
        pairs = {p for vm in members for p in vm.pairs}
        keys = [k for vm in members for k in vm.hold_keys()]
        held = [*keys, *(hold_key("StandbyPair", p) for p in sorted(pairs))]
        self.holds.hold(held, why)
        self._wake(held)
        await self._final_syncs(sorted(pairs), {vm.name for vm in members})
        await asyncio.gather(*(self._stop_vm(op, layer, vm, entry) for vm in members))

    async def _start_layer(
        self, op: PowerOp, layer: int, members: tuple[PowerVM, ...], entry: dict[str, Any]
    ) -> None:
        await asyncio.gather(*(self._start_vm(op, layer, vm, entry) for vm in members))
        await self._wait_healthy(layer, members)
        self._release([k for vm in members for k in vm.hold_keys()])

    def _release(self, keys: list[str]) -> None:
        held = self.holds.held()
        self.holds.release(k for k in keys if k in held)
        still = {k.split("/", 1)[1] for k in self.holds.held() if k.startswith("VM/")}
        pairs = [
            hold_key("StandbyPair", p)
            for p in pairs_to_release(pair_members(self._desired()), still)
            if hold_key("StandbyPair", p) in self.holds.held()
        ]
        self.holds.release(pairs)
        self._wake([*(k for k in keys if k in held), *pairs])

    def _wake(self, keys: list[str]) -> None:
        """Ask the daemon to look at these now (best effort: its resync catches up anyway)."""
        for key in keys:
            kind, name = key.split("/", 1)
            self._poke({"op": "reconcile", "kind": kind, "name": name})

    # -- one VM ------------------------------------------------------------------------
    async def _locate(self, name: str) -> Located | None:
        vmid = self.store.allocations.get("vmid", "VM", name)
        if vmid is None:
            return None
        found = (await self.px.cluster_resources()).vm(vmid)
        return Located(found.node, found.vmid, found.status) if found else None

    async def _stop_vm(self, op: PowerOp, layer: int, vm: PowerVM, entry: dict[str, Any]) -> None:
        where = await self._locate(vm.name)
        if where is not None and where.status != "stopped":
            what = f"VM {where.vmid}: shut down for `homeport estate shutdown` #{op.id}"
            self._event(
                "EstateStop",
                f"layer {layer} ({layer_name(layer)}): shutting VM {where.vmid} on {where.node} down",
                kind="VM",
                name=vm.name,
            )
            with self._journaled(op, vm.name, "estate-stop", what):
                task = await self.px.shutdown_vm(
                    where.node, where.vmid, timeout=self.settings.shutdown_timeout, force_stop=True
                )
                if task is not None:
                    await self.px.tasks.wait(task, timeout=self.settings.layer_timeout)
                await self._wait_status(where, "stopped")
        entry["vms"][vm.name] = "stopped" if where else "absent"
        self._save(op)

    async def _start_vm(self, op: PowerOp, layer: int, vm: PowerVM, entry: dict[str, Any]) -> None:
        where = await self._locate(vm.name)
        if where is not None and where.status != "running":
            what = f"VM {where.vmid}: start for `homeport estate start` #{op.id}"
            self._event(
                "EstateStart",
                f"layer {layer} ({layer_name(layer)}): starting VM {where.vmid} on {where.node}",
                kind="VM",
                name=vm.name,
            )
            with self._journaled(op, vm.name, "estate-start", what):
                task = await self.px.start_vm(where.node, where.vmid)
                if task is not None:
                    await self.px.tasks.wait(task, timeout=self.settings.layer_timeout)
                await self._wait_status(where, "running")
        entry["vms"][vm.name] = "running" if where else "absent"
        self._save(op)

    @contextlib.contextmanager
    def _journaled(self, op: PowerOp, name: str, verb: str, what: str) -> Any:
        obj = self.store.objects.get(("VM", name))
        entry = self.store.journal.intent(
            kind="VM",
            name=name,
            generation=obj.generation if obj else 0,
            verb=verb,
            idempotency_key=f"estate/{op.id}/{verb}/{name}",
            description=what,
            fencing_token=0,
            holder=self.holder,
            now=self.clock.now(),
        )
        try:
            yield
        except BaseException as exc:
            self.store.journal.finish(
                entry, now=self.clock.now(), error=f"{type(exc).__name__}: {exc}"
            )
            raise
        self.store.journal.finish(entry, now=self.clock.now())

    async def _wait_status(self, where: Located, status: str) -> None:
        deadline = self.clock.monotonic() + self.settings.layer_timeout
        while (await self.px.vm_status(where.node, where.vmid)).status != status:
            if self.clock.monotonic() > deadline:
                raise PowerError(
                    f"VM {where.vmid} is not {status} after {self.settings.layer_timeout:.0f}s"
                )
            await self.clock.sleep(self.settings.poll_interval)

    # -- health ------------------------------------------------------------------------
    async def _wait_healthy(self, layer: int, members: tuple[PowerVM, ...]) -> None:
        deadline = self.clock.monotonic() + self.settings.layer_timeout
        while True:
            problems = [p for p in await asyncio.gather(*(self._health(vm) for vm in members)) if p]
            if not problems:
                return
            if self.clock.monotonic() > deadline:
                raise PowerError(
                    f"layer {layer} ({layer_name(layer)}) is not healthy after "
                    f"{self.settings.layer_timeout:.0f}s: {'; '.join(problems)}"
                )
            await self.clock.sleep(self.settings.poll_interval)

    async def _health(self, vm: PowerVM) -> str | None:
        where = await self._locate(vm.name)
        if where is None:
            return None
        if where.status != "running":
            return f"VM {vm.name} is {where.status}"
        try:
            if not await self.px.agent.ping(where.node, where.vmid):
                return f"VM {vm.name}: the guest agent does not answer yet"
        except ClientError as exc:
            return f"VM {vm.name}: {exc}"
        address = self._address(vm.name)
        for app in vm.apps:
            problem = await self._app_health(app, address)
            if problem:
                return problem
        return None

    async def _app_health(self, app: App, address: str | None) -> str | None:
        if app.spec.bind == "localhost":
            return None  # not reachable from here; systemd starts it with the VM
        if address is None:
            return f"App {app.name}: its VM's address is unknown"
        check = app.spec.health_check
        host = f"[{address}]" if ":" in address else address
        if check.type == "tcp":
            result = await self.prober.tcp(address, app.spec.port, timeout=check.timeout_seconds)
        else:
            result = await self.prober.http(
                f"http://{host}:{app.spec.port}{check.path}",
                timeout=check.timeout_seconds,
                expected_status=check.expect_status,
            )
        return None if result.ok else f"App {app.name}: {result.error}"

    def _address(self, vm: str) -> str | None:
        obj = self.store.objects.get(("VM", vm))
        value = obj.status.details.get("address") if obj else None
        return str(value) if value else None

    # -- StandbyPairs ------------------------------------------------------------------
    async def _final_syncs(self, pairs: list[str], stopping: set[str]) -> None:
        """Before a pair's primary stops: stop its App, then one last replication to the
        standby, so the standby holds everything when the estate comes back."""
        for name in pairs:
            try:
                await self._final_sync(name, stopping)
            except ClientError as exc:
                self._event(
                    "FinalSyncFailed", f"{exc}", kind="StandbyPair", name=name, warning=True
                )

    async def _final_sync(self, name: str, stopping: set[str]) -> None:
        obj = self.store.objects.get(("StandbyPair", name))
        pair = obj.resource() if obj else None
        if not isinstance(pair, StandbyPair) or pair.spec.replication.method != "rsync":
            return
        roles = final_sync_target(pair, self.store)
        if roles is None:
            return
        primary, standby = self._member(roles.primary), self._member(roles.standby)
        if primary is None or standby is None or primary[1] not in stopping:
            return
        (source, _), (target, target_vm) = primary, standby
        there = await self._locate(target_vm)
        if not (source.host and target.host and there and there.status == "running"):
            return
        await self.systemd.stop(source.host, source.unit)
        result = await self.ssh.run(
            source.host,
            list(rsync_command(source, target, self.ssh_port, pair=name, epoch=roles.epoch)),
            timeout=600,
            check=False,
        )
        if not result.ok:
            raise ClientError(
                f"final sync {source.app} → {target.app} failed: {result.stderr.decode(errors='replace').strip()[-200:]}"
            )
        record_final_sync(pair, self.store, self.clock.now())
        self._event(
            "FinalSync",
            f"{source.app} stopped and synced to {target.app} before the shutdown",
            kind="StandbyPair",
            name=name,
        )

    def _member(self, app_name: str) -> tuple[Member, str] | None:
        obj = self.store.objects.get(("App", app_name))
        app = obj.resource() if obj else None
        if not isinstance(app, App):
            return None
        paths = AppPaths.of(app)
        member = Member(
            app=app.name,
            host=self._address(app.spec.vm),
            port=app.spec.port,
            unit=paths.unit_name,
            data_dir=app.data_dir,
        )
        return member, app.spec.vm
