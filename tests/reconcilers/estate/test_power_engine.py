"""``Estate/power`` through the engine, with a fake Proxmox (no sockets): the request is
acted on only by the leader, a crash at any point resumes without stopping a VM twice, and
the command's in-process path (``controller/oneshot.py``) runs the same engine."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from homeport.clients.bundle import Clients
from homeport.clients.errors import Locked, ProxmoxError
from homeport.clients.probes import Prober
from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.proxmox_models import ClusterResources, TaskRef, TaskStatus
from homeport.clients.proxmox_tasks import ActiveTask
from homeport.controller.clock import FakeClock
from homeport.controller.config import ControllerSettings, Settings
from homeport.controller.context import ControllerContext
from homeport.controller.engine import Engine
from homeport.controller.oneshot import reconcile_until
from homeport.controller.store import DesiredObject, Store
from homeport.controller.store.leases import LEASE_NAME
from homeport.kinds import ObjectStatus
from homeport.reconcilers.estate import EstatePowerReconciler
from homeport.reconcilers.slots import ESTATE_HOLD, ESTATE_POWER_REQUEST, PowerRequest
from homeport.source.validate import validate_sources
from tests.controller.fakes import AlwaysLeader
from tests.reconcilers.estate.test_layers_and_holds import ESTATE

KEY = ("Estate", "power")
VMIDS = {"router": 101, "db": 102, "web-a": 103, "web-b": 104, "scratch": 105}


@dataclass
class FakePVE:
    """The few calls ``Estate/power`` makes; a task takes ``polls`` status reads."""

    power: dict[int, str] = field(default_factory=lambda: dict.fromkeys(VMIDS.values(), "running"))
    polls: int = 2
    calls: list[str] = field(default_factory=list)
    running: dict[str, list[Any]] = field(default_factory=dict)
    """UPID → [status reads left, vmid, status it leaves]."""
    crash_after_issuing: set[int] = field(default_factory=set)
    refuse: dict[int, ProxmoxError] = field(default_factory=dict)

    @property
    def tasks(self) -> FakePVE:
        return self

    async def cluster_resources(self) -> ClusterResources:
        items = [
            {"type": "qemu", "vmid": vmid, "node": "pve1", "status": self.power[vmid]}
            for vmid in self.power
        ]
        return ClusterResources.parse(items)

    async def shutdown_vm(self, node: str, vmid: int, *, timeout: int, force_stop: bool) -> TaskRef:
        return self._task("qmshutdown", vmid, "stopped")

    async def start_vm(self, node: str, vmid: int) -> TaskRef:
        return self._task("qmstart", vmid, "running")

    def _task(self, kind: str, vmid: int, leaves: str) -> TaskRef:
        self.calls.append(f"{kind} {vmid}")
        if vmid in self.refuse:
            raise self.refuse[vmid]
        upid = f"UPID:pve1:00000001:00000001:00000001:{kind}:{vmid}:root@pam:"
        self.running[upid] = [self.polls, vmid, leaves]
        if vmid in self.crash_after_issuing:
            self.crash_after_issuing.discard(vmid)
            raise asyncio.CancelledError  # killed after Proxmox took it, before it was recorded
        return TaskRef.of(upid)

    async def status(self, node: str, upid: str) -> TaskStatus:
        left, vmid, leaves = self.running[upid]
        if left > 0:
            self.running[upid][0] = left - 1
            return TaskStatus.model_validate({"upid": upid, "status": "running"})
        self.power[vmid] = leaves
        return TaskStatus.model_validate({"upid": upid, "status": "stopped", "exitstatus": "OK"})

    async def active(self) -> list[ActiveTask]:
        return [
            ActiveTask.model_validate(
                {"upid": u, "node": "pve1", "type": u.split(":")[5], "id": str(t[1])}
            )
            for u, t in self.running.items()
            if t[0] > 0
        ]


def clients_of(pve: FakePVE) -> Clients:
    # A shutdown checks no health: the prober is never called.
    return Clients(proxmox=cast(ProxmoxClient, pve), prober=cast(Prober, object()))


def prepared(tmp_path: Path, clock: FakeClock) -> Store:
    store = Store.open(tmp_path / "state.db")
    result = validate_sources([("estate.yaml", ESTATE.encode())])
    assert result.ok
    store.objects.apply_revision(
        "rev1", [DesiredObject(o.resource, o.file, o.line) for o in result.objects], clock.now()
    )
    for name, vmid in VMIDS.items():
        status = ObjectStatus.model_validate({"details": {"vmid": vmid}})
        store.objects.set_status(("VM", name), status, clock.now())
    return store


def request(store: Store, clock: FakeClock, op: str = "shutdown", target: int = 1) -> None:
    at = clock.now().isoformat()
    wanted: PowerRequest = {
        "id": 1,
        "op": op,
        "target": target,
        "at": at,
        "by": "test",
        "state": "requested",
        "timeout": 60.0,
        "layers": {},
    }
    ESTATE_POWER_REQUEST.set(store, "power", wanted, now=at)


def engine(store: Store, clock: FakeClock, pve: FakePVE, leader: AlwaysLeader) -> Engine:
    clients = clients_of(pve)
    return Engine(
        store=store,
        reconcilers={"Estate": EstatePowerReconciler()},
        context=ControllerContext(store=store, clock=clock, clients=clients),
        clock=clock,
        settings=ControllerSettings(resync_interval=60),
        leadership=leader,
    )


def state(store: Store) -> str:
    found = ESTATE_POWER_REQUEST.get(store, "power")
    assert found is not None
    return found["state"]


async def until_answered(run: Engine, store: Store, clock: FakeClock, passes: int = 200) -> None:
    for _ in range(passes):
        outcome = await run.reconcile(KEY)
        if state(store) not in ("requested", "running"):
            return
        clock.advance(outcome.requeue_after or 0.5)
    raise AssertionError(f"not answered after {passes} passes: {state(store)}")


def test_the_engine_finds_the_standalone_object_and_only_the_leader_acts(tmp_path: Path) -> None:
    clock = FakeClock()
    store = prepared(tmp_path, clock)
    pve = FakePVE()
    follower = AlwaysLeader()
    follower.leading = False
    run = engine(store, clock, pve, follower)
    run.enqueue_all()
    assert KEY in run.standalone_keys()
    request(store, clock)

    async def go() -> None:
        outcome = await run.reconcile(KEY)
        assert outcome.result == "error" and "not the leader" in outcome.message
        assert pve.calls == [] and state(store) == "requested"
        assert store.journal.for_object(*KEY, limit=10) == []
        follower.leading = True  # now it leads: the same request runs
        await until_answered(run, store, clock)

    asyncio.run(go())
    assert state(store) == "done"
    # User-facing first, infrastructure last; each once; every step journaled with the token.
    assert pve.calls == [
        "qmshutdown 105",
        "qmshutdown 103",
        "qmshutdown 102",
        "qmshutdown 104",
        "qmshutdown 101",
    ]
    stops = [e for e in store.journal.for_object(*KEY, limit=100) if e.verb == "estate-stop"]
    assert len(stops) == 5 and {e.fencing_token for e in stops} == {7}
    held = (ESTATE_HOLD.get(store) or {}).get("held") or {}
    assert {"VM/router", "App/web-a", "StandbyPair/web"} <= set(held)
    store.close()


@pytest.mark.parametrize("crash", ["after-recording", "between-issuing-and-recording"])
def test_a_crash_mid_shutdown_resumes_without_stopping_a_vm_twice(
    tmp_path: Path, crash: str
) -> None:
    clock = FakeClock()
    store = prepared(tmp_path, clock)
    pve = FakePVE(polls=3)
    if crash == "between-issuing-and-recording":
        pve.crash_after_issuing = {103}
    request(store, clock, target=2)

    async def first_life() -> None:
        run = engine(store, clock, pve, AlwaysLeader())
        for _ in range(200):
            await run.reconcile(KEY)  # CancelledError: the "kill"
            clock.advance(1.0)
            if "qmshutdown 103" in pve.calls:
                return

    with pytest.raises(asyncio.CancelledError) if pve.crash_after_issuing else _nothing():
        asyncio.run(first_life())
    assert "qmshutdown 103" in pve.calls and pve.power[103] == "running"  # still shutting down

    async def second_life() -> None:  # a new daemon (new engine, same store)
        await until_answered(engine(store, clock, pve, AlwaysLeader()), store, clock)

    asyncio.run(second_life())
    assert state(store) == "done"
    assert sorted(pve.calls) == [
        "qmshutdown 102",
        "qmshutdown 103",
        "qmshutdown 104",
        "qmshutdown 105",
    ]
    assert pve.power == {
        101: "running",
        102: "stopped",
        103: "stopped",
        104: "stopped",
        105: "stopped",
    }
    store.close()


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def settings_for(tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {
            "store": {"path": str(tmp_path / "state.db")},
            "source": {"directory": str(tmp_path)},
            "coordination": {"lease_duration": 30, "renew_interval": 1},
        }
    )


def test_without_a_daemon_the_command_runs_the_same_engine_in_process(tmp_path: Path) -> None:
    clock = FakeClock()
    store = prepared(tmp_path, clock)
    pve = FakePVE()
    request(store, clock, target=4)

    async def sleep(seconds: float) -> None:
        clock.advance(seconds or 0.5)

    async def go(holder: str) -> Any:
        return await reconcile_until(
            settings=settings_for(tmp_path),
            store=store,
            reconcilers={"Estate": EstatePowerReconciler()},
            clients=clients_of(pve),
            clock=clock,
            key=KEY,
            settled=lambda s: state(s) not in ("requested", "running"),
            holder=holder,
            sleep=sleep,
        )

    # A daemon leads (its lease is current): the command does not act, the daemon does.
    now = clock.now()
    store.leases.try_acquire(LEASE_NAME, "daemon", now=now.timestamp(), duration=30, stamp=now)
    assert asyncio.run(go("cli:alice")) is None
    assert pve.calls == [] and state(store) == "requested"
    store.leases.release(LEASE_NAME, "daemon")

    asyncio.run(go("cli:alice"))
    assert state(store) == "done" and pve.calls == ["qmshutdown 105"]
    journal = store.journal.for_object(*KEY, limit=100)
    assert {e.holder.split(":")[:2] == ["cli", "alice"] for e in journal} == {True}
    store.close()


def test_a_shutdown_proxmox_refuses_outright_answers_the_request_at_once(tmp_path: Path) -> None:
    clock = FakeClock()
    store = prepared(tmp_path, clock)
    pve = FakePVE(
        refuse={105: ProxmoxError(403, "Permission check failed (/vms/105, VM.PowerMgmt)")}
    )
    request(store, clock, target=4)
    asyncio.run(until_answered(engine(store, clock, pve, AlwaysLeader()), store, clock, passes=5))
    answer = ESTATE_POWER_REQUEST.get(store, "power")
    assert answer is not None and answer["state"] == "failed"
    assert "VM scratch: Proxmox refused shutting VM 105 on pve1 down" in answer["message"]
    assert "VM.PowerMgmt" in answer["message"] and pve.calls == ["qmshutdown 105"]
    # A transient refusal (a lock) is the engine's to retry: the request stays open.
    pve = FakePVE(refuse={105: Locked(500, "VM is locked (backup)", lock="backup")})
    request(store, clock, target=4)
    run = engine(store, clock, pve, AlwaysLeader())
    for _ in range(3):
        outcome = asyncio.run(run.reconcile(KEY))
    assert outcome.result == "error" and state(store) == "running"
    store.close()
