"""The power holds as a document: what an estate shutdown holds, and what a start lets go.
Pure (the ``Estate/power`` reconciler writes the result into its memory, ``ESTATE_HOLD``;
``reconcilers/powerhold.py`` reads it for the engine and the StandbyPair)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from homeport.reconcilers.slots import EstateHold


def held_keys(document: EstateHold) -> dict[str, str]:
    return dict(document.get("held") or {})


def with_held(document: EstateHold, keys: Iterable[str], why: str) -> EstateHold:
    """``keys`` held for ``why``; a key held already keeps its first reason (a resumed
    shutdown does not move the hold its pair answered)."""
    held = held_keys(document)
    for key in keys:
        held.setdefault(key, why)
    return {**document, "held": held}


def with_released(document: EstateHold, keys: Iterable[str], at: datetime) -> EstateHold:
    held = held_keys(document)
    released = dict(document.get("released") or {})
    for key in keys:
        if key in held:
            del held[key]
            released[key] = at.isoformat()
    return {**document, "held": held, "released": released}
