"""The engine over a fake world: convergence, dependencies, prune order, errors, journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.clients.bundle import Clients
from homeport.clients.errors import (
    AuthFailed,
    CommandFailed,
    RateLimited,
    SSHAuthFailed,
    TailscaleError,
    TLSVerificationFailed,
    Unreachable,
)
from homeport.controller.client_errors import policy_for
from homeport.controller.clock import FakeClock
from homeport.controller.config import ControllerSettings
from homeport.controller.context import ControllerContext
from homeport.controller.engine import Engine
from homeport.controller.store import DesiredObject, Store
from homeport.source.validate import validate_sources
from tests.controller.fakes import (
    AlwaysLeader,
    FakeReconciler,
    FakeWorld,
    PermanentError,
    TemporaryError,
)

MACHINE = """apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m1}
spec: {node: pve1, capacity: {cores: 8, memoryMiB: 16384}}
"""
VM_DOC = """---
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {name: web}
spec: {machine: m1, memoryMiB: %d}
"""
APP_DOC = """---
apiVersion: homeport.dev/v1alpha1
kind: App
metadata: {name: shop}
spec: {vm: web, source: {repo: "https://g.example/x.git"}, execStart: /bin/x, port: 8080}
"""


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.store = Store.open(tmp_path / "state.db")
        self.world = FakeWorld()
        self.leader = AlwaysLeader()
        self.engine = Engine(
            store=self.store,
            reconcilers={k: FakeReconciler(k, self.world) for k in ("Machine", "VM", "App")},
            context=ControllerContext(store=self.store, clock=self.clock, clients=Clients()),
            clock=self.clock,
            settings=ControllerSettings(resync_interval=60, backoff_jitter=0.0),
            leadership=self.leader,
        )
        self.revision = 0

    def adopt(self, text: str) -> None:
        result = validate_sources([("estate.yaml", text.encode())])
        assert result.ok, [e.render() for e in result.errors]
        self.revision += 1
        desired = [DesiredObject(o.resource, o.file, o.line) for o in result.objects]
        created, changed, removed = self.store.objects.apply_revision(
            f"rev{self.revision}", desired, self.clock.now()
        )
        self.engine.enqueue(created | changed | removed)

    async def drain(self, limit: int = 50) -> list[str]:
        """Reconcile every ready key until the queue is idle (no clock movement)."""
        results = []
        for _ in range(limit):
            key = self.engine.queue.pop_ready()
            if key is None:
                return results
            outcome = await self.engine.reconcile(key)
            self.engine.queue.done(key)
            results.append(f"{key[0]}/{key[1]}:{outcome.result}")
        raise AssertionError("did not go idle")

    def ready(self, kind: str, name: str) -> bool:
        obj = self.store.objects.get((kind, name))
        return obj is not None and obj.ready


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


async def test_converges_in_dependency_order_then_does_nothing(h: Harness) -> None:
    h.adopt(MACHINE + VM_DOC % 2048 + APP_DOC)
    await h.drain()
    assert h.world.things == {
        ("Machine", "m1"): {"size": 8},
        ("VM", "web"): {"size": 2048},
        ("App", "shop"): {"size": 8080},
    }
    assert all(h.ready(*k) for k in h.world.things)
    assert h.world.mutations.index("create VM/web size=2048") < h.world.mutations.index(
        "create App/shop size=8080"
    )
    before = list(h.world.mutations)
    h.engine.enqueue_all()
    await h.drain()
    assert h.world.mutations == before  # converged: zero mutating calls


async def test_app_waits_for_its_vm(h: Harness) -> None:
    h.adopt(MACHINE + VM_DOC % 2048 + APP_DOC)
    await h.engine.reconcile(("App", "shop"))
    app = h.store.objects.get(("App", "shop"))
    assert app is not None
    assert app.status.conditions[0].reason == "DependencyNotReady"
    assert "VM/web" in app.status.conditions[0].message
    assert ("App", "shop") not in h.world.things


async def test_changed_spec_bumps_generation_and_converges(h: Harness) -> None:
    h.adopt(MACHINE + VM_DOC % 2048)
    await h.drain()
    h.adopt(MACHINE + VM_DOC % 4096)
    vm = h.store.objects.get(("VM", "web"))
    assert vm is not None
    assert vm.generation == 2
    await h.drain()
    assert h.world.things[("VM", "web")] == {"size": 4096}
    vm = h.store.objects.get(("VM", "web"))
    assert vm is not None
    assert vm.status.observed_generation == 2
    assert vm.status.last_applied_revision == "rev2"


async def test_prune_runs_in_reverse_dependency_order(h: Harness) -> None:
    h.adopt(MACHINE + VM_DOC % 2048 + APP_DOC)
    await h.drain()
    h.adopt(MACHINE)
    order = await h.drain()
    assert h.world.mutations[-2:] == ["remove App/shop", "remove VM/web"]
    assert "VM/web:waiting" in order or order.index("App/shop:pruned") < order.index(
        "VM/web:pruned"
    )
    assert h.store.objects.get(("VM", "web")) is None
    assert h.store.objects.get(("App", "shop")) is None


async def test_unowned_things_are_never_removed(h: Harness) -> None:
    h.adopt(MACHINE + VM_DOC % 2048)
    await h.drain()
    h.world.owned_by_someone_else.add(("VM", "web"))
    h.adopt(MACHINE)
    await h.drain()
    assert ("VM", "web") in h.world.things
    assert h.store.objects.get(("VM", "web")) is None


async def test_prune_disabled_annotation_keeps_the_thing(h: Harness) -> None:
    doc = VM_DOC.replace(
        "metadata: {name: web}",
        "metadata: {name: web, annotations: {homeport.dev/prune: disabled}}",
    )
    h.adopt(MACHINE + doc % 2048)
    await h.drain()
    h.adopt(MACHINE)
    await h.drain()
    assert ("VM", "web") in h.world.things


async def test_temporary_errors_back_off_exactly(h: Harness) -> None:
    h.adopt(MACHINE)
    h.world.fail_next = [TemporaryError("api down"), TemporaryError("api down")]
    assert h.engine.queue.pop_ready() == ("Machine", "m1")
    first = await h.engine.reconcile(("Machine", "m1"))
    h.engine.queue.done(("Machine", "m1"))
    assert (first.result, first.requeue_after) == ("error", 1.0)
    h.clock.advance(0.999)
    assert h.engine.queue.pop_ready() is None
    h.clock.advance(0.001)
    assert h.engine.queue.pop_ready() == ("Machine", "m1")
    second = await h.engine.reconcile(("Machine", "m1"))
    h.engine.queue.done(("Machine", "m1"))
    assert second.requeue_after == 2.0
    h.clock.advance(2.0)
    await h.drain()
    assert h.ready("Machine", "m1")
    assert h.engine.queue.backoff.failures_of(("Machine", "m1")) == 0


async def test_permanent_error_stalls_without_retry(h: Harness) -> None:
    h.adopt(MACHINE)
    h.world.fail_next = [
        PermanentError("node does not exist", reason="NodeMissing", fix="fix spec.node")
    ]
    outcome = await h.engine.reconcile(("Machine", "m1"))
    assert outcome.result == "stalled"
    obj = h.store.objects.get(("Machine", "m1"))
    assert obj is not None
    assert obj.condition("Stalled") == "True"
    assert h.engine.queue.due_at(("Machine", "m1")) is None


async def test_unexpected_exception_is_contained(h: Harness) -> None:
    h.adopt(MACHINE)
    h.world.fail_next = [ZeroDivisionError("bug")]
    outcome = await h.engine.reconcile(("Machine", "m1"))
    assert outcome.result == "error"
    events = h.store.events.for_object("Machine", "m1")
    assert events[-1].type == "Warning"
    assert "ZeroDivisionError" in events[-1].message


async def test_every_mutation_is_journaled_with_the_fencing_token(h: Harness) -> None:
    h.adopt(MACHINE + VM_DOC % 2048)
    await h.drain()
    entries = h.store.journal.entries()
    assert [e.description for e in entries] == [
        "create Machine/m1 size=8",
        "create VM/web size=2048",
    ]
    assert {e.state for e in entries} == {"done"}
    assert {e.fencing_token for e in entries} == {7}


async def test_no_action_without_leadership(h: Harness) -> None:
    h.adopt(MACHINE)
    h.leader.leading = False
    outcome = await h.engine.reconcile(("Machine", "m1"))
    assert outcome.result == "error"
    assert h.world.mutations == []


async def test_suspended_objects_are_left_alone(h: Harness) -> None:
    h.adopt(MACHINE.replace("spec: {node: pve1,", "spec: {suspend: true, node: pve1,"))
    outcome = await h.engine.reconcile(("Machine", "m1"))
    assert outcome.result == "suspended"
    assert h.world.mutations == []


async def test_a_pruned_object_takes_its_memory_slots_with_it(h: Harness) -> None:
    h.adopt(MACHINE + VM_DOC % 2048)
    await h.drain()
    now = h.clock.now().isoformat()
    h.store.memory.set("VM.removal", "web", {"since": now}, now=now)
    h.store.memory.set("VM.destroy-approval", "web", {"since": now}, now=now)
    h.store.memory.set("VM.destroy-approval", "other", {"since": now}, now=now)
    h.adopt(MACHINE)
    await h.drain()
    assert h.store.objects.get(("VM", "web")) is None
    # A consumed approval cannot outlive the VM and approve a later VM of the same name.
    assert h.store.memory.names() == {("VM.destroy-approval", "other")}


async def test_a_removed_object_reads_its_last_manifest(h: Harness) -> None:
    h.adopt(MACHINE + VM_DOC % 4096)
    h.adopt(MACHINE)
    ctx = h.engine.context.for_object(("VM", "web"))
    manifest = ctx.last_manifest()
    assert manifest is not None and manifest.spec.memory_mib == 4096  # type: ignore[attr-defined]
    h.store.db.execute(  # stored by an older homeport, no longer valid
        "UPDATE objects SET manifest = ? WHERE kind = 'VM' AND name = 'web'",
        ['{"kind": "VM", "spec": {"deletionPolicy": "Maybe"}}'],
    )
    assert ctx.last_manifest() is None


async def test_a_refused_token_stalls_with_the_fix_and_no_traceback(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h.adopt(MACHINE)
    h.world.fail_next = [AuthFailed(401, "authentication failure", operation="GET /nodes")]
    outcome = await h.engine.reconcile(("Machine", "m1"))
    assert (outcome.result, outcome.reason) == ("stalled", "ProxmoxAuthFailed")
    obj = h.store.objects.get(("Machine", "m1"))
    assert obj is not None and obj.condition("Stalled") == "True"
    stalled = next(c for c in obj.status.conditions if c.type == "Stalled")
    assert "check `[proxmox] token_file`" in stalled.message
    assert "homeport reconcile" in stalled.message
    assert h.engine.queue.due_at(("Machine", "m1")) is None  # no retry until told
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize(
    ("error", "reason", "fix"),
    [
        (
            TLSVerificationFailed(0, "certificate verify failed"),
            "ProxmoxTLSVerificationFailed",
            "ca_file",
        ),
        (AuthFailed(403, "Permission check failed"), "ProxmoxAuthFailed", "privilege"),
        (
            SSHAuthFailed("10.0.0.5", "homeport's key was refused"),
            "SSHAuthFailed",
            "[ssh] key_file",
        ),
        (TailscaleError(401, "invalid API key"), "TailscaleError", "[tailscale] token_file"),
    ],
)
async def test_permanent_client_errors_stall_with_their_fix(
    h: Harness, error: Exception, reason: str, fix: str
) -> None:
    h.adopt(MACHINE)
    h.world.fail_next = [error]
    outcome = await h.engine.reconcile(("Machine", "m1"))
    assert (outcome.result, outcome.reason) == ("stalled", reason)
    assert fix in outcome.message


async def test_a_stalled_object_resumes_on_a_new_generation(h: Harness) -> None:
    h.adopt(MACHINE)
    h.world.fail_next = [AuthFailed(401, "authentication failure")]
    await h.drain()
    assert not h.ready("Machine", "m1")
    h.adopt(MACHINE.replace("cores: 8", "cores: 16"))
    await h.drain()
    assert h.ready("Machine", "m1")
    obj = h.store.objects.get(("Machine", "m1"))
    assert obj is not None and obj.condition("Stalled") is None


async def test_a_transient_client_error_backs_off_with_a_warning_not_a_traceback(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h.adopt(MACHINE)
    h.world.fail_next = [Unreachable(0, "connection refused"), CommandFailed("vm", ["x"], 1, "")]
    first = await h.engine.reconcile(("Machine", "m1"))
    h.engine.queue.done(("Machine", "m1"))
    assert (first.result, first.reason, first.requeue_after) == ("error", "Unreachable", 1.0)
    h.clock.advance(1.0)
    assert h.engine.queue.pop_ready() == ("Machine", "m1")
    second = await h.engine.reconcile(("Machine", "m1"))
    h.engine.queue.done(("Machine", "m1"))
    assert (second.result, second.requeue_after) == ("error", 2.0)
    assert not [r for r in caplog.records if r.exc_info]
    assert [r.levelname for r in caplog.records if "Unreachable" in r.getMessage()] == ["WARNING"]
    h.clock.advance(2.0)
    await h.drain()
    assert h.ready("Machine", "m1")


async def test_a_rate_limit_waits_as_long_as_the_server_asks(h: Harness) -> None:
    h.adopt(MACHINE)
    h.world.fail_next = [RateLimited(7.0)]
    outcome = await h.engine.reconcile(("Machine", "m1"))
    assert (outcome.result, outcome.requeue_after) == ("error", 7.0)


async def test_a_bug_is_logged_with_its_traceback(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h.adopt(MACHINE)
    h.world.fail_next = [ZeroDivisionError("bug")]
    await h.engine.reconcile(("Machine", "m1"))
    assert [r for r in caplog.records if r.exc_info]


def test_the_policy_reads_the_clients_transient_verdict() -> None:
    assert not policy_for(Unreachable(0, "refused")).permanent
    assert policy_for(RateLimited(3.0)).delay == 3.0
    assert policy_for(AuthFailed(401, "no")).permanent
    assert not policy_for(CommandFailed("vm", ["x"], 1, "")).permanent

    class FlakyAuth(AuthFailed):
        transient = True  # a client that knows better: retried, never stalled

    assert not policy_for(FlakyAuth(401, "try later")).permanent


async def test_losing_ready_is_an_event_once(h: Harness) -> None:
    """A Ready object that waits again (e.g. a pair's probe failing below the threshold)
    says why, once; the events never read "Ready: converged" twice in a row."""
    h.adopt(MACHINE)
    await h.drain()
    h.world.waiting[("Machine", "m1")] = "primary failing its probe (1/3): timed out"
    await h.engine.reconcile(("Machine", "m1"))
    await h.engine.reconcile(("Machine", "m1"))  # still waiting: nothing new to say
    del h.world.waiting[("Machine", "m1")]
    await h.engine.reconcile(("Machine", "m1"))
    said = [
        (e.reason, e.message)
        for e in h.store.events.recent(100)
        if (e.kind, e.name) == ("Machine", "m1") and e.reason in ("Ready", "Detecting")
    ]
    assert said == [
        ("Ready", "converged"),
        ("Detecting", "primary failing its probe (1/3): timed out"),
        ("Ready", "converged"),
    ]
    assert h.ready("Machine", "m1")
