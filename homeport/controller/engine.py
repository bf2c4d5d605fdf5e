"""The reconcile loop: workers take keys from the queue and converge one object each.

For a key: skip if suspended or held by an estate shutdown; wait for dependencies (or,
when pruning, for dependents to be gone); observe → plan (pure) → journal and act each
action → write status and conditions; requeue (after actions at once, when waiting after
``requeue_after``, otherwise after the resync period). Errors are handled here and only
here (see ``reconcilers/errors.py``; client errors by kind, ``client_errors.py``: a
permanent one stalls the object with its fix, a transient one backs off without a
traceback). Mutating actions run only while this daemon leads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeport.clients.errors import ClientError
from homeport.controller.client_errors import policy_for
from homeport.controller.clock import Clock
from homeport.controller.conditions import drop_condition, set_condition
from homeport.controller.config import ControllerSettings
from homeport.controller.context import ControllerContext
from homeport.controller.coordination import Leadership
from homeport.controller.graph import (
    DependencyGraph,
    dependencies_of,
    startup_order,
    unready_dependencies,
)
from homeport.controller.hooks import QUIET, LoopHooks
from homeport.controller.logs import log_event, object_fields
from homeport.controller.queue import QueueShutDown, WorkQueue
from homeport.controller.store import Fingerprint, Key, Store, StoredObject
from homeport.kinds import ObjectStatus
from homeport.kinds.common import PRUNE_ANNOTATION
from homeport.reconcilers.base import Plan, Reconciler
from homeport.reconcilers.errors import PermanentError, TemporaryError
from homeport.reconcilers.powerhold import held
from homeport.reconcilers.slots import ESTATE_HOLD, SUSPEND

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What one reconcile did, for metrics, tests and logs."""

    key: Key
    # converged | progressing | waiting | suspended | held | stalled | error | pruned | gone
    result: str
    actions: tuple[str, ...] = ()
    requeue_after: float | None = None
    message: str = ""
    reason: str = ""  # why it failed (error, stalled): a type or reason, never a message


def standalone_object(key: Key) -> StoredObject:
    """The row a standalone object would have (``Reconciler.standalone``): no manifest, no
    revision, and always its first generation (nothing ever changes it)."""
    empty = ObjectStatus()
    return StoredObject(key[0], key[1], {}, 1, "", "", 0, False, empty, "", "")


class NotLeader(TemporaryError):
    """This daemon lost leadership between planning and acting."""


Observer = Callable[[Outcome, float], None]


