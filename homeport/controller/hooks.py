"""What the engine reports while it works, and to whom it may report it.

The engine opens a reconcile around each key, an observe and an action inside it, and
notes the generation it planned from. ``LoopHooks`` is that seam, so the loop names no
side service: the daemon hands it ``homeport.services.telemetry.hooks.Telemetry`` (spans and
counters), and an engine given none reports to ``QUIET``, which records nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Protocol

from homeport.controller.store import Key
from homeport.reconcilers.base import Action


class ReconcileEnd(Protocol):
    def finish(self, result: str, reason: str) -> None:
        """How the reconcile ended: its outcome's result and, on failure, why."""


class LoopHooks(Protocol):
    def reconcile(self, key: Key) -> AbstractContextManager[ReconcileEnd]: ...

    def observe(self, key: Key) -> AbstractContextManager[None]: ...

    def act(self, key: Key, action: Action) -> AbstractContextManager[None]: ...

    def note_generation(self, generation: int) -> None: ...


class _Unrecorded:
    def finish(self, result: str, reason: str) -> None:
        pass


class Quiet:
    """Hooks that record nothing: an engine run without telemetry (tests, ``oneshot``)."""

    @contextmanager
    def reconcile(self, key: Key) -> Iterator[ReconcileEnd]:
        yield _Unrecorded()

    def observe(self, key: Key) -> AbstractContextManager[None]:
        return nullcontext()

    def act(self, key: Key, action: Action) -> AbstractContextManager[None]:
        return nullcontext()

    def note_generation(self, generation: int) -> None:
        pass


QUIET: LoopHooks = Quiet()
