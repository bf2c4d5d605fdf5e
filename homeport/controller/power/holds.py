"""Writing the power holds (``reconcilers/powerhold.py`` reads them): one document in the
store's durable memory, replaced whole on every change. Only a power operation writes it,
and only one runs at a time (the ``estate-power`` lease).
"""

from __future__ import annotations

from collections.abc import Iterable

from homeport.controller.clock import Clock
from homeport.controller.store import Store
from homeport.reconcilers.slots import ESTATE_HOLD, EstateHold


class PowerHolds:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def document(self) -> EstateHold:
        return ESTATE_HOLD.get(self.store) or {}

    def held(self) -> dict[str, str]:
        return dict(self.document().get("held") or {})

    def hold(self, keys: Iterable[str], why: str) -> None:
        document = self.document()
        held = dict(document.get("held") or {})
        for key in keys:
            held.setdefault(key, why)
        self._write({**document, "held": held})

    def release(self, keys: Iterable[str]) -> None:
        document = self.document()
        held = dict(document.get("held") or {})
        released = dict(document.get("released") or {})
        now = self.clock.now().isoformat()
        for key in keys:
            held.pop(key, None)
            released[key] = now
        self._write({**document, "held": held, "released": released})

    def _write(self, document: EstateHold) -> None:
        ESTATE_HOLD.set(self.store, document, now=self.clock.now().isoformat())