class Engine:
    def __init__(
        self,
        *,
        store: Store,
        reconcilers: Mapping[str, Reconciler[Any, Any]],
        context: ControllerContext,
        clock: Clock,
        settings: ControllerSettings,
        leadership: Leadership,
        queue: WorkQueue[Key] | None = None,
        observers: list[Observer] | None = None,
        telemetry: LoopHooks | None = None,
    ) -> None:
        self.store = store
        self.reconcilers = reconcilers
        self.context = context
        self.clock = clock
        self.settings = settings
        self.leadership = leadership
        self.queue: WorkQueue[Key] = queue or WorkQueue(clock)
        self.observers = observers or []
        self.telemetry = telemetry or QUIET
        self._graph_cache: tuple[Fingerprint, DependencyGraph] | None = None
        self._graph_version: tuple[int, int] | None = None
        """``ObjectStore.version`` when the graph was last known current: while it stays,
        not even the fingerprint (every row) is read again."""
        self._edges: dict[Key, tuple[str, list[Key]]] = {}  # key → (spec_hash, its edges)
        context.waker = self.queue.add
        context.serve(reconcilers)  # each kind gets its declared clients, or we stop here
        self.queue.backoff.base = settings.backoff_base
        self.queue.backoff.cap = settings.backoff_max
        self.queue.backoff.jitter = settings.backoff_jitter

    # -- feeding the queue ---------------------------------------------------------
    def enqueue(self, keys: set[Key] | list[Key]) -> None:
        graph = self._graph()
        wanted = set(keys)
        for key in keys:  # a changed object may change what depends on it
            wanted |= graph.dependents(key)
        # Only the wanted objects are loaded: one changed object among 1000 is one push.
        objects = [o for o in map(self.store.objects.get, sorted(wanted)) if o is not None]
        for key in startup_order(objects):
            self.queue.add(key)

    def enqueue_all(self) -> None:
        for key in startup_order(self.store.objects.all()):
            self.queue.add(key)
        for key in self.standalone_keys():
            self.queue.add(key)

    def standalone_keys(self) -> list[Key]:
        """The objects without a manifest (``Reconciler.standalone``): ``Estate/power``."""
        return [(kind, name) for kind, r in self.reconcilers.items() for name in r.standalone]

    # -- running -------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Workers until ``stop``; then drain: running reconciles get ``drain_timeout``."""
        interrupted = self.store.journal.mark_interrupted(now=self.clock.now())
        for entry in interrupted:
            log.warning(
                "action interrupted by the last shutdown: %s %s",
                entry.kind,
                entry.description,
                extra=object_fields(entry.kind, entry.name, action=entry.verb),
            )
            self.queue.add((entry.kind, entry.name))
        self.enqueue_all()
        workers = [
            asyncio.create_task(self._worker(stop)) for _ in range(self.settings.concurrency)
        ]
        await stop.wait()
        self.queue.shutdown()
        _, pending = await asyncio.wait(workers, timeout=self.settings.drain_timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _worker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                key = await self.queue.get()
            except QueueShutDown:
                return
            try:
                await self.leadership.wait_until_leader(stop)
                if stop.is_set():
                    return
                await self.reconcile(key)
            finally:
                self.queue.done(key)

    # -- one reconcile -------------------------------------------------------------
    async def reconcile(self, key: Key) -> Outcome:
        started = time.perf_counter()
        with self.telemetry.reconcile(key) as span:
            outcome = await self._reconcile(key)
            span.finish(outcome.result, outcome.reason)
        self._schedule(outcome)
        for observer in self.observers:
            observer(outcome, time.perf_counter() - started)
        return outcome

    def _schedule(self, outcome: Outcome) -> None:
        if outcome.result == "error":
            return  # already requeued with backoff
        if outcome.result in ("pruned", "gone", "stalled", "suspended"):
            self.queue.forget(outcome.key)
            return
        self.queue.forget(outcome.key)
        if outcome.requeue_after is not None:
            self.queue.add_after(outcome.key, outcome.requeue_after)

    async def _reconcile(self, key: Key) -> Outcome:
        obj = self.store.objects.get(key)
        if obj is None and key in self.standalone_keys():
            standalone = standalone_object(key)
            self.telemetry.note_generation(standalone.generation)
            return await self._reconcile_standalone(standalone)
        if obj is None:
            return Outcome(key, "gone")
        self.telemetry.note_generation(obj.generation)
        reconciler = self.reconcilers.get(key[0])
        if reconciler is None:
            return self._waiting(obj, "NoReconciler", f"no reconciler for kind {key[0]}", None)
        resource = None if obj.deleting else obj.resource()
        if resource is not None and resource.suspended:
            return self._suspended(obj, "spec.suspend is true")
        by_cli = None if resource is None else self._suspended_by_cli(key)
        if by_cli:
            return self._suspended(
                obj,
                f"suspended by `homeport suspend` at {by_cli}; "
                f"`homeport resume {key[0].lower()} {key[1]}` resumes it",
            )
        hold = None if obj.deleting else held(ESTATE_HOLD.get(self.store) or {}, *key)
        if hold is not None:
            return self._held(obj, hold)
        if obj.deleting:
            if (
                obj.manifest.get("metadata", {}).get("annotations", {}).get(PRUNE_ANNOTATION)
                == "disabled"
            ):
                return self._forget(
                    obj, "PruneDisabled", "removed from git; left in place (prune disabled)"
                )
            blocking = self._graph().blocking_deletion(key)
            if blocking:
                names = ", ".join(f"{k}/{n}" for k, n in blocking)
                return self._waiting(
                    obj, "DependentsExist", f"waiting for {names} to be pruned first", None
                )
        else:
            unready = self._gating(
                reconciler, resource, unready_dependencies(obj, self.store.objects.get)
            )
            if unready:
                names = ", ".join(f"{k}/{n}" for k, n in unready)
                return self._waiting(
                    obj, "DependencyNotReady", f"waiting for {names} to be Ready", None
                )
        ctx = self.context.for_object(key)
        try:
            with self.telemetry.observe(key):
                observed = await reconciler.observe(resource, key[1], ctx)
            plan = reconciler.plan(resource, observed, now=self.clock.now())
            if plan.actions:
                return await self._act(obj, reconciler, plan)
            return self._settled(obj, plan)
        except PermanentError as exc:
            return self._stalled(obj, exc)
        except TemporaryError as exc:
            return self._retry(obj, exc.reason, str(exc), exc.delay)
        except ClientError as exc:  # the world refused: by kind, never a traceback
            return self._client_error(obj, exc)
        except Exception as exc:  # a reconciler bug must not stop the estate
            log.exception("reconcile of %s/%s failed", *key, extra=object_fields(*key))
            return self._retry(obj, "ReconcileError", f"{type(exc).__name__}: {exc}", None)

    async def _reconcile_standalone(self, obj: StoredObject) -> Outcome:
        """An object without a manifest: observe → plan → act, under the same leadership,
        journal and error policy; it has no status row (its memory is its record)."""
        reconciler = self.reconcilers[obj.kind]
        ctx = self.context.for_object(obj.key)
        try:
            observed = await reconciler.observe(None, obj.name, ctx)
            plan = reconciler.plan(None, observed, now=self.clock.now())
            if plan.actions:
                return await self._act(obj, reconciler, plan)
            after = plan.requeue_after
            result = "converged" if plan.ready else "waiting"
            return Outcome(
                obj.key, result, requeue_after=after, message=plan.waiting or plan.reason
            )
        except PermanentError as exc:
            return self._stalled(obj, exc)
        except TemporaryError as exc:
            return self._retry(obj, exc.reason, str(exc), exc.delay)
        except ClientError as exc:
            return self._client_error(obj, exc)
        except Exception as exc:  # a reconciler bug must not stop the estate
            log.exception("reconcile of %s/%s failed", *obj.key, extra=object_fields(*obj.key))
            return self._retry(obj, "ReconcileError", f"{type(exc).__name__}: {exc}", None)

    def _suspended_by_cli(self, key: Key) -> str | None:
        """When ``homeport suspend`` paused the object (None: it did not)."""
        request = SUSPEND.get(self.store, *key)
        return str(request.get("at") or "an unknown time") if request else None

    @staticmethod
    def _gating(reconciler: Reconciler[Any, Any], resource: Any, unready: list[Key]) -> list[Key]:
        gated_by = reconciler.gated_by
        if gated_by is None:
            return unready
        explicit = {(r.kind, r.name) for r in getattr(resource.spec, "depends_on", [])}
        return [k for k in unready if k[0] in gated_by or k in explicit]

    async def _act(
        self, obj: StoredObject, reconciler: Reconciler[Any, Any], plan: Plan
    ) -> Outcome:
        ctx = self.context.for_object(obj.key)
        done: list[str] = []
        for action in plan.actions:
            if action.mutating and not await self.leadership.confirm():
                raise NotLeader(
                    "not the leader any more (the lease expired or another daemon holds it);"
                    " the leader acts",
                    delay=1.0,
                )
            entry = None
            if action.mutating:
                entry = self.store.journal.intent(
                    kind=obj.kind,
                    name=obj.name,
                    generation=obj.generation,
                    verb=action.verb,
                    idempotency_key=action.idempotency_key(obj.kind, obj.name, obj.generation),
                    description=action.describe(),
                    fencing_token=self.leadership.token(),
                    holder=self.leadership.holder,
                    now=self.clock.now(),
                )
            try:
                with self.telemetry.act(obj.key, action):
                    await reconciler.act(action, ctx)
            except BaseException as exc:
                if entry is not None:
                    self.store.journal.finish(
                        entry, now=self.clock.now(), error=f"{type(exc).__name__}: {exc}"
                    )
                raise
            if entry is not None:
                self.store.journal.finish(entry, now=self.clock.now())
            if not action.reported:
                ctx.event(action.verb, action.describe())
            done.append(action.describe())
        self._write_status(
            obj,
            ready=("False", "Progressing", f"applied {len(done)} change(s)"),
            reconciling=("True", "Progressing", done[-1]),
            plan=plan,
        )
        # Look again at once: the next pass observes the result (and forgets a finished prune).
        return Outcome(obj.key, "progressing", tuple(done), 0.0)

    # -- status --------------------------------------------------------------------
    def _write_status(
        self,
        obj: StoredObject,
        *,
        ready: tuple[str, str, str] | None,
        reconciling: tuple[str, str, str] | None,
        plan: Plan | None = None,
        stalled: tuple[str, str, str] | None = None,
        applied: bool = False,
    ) -> bool:
        """Write conditions; return True when Ready turned True."""
        if obj.key in self.standalone_keys():
            return False  # no manifest, no status row: its memory is its record
        now = self.clock.now()
        status = obj.status
        conditions = list(status.conditions)
        was_ready = obj.ready
        if ready is not None:
            conditions = set_condition(conditions, "Ready", *ready, now)
        if reconciling is not None:
            conditions = set_condition(conditions, "Reconciling", *reconciling, now)
        conditions = (
            set_condition(conditions, "Stalled", *stalled, now)
            if stalled
            else drop_condition(conditions, "Stalled")
        )
        details = dict(status.details)
        if plan is not None:
            details.update(plan.details)
            for extra in plan.conditions:
                conditions = set_condition(
                    conditions, extra.type, extra.status, extra.reason, extra.message, now
                )
            present = {c.type for c in plan.conditions}
            if "Degraded" not in present:
                conditions = drop_condition(conditions, "Degraded")
        new = ObjectStatus.model_validate(
            {
                "observedGeneration": obj.generation,
                "lastAppliedRevision": obj.revision if applied else status.last_applied_revision,
                "conditions": [c.model_dump(by_alias=True) for c in conditions],
                "details": details,
            }
        )
        if new != status:
            self.store.objects.set_status(obj.key, new, now)
        became_ready = ready is not None and ready[0] == "True" and not was_ready
        if became_ready:
            self._event(obj, "Ready", "converged")
        return became_ready

    def _event(
        self, obj: StoredObject, reason: str, message: str, *, level: int = logging.INFO
    ) -> None:
        """An event in the store (``homeport events``) and the same line in the log."""
        log_event(log, obj.kind, obj.name, reason, message, level=level, revision=obj.revision[:12])
        self.store.events.emit(
            kind=obj.kind,
            name=obj.name,
            reason=reason,
            message=message,
            now=self.clock.now(),
            warning=level >= logging.WARNING,
        )

    def _graph(self) -> DependencyGraph:
        """Every object's edges, and which objects are stored: for a prune's dependents and
        a dependency turning Ready (one object's own references do not tell who depends on
        it). Built from the whole estate once per reconcile, it made a cold convergence
        quadratic; once per object turning Ready, it still did (every object turns Ready
        once: 1000 loads and parses of 1000 objects, most of a cold convergence's CPU);
        once per push, it was a tenth of a one-object push's latency in 1000 objects.

        So each object's edges are kept with the ``spec_hash`` they were drawn from (the
        edges come from the manifest's metadata and spec, which it covers, and every write
        of a manifest writes its ``spec_hash`` with it): a graph is rebuilt from every
        row's key and hash (``fingerprint``, no manifest parsed) when one differs, loading
        only the objects added or changed since."""
        version = self.store.objects.version()
        if self._graph_cache is not None and self._graph_version == version:
            return self._graph_cache[1]
        fingerprint = self.store.objects.fingerprint()
        if self._graph_cache is not None and self._graph_cache[0] == fingerprint:
            self._graph_version = version
            return self._graph_cache[1]
        edges: dict[Key, tuple[str, list[Key]]] = {}
        for kind, name, digest in fingerprint:
            known = self._edges.get((kind, name))
            if known is not None and known[0] == digest:
                edges[(kind, name)] = known
            elif (obj := self.store.objects.get((kind, name))) is not None:
                edges[(kind, name)] = (digest, dependencies_of(obj))
        self._edges = edges
        graph = DependencyGraph.of_edges({key: deps for key, (_, deps) in edges.items()})
        self._graph_cache = (fingerprint, graph)
        self._graph_version = version
        return graph

    def _settled(self, obj: StoredObject, plan: Plan) -> Outcome:
        if obj.deleting:
            if plan.gone:
                return self._forget(obj, "Pruned", plan.reason or "removed")
            reason = plan.state_reason or "Pruning"  # e.g. DestructionHeld
            return self._waiting(obj, reason, plan.waiting or plan.reason, plan.requeue_after, plan)
        if not plan.ready:
            reason = plan.state_reason or "Waiting"
            return self._waiting(obj, reason, plan.waiting or plan.reason, plan.requeue_after, plan)
        became_ready = self._write_status(
            obj,
            ready=("True", "Converged", plan.reason),
            reconciling=("False", "Converged", plan.reason),
            plan=plan,
            applied=True,
        )
        if became_ready:
            for dependent in self._graph().dependents(obj.key):
                self.queue.add(dependent)
        resync = (
            plan.requeue_after if plan.requeue_after is not None else self.settings.resync_interval
        )
        return Outcome(obj.key, "converged", requeue_after=resync, message=plan.reason)

    def _waiting(
        self,
        obj: StoredObject,
        reason: str,
        message: str,
        requeue_after: float | None,
        plan: Plan | None = None,
    ) -> Outcome:
        was_ready = obj.ready
        self._write_status(
            obj, ready=("False", reason, message), reconciling=("True", reason, message), plan=plan
        )
        if was_ready:
            # Losing Ready is news too (a probe failing below the threshold): said once, so
            # the events read Ready → why not → Ready, never "Ready" twice in a row.
            self._event(obj, reason, message)
        after = requeue_after if requeue_after is not None else self.settings.resync_interval
        return Outcome(obj.key, "waiting", requeue_after=after, message=message)

    def _suspended(self, obj: StoredObject, why: str) -> Outcome:
        self._write_status(obj, ready=None, reconciling=("False", "Suspended", why))
        return Outcome(obj.key, "suspended", message="suspended")

    def _held(self, obj: StoredObject, why: str) -> Outcome:
        """Stopped by a planned estate shutdown (``reconcilers/powerhold.py``): left alone and
        looked at again until ``homeport estate start`` releases it."""
        self._write_status(
            obj,
            ready=("False", "EstateShutdown", why),
            reconciling=("False", "EstateShutdown", why),
        )
        after = min(self.settings.resync_interval, 5.0)
        return Outcome(obj.key, "held", requeue_after=after, message=why)

    def _stalled(self, obj: StoredObject, exc: PermanentError) -> Outcome:
        message = f"{exc} ({exc.fix})" if exc.fix else str(exc)
        self._write_status(
            obj,
            ready=("False", exc.reason, message),
            reconciling=("False", exc.reason, message),
            stalled=("True", exc.reason, message),
        )
        self._event(obj, exc.reason, message, level=logging.ERROR)
        return Outcome(obj.key, "stalled", message=message, reason=exc.reason)

    def _client_error(self, obj: StoredObject, exc: ClientError) -> Outcome:
        """Stalled with the fix when only the operator can help, else a backoff (no traceback)."""
        policy = policy_for(exc)
        message = f"{type(exc).__name__}: {exc}"  # the error's kind names the system
        if policy.permanent:
            return self._stalled(obj, PermanentError(message, reason=policy.reason, fix=policy.fix))
        return self._retry(obj, policy.reason, message, policy.delay)

    def _retry(self, obj: StoredObject, reason: str, message: str, delay: float | None) -> Outcome:
        self._write_status(
            obj, ready=("False", reason, message), reconciling=("True", reason, message)
        )
        self._event(obj, reason, message, level=logging.WARNING)
        if delay is not None:
            self.queue.add_after(obj.key, delay)
        else:
            delay = self.queue.add_rate_limited(obj.key)
        return Outcome(obj.key, "error", requeue_after=delay, message=message, reason=reason)

    def _forget(self, obj: StoredObject, reason: str, message: str) -> Outcome:
        self.store.objects.forget(obj.key)
        self.store.memory.forget_object(*obj.key)  # its slots too (a consumed approval)
        self._event(obj, reason, message)
        for dep in DependencyGraph([obj]).requires.get(obj.key, []):
            self.queue.add(dep)  # a dependency may be waiting for this prune
        return Outcome(obj.key, "pruned", message=message)
