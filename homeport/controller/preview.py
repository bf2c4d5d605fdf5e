"""``homeport plan``: what would change, per object, without changing anything.

Observes the world read-only and asks each reconciler's pure ``plan`` — the same plans
the daemon would act on. Desired state comes from the adopted revision, or from any
revision of the source (``--revision``), in which case objects absent from it show
their prune plan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from homeport.clients.bundle import Clients
from homeport.controller.clock import Clock
from homeport.controller.context import ControllerContext
from homeport.controller.graph import KIND_ORDER
from homeport.controller.store import Key, Store
from homeport.kinds import Resource
from homeport.reconcilers.base import Reconciler
from homeport.source.errors import ManifestError
from homeport.source.sources import Source
from homeport.source.validate import validate_sources

IN_PROGRESS = "in-progress"
"""Nothing to do but wait for work homeport started (a Proxmox task): not converged yet."""


@dataclass(frozen=True)
class ObjectPlan:
    kind: str
    name: str
    change: str  # create | update | prune | in-progress | none | error
    actions: list[str] = field(default_factory=list)
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "change": self.change,
            "actions": self.actions,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PlanReport:
    revision: str
    objects: list[ObjectPlan]
    errors: list[ManifestError] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.errors or any(o.change == "error" for o in self.objects):
            return 2
        pending = any(o.actions or o.change == IN_PROGRESS for o in self.objects)
        return 1 if pending else 0


def desired_at(source: Source, revision: str) -> tuple[dict[Key, Resource], list[ManifestError]]:
    result = validate_sources(source.files(revision))
    return {(o.kind, o.name): o.resource for o in result.objects}, result.errors


async def preview(
    *,
    store: Store,
    reconcilers: Mapping[str, Reconciler[Any, Any]],
    clients: Clients,
    clock: Clock,
    desired: dict[Key, Resource] | None = None,
    revision: str = "",
    progress: Callable[[str], None] | None = None,
) -> PlanReport:
    """``progress`` hears which object is being observed (each may wait on Proxmox, SSH or
    Caddy timeouts: ``homeport plan`` shows it)."""
    stored = {o.key: o for o in store.objects.all()}
    if desired is None:
        desired = {k: o.resource() for k, o in stored.items() if not o.deleting}
    context = ControllerContext(store=store, clock=clock, clients=clients, ttl=3600)
    context.serve(reconcilers)
    plans: list[ObjectPlan] = []
    for key in sorted(set(desired) | set(stored), key=lambda k: (KIND_ORDER.get(k[0], 9), k[1])):
        reconciler = reconcilers.get(key[0])
        if reconciler is None:
            continue
        resource = desired.get(key)
        if progress is not None:
            progress(f"observing {key[0]}/{key[1]}")
        try:
            observed = await reconciler.observe(resource, key[1], context.for_object(key))
            plan = reconciler.plan(resource, observed, now=clock.now())
        except Exception as exc:
            plans.append(ObjectPlan(key[0], key[1], "error", reason=f"{type(exc).__name__}: {exc}"))
            continue
        if not plan.actions:
            change = IN_PROGRESS if plan.in_progress else "none"
        elif resource is None:
            change = "prune"
        else:
            change = "create" if key not in stored else "update"
        plans.append(
            ObjectPlan(
                key[0],
                key[1],
                change,
                [a.describe() for a in plan.actions],
                plan.reason or (plan.waiting or ""),
            )
        )
    return PlanReport(revision=revision, objects=plans)
