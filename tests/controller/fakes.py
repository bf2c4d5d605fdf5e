"""A tiny fake world and fake reconcilers, to test the engine without sockets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from homeport.kinds import VM, App, Machine, Resource
from homeport.reconcilers.base import Action, Plan, ReconcileContext, Reconciler
from homeport.reconcilers.errors import PermanentError, TemporaryError


@dataclass
class FakeWorld:
    things: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    owned_by_someone_else: set[tuple[str, str]] = field(default_factory=set)
    mutations: list[str] = field(default_factory=list)
    fail_next: list[Exception] = field(default_factory=list)
    waiting: dict[tuple[str, str], str] = field(default_factory=dict)
    """Things that exist as declared but wait (a pair's probe failing below threshold)."""


@dataclass(frozen=True)
class Create(Action):
    kind: str
    name: str
    size: int
    verb = "create"

    def describe(self) -> str:
        return f"create {self.kind}/{self.name} size={self.size}"


@dataclass(frozen=True)
class Resize(Action):
    kind: str
    name: str
    size: int
    verb = "resize"

    def describe(self) -> str:
        return f"resize {self.kind}/{self.name} to {self.size}"


@dataclass(frozen=True)
class Remove(Action):
    kind: str
    name: str
    verb = "remove"

    def describe(self) -> str:
        return f"remove {self.kind}/{self.name}"


def _size(resource: Resource) -> int:
    if isinstance(resource, VM):
        return resource.spec.memory_mib
    if isinstance(resource, App):
        return resource.spec.port
    if isinstance(resource, Machine):
        return resource.spec.capacity.cores
    return 0


class FakeReconciler(Reconciler[Resource, dict[str, Any] | None]):
    def __init__(self, kind: str, world: FakeWorld) -> None:
        self.kind = kind  # type: ignore[misc]
        self.world = world

    async def observe(
        self, desired: Resource | None, name: str, ctx: ReconcileContext
    ) -> dict[str, Any] | None:
        if self.world.fail_next:
            raise self.world.fail_next.pop(0)
        thing = self.world.things.get((self.kind, name))
        return None if thing is None else {**thing, "name": name}

    def plan(
        self, desired: Resource | None, observed: dict[str, Any] | None, *, now: datetime
    ) -> Plan:
        if desired is None:
            if observed is None:
                return Plan(reason="nothing left", gone=True)
            if (self.kind, observed["name"]) in self.world.owned_by_someone_else:
                return Plan(reason="not owned by homeport; left in place", gone=True)
            return Plan(actions=(Remove(self.kind, observed["name"]),), gone=True)
        size = _size(desired)
        if observed is None:
            return Plan(actions=(Create(self.kind, desired.name, size),))
        if observed["size"] != size:
            return Plan(actions=(Resize(self.kind, desired.name, size),))
        why = self.world.waiting.get((self.kind, desired.name))
        if why is not None:
            return Plan(waiting=why, state_reason="Detecting", requeue_after=1)
        return Plan(reason="matches", ready=True, details={"size": size})

    async def act(self, action: Action, ctx: ReconcileContext) -> None:
        self.world.mutations.append(action.describe())
        if isinstance(action, Create | Resize):
            self.world.things[(action.kind, action.name)] = {"size": action.size}
        elif isinstance(action, Remove):
            del self.world.things[(action.kind, action.name)]


class AlwaysLeader:
    holder = "test"

    def __init__(self) -> None:
        self.leading = True

    def is_leader(self) -> bool:
        return self.leading

    async def confirm(self) -> bool:
        return self.leading

    def token(self) -> int:
        return 7

    async def run(self, stop: Any) -> None:
        return None

    async def wait_until_leader(self, stop: Any) -> bool:
        return True


__all__ = ["AlwaysLeader", "FakeReconciler", "FakeWorld", "PermanentError", "TemporaryError"]
