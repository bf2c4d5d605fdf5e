"""The steps of an estate power operation, as the pure plan emits them and ``act.py``
performs them (each journaled by the engine under the leader's fencing token)."""

from __future__ import annotations

from dataclasses import dataclass

from homeport.reconcilers.base import Action


@dataclass(frozen=True)
class BeginPower(Action):
    """Take up the request: ``requested`` → ``running``."""

    id: int
    op: str
    verb = "begin-power"
    reported = True

    def describe(self) -> str:
        return f"{self.op} #{self.id} started"


@dataclass(frozen=True)
class BeginLayer(Action):
    """Record the layer's start and hold what it stops (a shutdown: its VMs and Apps; its
    StandbyPairs once they answered with their final sync, ``HoldPairs``)."""

    id: int
    layer: int
    name: str
    members: tuple[str, ...]
    hold: tuple[str, ...] = ()
    why: str = ""
    wake: tuple[str, ...] = ()
    """``Kind/name`` to reconcile now: the pairs whose primary this hold stops."""
    verb = "begin-layer"
    reported = True

    def describe(self) -> str:
        return f"#{self.id} layer {self.layer} ({self.name}): {', '.join(self.members) or '-'}"


@dataclass(frozen=True)
class HoldPairs(Action):
    """Hold the layer's StandbyPairs (none fails over while its VMs are down)."""

    id: int
    layer: int
    pairs: tuple[str, ...]
    why: str
    unanswered: tuple[str, ...] = ()
    """Pairs that did not answer with their final sync in time (warned about)."""
    verb = "hold-pairs"
    reported = True

    def describe(self) -> str:
        late = f" ({', '.join(self.unanswered)} did not sync in time)" if self.unanswered else ""
        return f"#{self.id} layer {self.layer}: hold StandbyPair {', '.join(self.pairs)}{late}"


@dataclass(frozen=True)
class StopVM(Action):
    """Shut a VM down gracefully (ACPI), stopped hard after ``timeout`` seconds."""

    id: int
    layer: int
    vm: str
    vmid: int
    node: str
    timeout: int
    verb = "estate-stop"
    reported = True

    def describe(self) -> str:
        return f"VM {self.vmid}: shut down for `homeport estate shutdown` #{self.id}"


@dataclass(frozen=True)
class StartVM(Action):
    id: int
    layer: int
    vm: str
    vmid: int
    node: str
    verb = "estate-start"
    reported = True

    def describe(self) -> str:
        return f"VM {self.vmid}: start for `homeport estate start` #{self.id}"


@dataclass(frozen=True)
class FollowTask(Action):
    """A shutdown or start of the VM found running that the request does not record (the
    last pass died between issuing it and recording it): follow it, issue none."""

    layer: int
    vm: str
    upid: str
    verb = "follow-task"
    mutating = False

    def describe(self) -> str:
        return f"VM {self.vm}: following its running task {self.upid}"


@dataclass(frozen=True)
class FinishLayer(Action):
    """Record the layer done (with its VMs' states); a start releases what it held."""

    id: int
    layer: int
    name: str
    vms: tuple[tuple[str, str], ...]
    release: tuple[str, ...] = ()
    verb = "finish-layer"
    reported = True

    def describe(self) -> str:
        return f"#{self.id} layer {self.layer} ({self.name}) done"


@dataclass(frozen=True)
class FinishPower(Action):
    """Answer the request: done, or failed with the reason (the CLI prints it)."""

    id: int
    op: str
    ok: bool
    message: str
    release: tuple[str, ...] = ()
    """A finished start releases whatever is still held."""
    verb = "finish-power"
    reported = True

    def describe(self) -> str:
        return f"{self.op} #{self.id}: {self.message}"
